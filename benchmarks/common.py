"""Shared pieces of the benchmarks: statistics, machine load, memory readings, the result records, and
waiting for a served page (the browser tests use that too)."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULTS_DIR = Path(__file__).resolve().parent / "results"
Verdict = Literal["met", "missed", "info", "skipped"]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


class Dist(BaseModel):
    """A distribution summarised: count, median, p95, min, max (in the unit of the samples)."""

    model_config = ConfigDict(extra="forbid")

    n: int
    median: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Dist:
        """Summarise samples (NaN fields when there are none)."""
        vals = [float(v) for v in values]
        if not vals:
            return cls(n=0, median=math.nan, p95=math.nan, min=math.nan, max=math.nan)
        return cls(
            n=len(vals), median=statistics.median(vals), p95=percentile(vals, 95), min=min(vals), max=max(vals)
        )


class Target(BaseModel):
    """One target from the issue, checked against a measured value."""

    model_config = ConfigDict(extra="forbid")

    name: str
    goal: str
    """The target in words, e.g. '<= 1.05x the bare call'."""
    value: float | None
    unit: str = ""
    verdict: Verdict
    note: str = ""


def check(name: str, value: float | None, *, le: float | None = None, ge: float | None = None,
          unit: str = "", goal: str = "", note: str = "") -> Target:
    """A `Target` whose verdict compares `value` with an upper (`le`) or lower (`ge`) bound."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Target(name=name, goal=goal, value=None, unit=unit, verdict="skipped", note=note)
    ok = (le is None or value <= le) and (ge is None or value >= ge)
    if not goal:
        goal = f"<= {le:g}{unit}" if le is not None else f">= {ge:g}{unit}"
    return Target(name=name, goal=goal, value=value, unit=unit, verdict="met" if ok else "missed", note=note)


def loadavg() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


class Figure(BaseModel):
    """One benchmark's results: its targets, its summary numbers, its series for plots, and the load."""

    model_config = ConfigDict(extra="forbid")

    key: str
    title: str
    targets: list[Target] = Field(default_factory=list)
    numbers: dict[str, Any] = Field(default_factory=dict)
    """Named summary values (floats, `Dist` dumps, small dicts)."""
    series: dict[str, list[float]] = Field(default_factory=dict)
    """Raw samples for the plots."""
    notes: list[str] = Field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    elapsed_s: float = 0.0
    error: str | None = None


class RunResult(BaseModel):
    """A whole `cooldown bench` run."""

    model_config = ConfigDict(extra="forbid")

    started: str
    quick: bool
    machine: dict[str, Any]
    figures: list[Figure]
    elapsed_s: float = 0.0


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": loadavg(),
    }


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def measured(figure: Figure) -> Iterator[Figure]:
    """Record load before/after and elapsed time around a benchmark body."""
    figure.load_before = loadavg()
    t0 = time.perf_counter()
    try:
        yield figure
    finally:
        figure.elapsed_s = round(time.perf_counter() - t0, 2)
        figure.load_after = loadavg()


def proc_status_kb(pid: int | str, field: str) -> int | None:
    """A `/proc/<pid>/status` value in KiB (e.g. VmRSS, VmHWM); None where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process in MiB."""
    kb = proc_status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory (high-water mark) of a process in MiB."""
    kb = proc_status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded to microseconds."""
    return round(seconds * 1000, 3)


def wait_served(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float, poll_s: float = 0.3) -> bool:
    """Poll `url` until it answers 200: True then; False as soon as `proc` has exited or `timeout_s` passed.

    The caller says what a page that never came up means (a benchmark raises, a test fails with its log).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
