"""Figures for the reliability run: every test records what it measured against its target.

Tests take the `figures` fixture and call `figures.record(...)`. At the end of the session the figures are
merged into `.cooldown-cache/reliability-figures.json` (ignored by git; `docs/reliability-figures.json`
is the committed snapshot), keyed by test id and name so a partial run updates only what it measured,
and printed in pytest's terminal summary, whatever the capture mode. Lines that other
reliability tests print (the storage kill loop `E1 ...`, `E3 ...`, `A3 ...`) are picked out of their
captured output and shown in the same summary.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

_DEFAULT_FIGURES = Path(__file__).resolve().parents[2] / ".cooldown-cache" / "reliability-figures.json"
FIGURES_FILE = Path(os.environ.get("COOLDOWN_FIGURES_FILE") or _DEFAULT_FIGURES)
"""Where a run writes its figures: an ignored path, so `make test` leaves the checkout clean. The committed
snapshot is docs/reliability-figures.json (copy a run's file there when you update docs/reliability.md)."""
_PRINTED_FIGURE = re.compile(r"^(?:[A-F]\d+\b|kill -9:).*$", re.MULTILINE)


@dataclass
class Figure:
    """One measured figure against its RELIABILITY.md target."""

    test_id: str
    name: str
    value: str
    target: str
    met: bool
    note: str = ""


@dataclass
class FigureBook:
    """The figures recorded in this session."""

    figures: list[Figure] = field(default_factory=list)

    def record(self, test_id: str, name: str, value: object, target: str, met: bool, note: str = "") -> None:
        """Record one figure (also printed at once, for `-s` runs)."""
        fig = Figure(test_id, name, str(value), target, bool(met), note)
        self.figures.append(fig)
        print(f"\n{_line(fig)}")


_BOOK = pytest.StashKey[FigureBook]()


def _line(fig: Figure) -> str:
    mark = "met" if fig.met else "NOT MET"
    note = f"  ({fig.note})" if fig.note else ""
    return f"{fig.test_id:<4} {fig.name}: {fig.value}  [target {fig.target}: {mark}]{note}"


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_BOOK] = FigureBook()


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> FigureBook:
    """The session's figure book."""
    return request.config.stash[_BOOK]


def pytest_sessionfinish(session: pytest.Session) -> None:
    book = session.config.stash.get(_BOOK, None)
    if book is None or not book.figures:
        return
    try:
        old = json.loads(FIGURES_FILE.read_text(encoding="utf-8"))["figures"]
    except (OSError, ValueError, KeyError, TypeError):
        old = []
    merged = {(f["test_id"], f["name"]): f for f in old if isinstance(f, dict) and "test_id" in f}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for fig in book.figures:
        merged[(fig.test_id, fig.name)] = {**asdict(fig), "measured_at": stamp}
    rows = sorted(merged.values(), key=lambda f: (f["test_id"], f["name"]))
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = FIGURES_FILE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"figures": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(FIGURES_FILE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    book = terminalreporter.config.stash.get(_BOOK, None)
    printed: list[str] = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        if getattr(report, "when", "") != "call" or "reliability" not in getattr(report, "keywords", {}):
            continue
        if "tests/reliability/" in report.nodeid:
            continue
        printed += [m.group(0).strip() for m in _PRINTED_FIGURE.finditer(report.capstdout or "")]
    if (book is None or not book.figures) and not printed:
        return
    terminalreporter.section("reliability figures (RELIABILITY.md §8)")
    for fig in sorted(book.figures if book else [], key=lambda f: f.test_id):
        terminalreporter.write_line(_line(fig))
    for line in printed:
        terminalreporter.write_line(f"(printed) {line}")
    if book and book.figures:
        missed = sum(not f.met for f in book.figures)
        terminalreporter.write_line(f"{len(book.figures)} figures, {missed} not met; written to {FIGURES_FILE}")
