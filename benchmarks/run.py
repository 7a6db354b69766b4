"""Run the benchmark set: one-screen summary, `results/latest.json`, PNG plots.

    python -m benchmarks.run [--quick] [--no-embedded] [--only overhead,grading] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import RESULTS_DIR, Figure, RunResult, machine_info, now_iso

FIGURES = ("overhead", "grading", "appraiser", "suites", "prompt_growth", "progress", "memory")
"""In run order. `memory` goes last: it reads the high-water marks of the servers the others started."""


def _runner(key: str, quick: bool, embedded: bool) -> Callable[[], Figure]:
    if key == "overhead":
        from benchmarks import overhead

        return lambda: asyncio.run(overhead.run(quick=quick, embedded=embedded))
    if key == "grading":
        from benchmarks import grading_overlap

        return lambda: asyncio.run(grading_overlap.run(quick=quick, embedded=embedded))
    if key == "appraiser":
        from benchmarks import appraiser_speed

        return lambda: appraiser_speed.run(quick=quick)
    if key == "suites":
        from benchmarks import suite_throughput

        return lambda: asyncio.run(suite_throughput.run(quick=quick, embedded=embedded))
    if key == "prompt_growth":
        from benchmarks import prompt_growth

        return lambda: prompt_growth.run(quick=quick)
    if key == "progress":
        from benchmarks import progress_page

        return lambda: progress_page.run(quick=quick)
    if key == "memory":
        from benchmarks import memory

        return lambda: memory.run(quick=quick, embedded=embedded)
    raise ValueError(f"unknown figure {key!r}; choose from {', '.join(FIGURES)}")


def run_benchmarks(
    *,
    quick: bool = False,
    embedded: bool = True,
    only: Sequence[str] | None = None,
    out_dir: Path = RESULTS_DIR,
    plots: bool = True,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Run the chosen figures (all by default), save JSON and plots in `out_dir`, print the summary.

    A figure that fails is recorded with its error and the others still run.
    """
    keys = list(only) if only else list(FIGURES)
    for key in keys:
        if key not in FIGURES:
            raise ValueError(f"unknown figure {key!r}; choose from {', '.join(FIGURES)}")
    result = RunResult(started=now_iso(), quick=quick, machine=machine_info(), figures=[])
    t0 = time.perf_counter()
    try:
        for key in keys:
            echo(f"… {key}")
            try:
                fig = _runner(key, quick, embedded)()
            except Exception as exc:  # one broken figure must not lose the others
                fig = Figure(key=key, title=key, error=f"{type(exc).__name__}: {exc}")
                fig.notes.append(traceback.format_exc(limit=4))
            result.figures.append(fig)
            _save(result, out_dir, quick)  # after every figure, so a stopped run keeps what it measured
    finally:
        if embedded:
            from simulator.llm.embedded import POOL

            POOL.stop_all()
    result.elapsed_s = round(time.perf_counter() - t0, 1)
    _save(result, out_dir, quick)
    if plots and not quick:
        from benchmarks.plots import plot_all

        plot_all(result, out_dir)
    echo(summary(result))
    return result


def _save(result: RunResult, out_dir: Path, quick: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "latest-quick.json" if quick else "latest.json"
    (out_dir / name).write_text(result.model_dump_json(indent=1) + "\n", encoding="utf-8")


def summary(result: RunResult) -> str:
    """The one-screen summary: every target with its value and verdict, and the machine load."""
    mark = {"met": "ok  ", "missed": "MISS", "info": "info", "skipped": "skip"}
    lines = [f"Cooldown benchmarks {'(quick) ' if result.quick else ''}{result.started}, "
             f"{result.machine.get('cpus')} CPUs, took {result.elapsed_s:.0f} s"]  # fmt: skip
    for fig in result.figures:
        lb, la = fig.load_before[0], fig.load_after[0]
        lines.append(f"[{fig.key}] {fig.title}  (load {lb:.1f}->{la:.1f}, {fig.elapsed_s:.0f} s)")
        if fig.error:
            lines.append(f"  ERROR {fig.error}")
        for t in fig.targets:
            value = "—" if t.value is None else f"{t.value:,.3g}{t.unit}"
            note = f"  [{t.note}]" if t.note else ""
            lines.append(f"  {mark[t.verdict]} {t.name}: {value} (target {t.goal}){note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry (`python -m benchmarks.run`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer trials; about 2 minutes")
    parser.add_argument("--no-embedded", action="store_true", help="scripted models only (no llama.cpp server)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    only = [k for k in args.only.split(",") if k] or None
    run_benchmarks(quick=args.quick, embedded=not args.no_embedded, only=only, out_dir=args.out)


if __name__ == "__main__":
    main()
