"""Two sets of appraiser weights side by side on the same suites, as an ordinary evals run.

`cooldown appraiser train` uses it to measure new weights against the shipped ones on the held-out
share of the organisation's labels and on the blind suite. The run directory is a normal one
(`manifest.json`, `results.jsonl`, `report.json`, `report.html`), so `cooldown evals report` and
`cooldown evals compare` work on it too. Each grader is named `local:appraiser[<label>]` and carries the
weights file's hash as its version.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.graders import GraderSet
from evals.runner import execute
from evals.runstore import GraderInfo, Manifest, RunStore
from evals.suites import Suite, load_spec
from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.labels import TurnGrade


class LabelledGrader:
    """A grader under another name (so two appraisers can share one run), same grades and version."""

    def __init__(self, inner: TurnGrader, label: str) -> None:
        """Wrap `inner`; its name becomes `<inner name>[<label>]`."""
        self._inner = inner
        self._name = f"{inner.name}[{label}]"

    @property
    def name(self) -> str:
        """`local:appraiser[shipped]`, `local:appraiser[new]`..."""
        return self._name

    @property
    def version(self) -> str:
        """The wrapped grader's version (for the appraiser: the weights file's hash)."""
        return self._inner.version

    async def grade(self, request: GradeRequest) -> TurnGrade:
        """The wrapped grader's grade."""
        return await self._inner.grade(request)


def compare_graders(
    graders: dict[str, TurnGrader], specs: list[str], run_dir: Path, *, name: str = "appraiser-weights"
) -> dict[str, Any]:
    """Grade every spec's test split with each grader; write the run directory and return its report.

    Args:
        graders: label -> grader, e.g. {"shipped": ..., "new": ...}.
        specs: suite specs (paths or shipped names); their thresholds files apply.
        run_dir: a new run directory.
        name: the run's name in the report.
    """
    from evals.cli import write_reports

    suites: list[Suite] = [load_spec(s, split="test") for s in specs]
    wrapped: list[TurnGrader] = [LabelledGrader(g, label) for label, g in graders.items()]
    manifest = Manifest(
        name=name, created=datetime.now(UTC).isoformat(timespec="seconds"), specs=specs, split="test",
        limit=None, grader="local", concurrency=1,
        graders=[GraderInfo(name=g.name, version=g.version) for g in wrapped],
        suite_info={s.name: {"kind": s.kind, "note": s.note, "description": s.description, "split": s.split}
                    for s in suites},
        thresholds={s.name: s.thresholds for s in suites if s.thresholds},
    )  # fmt: skip
    store = RunStore.create(run_dir, manifest)
    outcome = asyncio.run(execute(suites, GraderSet(graders=wrapped), store, concurrency=1, progress=False))
    manifest.status = outcome.status
    store.write_manifest(manifest)
    report: dict[str, Any] = write_reports(store)
    return report
