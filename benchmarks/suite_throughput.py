"""Figure 4: suite throughput (items per second) at concurrency 1, 4 and 16, and a cached rerun.

Runs `evals.runner.execute` (the code behind `cooldown evals run`) with the LLM grading chain over:

* a scripted grader model with a fixed latency: the scaling curve the runner itself allows;
* the embedded llama.cpp grader server (full run only): what this machine delivers;
* a rerun answered wholly from the grade cache (a second run of the same suite).

Levels are run in the order 1, 4, 16, 16, 4, 1 so that drifting machine load hits every level alike.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, check, measured
from benchmarks.fixtures import ScriptedModel

LEVELS = (1, 4, 16)
FAKE_LATENCY_S = 0.05


async def run_suite(
    model: Any, items: int, concurrency: int, run_dir: Path, cache_dir: Path | None
) -> tuple[float, Any]:
    """Grade the first `items` gold-suite turns; returns (items per second, RunOutcome)."""
    from evals.graders import make_graders
    from evals.runner import execute
    from evals.runstore import Manifest, RunStore
    from evals.suites import load_specs

    suites = load_specs(["gold_listening", "gold_persuasion"], split="all")
    per = max(1, items // 2)
    for suite in suites:
        suite.cases = suite.cases[:per]
    graders = make_graders("llm", model=model, cache_dir=cache_dir)
    manifest = Manifest(name="bench", created=datetime.now(UTC).isoformat(timespec="seconds"),
                        specs=[s.spec for s in suites], split="all", limit=per, grader="llm",
                        concurrency=concurrency)  # fmt: skip
    store = RunStore.create(run_dir, manifest)
    try:
        outcome = await execute(suites, graders, store, concurrency=concurrency, progress=False)
    finally:
        if graders.cache is not None:
            graders.cache.close()
    return outcome.done_now / outcome.elapsed_s, outcome


@contextmanager
def _no_fsync() -> Iterator[None]:
    """Diagnostic only: make `os.fsync` a no-op in this process for the duration."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


async def curve(model: Any, items: int, root: Path, tag: str, rounds: int) -> dict[int, list[float]]:
    """Items/s per concurrency level, each level run `rounds` times in a back-and-forth order."""
    order: list[int] = []
    for r in range(rounds):
        order += list(LEVELS) if r % 2 == 0 else list(reversed(LEVELS))
    rates: dict[int, list[float]] = {c: [] for c in LEVELS}
    for i, c in enumerate(order):
        rate, _ = await run_suite(model, items, c, root / f"{tag}-{i}-c{c}", None)
        rates[c].append(rate)
    return rates


async def run(*, quick: bool, embedded: bool = True) -> Figure:
    """Measure figure 4."""
    fig = Figure(key="suites", title="Suite throughput: items/s by concurrency, cached rerun")
    with measured(fig), tempfile.TemporaryDirectory(prefix="cooldown-bench-") as tmp:
        root = Path(tmp)
        fake = ScriptedModel(FAKE_LATENCY_S, role="grader", prompt_form="chat")
        n_fake = 48 if quick else 160
        rates = await curve(fake, n_fake, root, "fake", 1 if quick else 2)
        med = {c: statistics.median(v) for c, v in rates.items()}
        fig.numbers["fake.items"] = n_fake
        fig.numbers["fake.items_per_s"] = med
        fig.series["fake.items_per_s"] = [med[c] for c in LEVELS]
        ideal = 1 / FAKE_LATENCY_S
        fig.numbers["fake.scaling_efficiency"] = {c: med[c] / (ideal * c) for c in LEVELS}
        fig.targets.append(check("fake model: items/s at 16 / at 1", med[16] / med[1], ge=8.0, unit="x",
                                 goal=">= 8x (info: ideal 16x)",
                                 note=", ".join(f"c={c}: {med[c]:.1f}/s" for c in LEVELS)))  # fmt: skip
        fig.targets[-1].verdict = "info" if fig.targets[-1].verdict == "met" else "missed"
        # cached rerun: prime the cache with every gold turn, then run them all again from it
        cache = root / "cache"
        all_items = 10_000
        await run_suite(fake, all_items, 16, root / "prime", cache)
        rate, rerun = await run_suite(fake, all_items, 16, root / "rerun", cache)
        rate_nofsync = float("nan")
        if not quick:
            with _no_fsync():  # diagnostic: how much of the rerun is the per-item fsync of results.jsonl
                rate_nofsync, _ = await run_suite(fake, all_items, 16, root / "rerun-nofsync", cache)
            fig.numbers["cached.items_per_s_without_fsync"] = rate_nofsync
        fig.numbers["cached.items"] = rerun.done_now
        fig.numbers["cached.hits"] = rerun.cache_hits
        fig.numbers["cached.items_per_s"] = rate
        fig.targets.append(check("cached rerun", rate, ge=2000, unit=" items/s", goal=">= 2,000 items/s",
                                 note=f"{rerun.cache_hits} of {rerun.done_now} from cache"
                                 + ("" if quick else f"; {rate_nofsync:,.0f}/s with fsync disabled (diagnostic)")))
        if quick or not embedded:
            fig.notes.append("embedded-server curve runs only in the full run")
            return fig
        from benchmarks.fixtures import bench_settings
        from simulator.llm import get_model

        grader = get_model("grader", bench_settings(root / "emb", grader={"budget_s": 60.0}))
        try:
            await run_suite(grader, 1, 1, root / "emb-warm", None)  # start the server, warm it
            emb = await curve(grader, 2, root, "emb", 1)
        finally:
            await grader.aclose()
        emb_med = {c: statistics.median(v) for c, v in emb.items()}
        fig.numbers["embedded.items"] = 2
        fig.numbers["embedded.items_per_s"] = emb_med
        fig.series["embedded.items_per_s"] = [emb_med[c] for c in LEVELS]
        fig.notes.append("embedded: " + ", ".join(f"c={c}: {emb_med[c]:.3f}/s" for c in LEVELS))
    return fig


if __name__ == "__main__":  # pragma: no cover
    print(asyncio.run(run(quick=True)).model_dump_json(indent=1))
