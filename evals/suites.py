"""Resolve suite specs given on the command line into loaded suites.

A spec is one of:

- a path to a `.jsonl` / `.yaml` suite file, e.g. `evals/suites/gold_listening.jsonl`;
- a bare name of a suite shipped in `evals/suites/`, e.g. `gold_listening`;
- `NAME:PATH` for an external dataset, e.g. `esconv:/data/esconv/esconv_test.jsonl`
  (names: `evals.external.ADAPTERS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evals.cases import EvalCase, SuiteError, load_suite_file
from evals.external import ADAPTERS, load_external
from evals.thresholds import SIDECAR_SUFFIX, Threshold, suite_thresholds
from simulator.resources import package_path

SUITES_DIR = package_path("evals", "suites")
SplitFilter = Literal["train", "test", "all"]


@dataclass
class Suite:
    """A loaded suite, ready to run."""

    name: str
    spec: str
    kind: Literal["gold", "external"]
    cases: list[EvalCase]
    note: str = ""
    """For external suites: the mapping and why it is a proxy (shown in every report)."""
    description: str = ""
    skipped: int = 0
    """Cases dropped by the split filter or `--limit`."""
    split: str = ""
    """What the split filter kept, for reports: e.g. 'split test: 118 of 408 cases', or 'no split field:
    all 60 cases' for a suite whose cases carry no `split`."""
    extra: dict[str, str] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)
    """Minimums the suite file carries (sidecar `NAME.thresholds.yaml` or a YAML suite's `thresholds:`)."""


def shipped_suites() -> list[str]:
    """Names of the suites shipped in `evals/suites/`."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.jsonl"))


def _resolve_path(spec: str) -> Path:
    path = Path(spec)
    if path.suffix in {".jsonl", ".yaml", ".yml"} or path.exists():
        return path
    for suffix in (".jsonl", ".yaml", ".yml"):
        candidate = SUITES_DIR / f"{spec}{suffix}"
        if candidate.is_file() and not candidate.name.endswith(SIDECAR_SUFFIX):
            return candidate
    shipped = shipped_suites()
    raise SuiteError(
        f"no suite {spec!r}: give a file path, one of the shipped suites ({', '.join(shipped) or 'none'}), "
        f"or NAME:PATH for an external dataset ({', '.join(sorted(ADAPTERS))})"
    )


def load_spec(spec: str, *, split: SplitFilter = "test", limit: int | None = None) -> Suite:
    """Load one suite spec, keep the requested split (cases without a split are always kept), cap at limit.

    Raises:
        SuiteError: the spec does not resolve, or the file is invalid (with `file:line`).
    """
    name, sep, rest = spec.partition(":")
    if sep and name in ADAPTERS:
        adapter = ADAPTERS[name]
        cases = load_external(name, Path(rest))
        suite = Suite(f"{name}:{Path(rest).stem}", spec, "external", cases, adapter.mapping_note,
                      adapter.description)
    else:
        path = _resolve_path(spec)
        suite = Suite(path.stem, str(path), "gold", load_suite_file(path), thresholds=suite_thresholds(path))
    total = len(suite.cases)
    has_split = any(c.split is not None for c in suite.cases)
    if split != "all":
        suite.cases = [c for c in suite.cases if c.split in (None, split)]
    kept = len(suite.cases)
    if limit is not None:
        suite.cases = suite.cases[:limit]
    suite.skipped = total - len(suite.cases)
    if not suite.cases:
        raise SuiteError(f"suite {spec!r} has no cases left after --split {split} / --limit {limit}")
    if not has_split:
        suite.split = f"no split field: all {total} cases"
    elif split == "all":
        suite.split = f"all splits: {total} cases"
    else:
        suite.split = f"split {split}: {kept} of {total} cases"
    if limit is not None and len(suite.cases) < kept:
        suite.split += f", first {len(suite.cases)} (--limit)"
    return suite


def load_specs(specs: list[str], *, split: SplitFilter = "test", limit: int | None = None) -> list[Suite]:
    """Load several specs; suite names must be distinct (they key the results)."""
    suites = [load_spec(s, split=split, limit=limit) for s in specs]
    names = [s.name for s in suites]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SuiteError(f"two suites share the name {sorted(dupes)}; rename one of the files")
    return suites
