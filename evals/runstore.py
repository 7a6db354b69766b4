"""A run directory: the manifest, and results appended durably in small fsynced batches.

    <run dir>/manifest.json   what was asked (suites, grader, options) and the run's status
    <run dir>/results.jsonl   one `ResultRow` per (suite, item id, grader name, grader version)
    <run dir>/report.json     metrics (written at the end; rebuilt from results any time)
    <run dir>/report.html     the self-contained HTML report

Results are keyed on (suite, item id, grader name, grader version). Each line is written to the
operating system as it completes (so a killed process loses nothing it appended) and fsynced in
batches: every `SYNC_EVERY_ITEMS` items or `SYNC_EVERY_S` seconds, and always on `sync()`/`close()`.
A machine crash or power loss can therefore lose at most that un-fsynced tail, and since results are
only ever appended, what survives is a prefix: `--resume RUN_DIR` re-grades exactly the lost items,
never duplicating or skipping one. A line torn by a crash is cut off when the file is reopened.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.labelsets import LabelValue
from evals.thresholds import Threshold
from simulator.errors import StorageError
from simulator.grading.labels import TurnGrade

ResultKey = tuple[str, str, str, str]

SYNC_EVERY_ITEMS = 64
"""fsync `results.jsonl` at least every this many appended items..."""
SYNC_EVERY_S = 0.1
"""...and at least this often (seconds) while items keep arriving."""


class ResultRow(BaseModel):
    """One graded item. Holds the gold labels too, so reports and `compare` need only the run dir."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    item_id: str
    grader: str
    grader_version: str
    grade: TurnGrade
    gold: dict[str, LabelValue]
    source_labels: dict[str, str] = Field(default_factory=dict)
    group: str | None = None
    pair_axis: str | None = None
    near_miss: str | None = None
    attack: str | None = None
    elapsed_ms: float = 0.0
    cached: bool = False
    item_hash: str | None = None
    """A digest of what the grader saw (turn, context, scenario, persona): `compare` uses it to tell the
    same item id with different text apart. None in runs written before it was recorded."""

    @property
    def key(self) -> ResultKey:
        """The identity of a result."""
        return (self.suite, self.item_id, self.grader, self.grader_version)


class GraderInfo(BaseModel):
    """A grader as recorded in the manifest."""

    name: str
    version: str


class Manifest(BaseModel):
    """What a run was asked to do, so `--resume` can do the same."""

    model_config = ConfigDict(extra="forbid")

    name: str
    created: str
    specs: list[str]
    split: str
    limit: int | None
    grader: Literal["local", "llm", "both"]
    concurrency: int
    budget_tokens: int | None = None
    graders: list[GraderInfo] = Field(default_factory=list)
    suite_info: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per suite name: kind, note (the proxy mapping), description."""
    thresholds: dict[str, list[Threshold]] = Field(default_factory=dict)
    """Per suite name: the minimums its metrics must reach (suite file, then `--min`)."""
    min_options: list[str] = Field(default_factory=list)
    """The `--min` options given (kept so `--resume` applies them again)."""
    status: Literal["running", "complete", "aborted"] = "running"
    status_reason: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)


def default_run_dir(name: str, root: Path = Path("evals-runs")) -> Path:
    """`./evals-runs/<UTC timestamp>-<name>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)[:60]
    return root / f"{stamp}-{safe}"


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.manifest_path = run_dir / "manifest.json"
        self.results_path = run_dir / "results.jsonl"
        self._fh: Any = None
        self._unsynced = 0
        self._last_sync = -math.inf  # the first result is fsynced at once

    @classmethod
    def create(cls, run_dir: Path, manifest: Manifest) -> RunStore:
        """Start a new run directory (it must not hold a run already)."""
        if (run_dir / "manifest.json").exists():
            raise StorageError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        store = cls(run_dir)
        store.write_manifest(manifest)
        return store

    @classmethod
    def open(cls, run_dir: Path) -> RunStore:
        """Open an existing run directory."""
        if not (run_dir / "manifest.json").is_file():
            raise StorageError(f"{run_dir} is not a run directory (no manifest.json); check the path")
        return cls(run_dir)

    def read_manifest(self) -> Manifest:
        """The run's manifest."""
        return Manifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest atomically."""
        _fsync_write(self.manifest_path, manifest.model_dump_json(indent=2) + "\n")

    def _repair_tail(self) -> None:
        """Cut a final line torn by a kill (no trailing newline), so appends start on a fresh line."""
        if not self.results_path.exists():
            return
        data = self.results_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.results_path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def read_results(self) -> list[ResultRow]:
        """All complete results; the last row wins for a repeated key. A torn or corrupt line is skipped."""
        if not self.results_path.exists():
            return []
        rows: dict[ResultKey, ResultRow] = {}
        with self.results_path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn by a kill: not committed
                try:
                    row = ResultRow.model_validate_json(line)
                except ValueError:
                    continue
                rows[row.key] = row
        return list(rows.values())

    def done_keys(self, *, retry_ungraded: bool = False) -> set[ResultKey]:
        """Keys of results already committed (without `ungraded` ones when they are to be retried)."""
        rows = self.read_results()
        return {row.key for row in rows if not (retry_ungraded and row.grade.status != "graded")}

    def append(self, row: ResultRow) -> None:
        """Append one result: written to the OS at once, fsynced with its batch (see the module docstring)."""
        if self._fh is None:
            self._repair_tail()
            self._fh = self.results_path.open("a", encoding="utf-8")
        self._fh.write(row.model_dump_json() + "\n")
        self._fh.flush()
        self._unsynced += 1
        if self._unsynced >= SYNC_EVERY_ITEMS or time.monotonic() - self._last_sync >= SYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        """fsync every result appended so far (a no-op when there is nothing new)."""
        if self._fh is not None and self._unsynced:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """fsync what is pending and close the results file."""
        if self._fh is not None:
            try:
                self.sync()
            finally:
                self._fh.close()
                self._fh = None

    def write_json(self, name: str, data: Any) -> Path:
        """Write `<run dir>/<name>` as JSON, atomically."""
        path = self.dir / name
        _fsync_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        return path
