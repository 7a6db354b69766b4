"""Figure 2: LLM grading stays off the caller's critical path.

Trials alternate grading off / on (off-on, on-off, ...), each a fresh call on the same persona and turn:

* time to the caller's first shown text with grading on vs off (target: the same within noise);
* turn wall time with grading on (until both the caller's reply and the LLM grade are in) vs the
  sequential sum of the caller alone (grading-off trial) and the grader alone (timed separately on the
  same request). Target <= 0.7x.

Measured twice: with scripted models of fixed latency (what the pipeline's design achieves) and, in the
full run, on the embedded llama.cpp servers (one per role, sharing this machine's cores).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Dist, Figure, check, measured
from benchmarks.fixtures import (
    PERSONA,
    TRAINEE_TURNS,
    ScriptedModel,
    TimedModel,
    bench_settings,
    local_grader,
    open_store,
)

FAKE_CALLER_S = 0.40
FAKE_GRADER_S = 0.60
EMBEDDED_GRADER_BUDGET_S = 60.0
"""Per-grade wall-clock cap for the embedded SmolLM2 grader here (the product default is 150 s)."""


async def ab_trials(
    caller_model: Callable[[], Any], grader_model: Any, trials: int, data_dir: Path, *, script: Any = None
) -> dict[str, list[float]]:
    """Alternating grading-off / grading-on turns plus a grader-alone timing per trial (seconds)."""
    from simulator.call.session import CallerDone, CallerText, CallSession, GradeReady
    from simulator.grading.base import GradeRequest
    from simulator.grading.chain import LLMGrader

    settings = bench_settings(data_dir)
    store = open_store(data_dir)
    local = local_grader()
    llm = LLMGrader(grader_model)
    text = TRAINEE_TURNS[0]
    out: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        out.setdefault(key, []).append(value)

    async def turn(grading: bool, record: bool) -> GradeRequest:
        session = CallSession.start(store, PERSONA, caller_model=caller_model(), local_grader=local,
                                    llm_grader=llm if grading else None, settings=settings, opening_index=0,
                                    script=script() if script else None)  # fmt: skip
        side = "on" if grading else "off"
        t0 = time.perf_counter()
        shown = done = graded = None
        status = ""
        async for ev in session.take_turn(text):
            if isinstance(ev, CallerText) and shown is None:
                shown = time.perf_counter()
            elif isinstance(ev, CallerDone):
                done = time.perf_counter()
            elif isinstance(ev, GradeReady) and ev.source == "llm":
                graded, status = time.perf_counter(), ev.grade.status
        if grading and graded is None:
            for ready in await session.wait_for_grades():
                graded, status = time.perf_counter(), ready.grade.status
        end = time.perf_counter()
        if record:
            add(f"{side}.first_shown", (shown or end) - t0)
            add(f"{side}.caller_done", (done or end) - t0)
            if grading:
                add("on.wall", max(done or end, graded or end) - t0)
                add("on.graded_ok", 1.0 if status == "graded" else 0.0)
        context = session.transcript[:1]
        return GradeRequest(trainee_turn=text, context=context, scenario=session.persona.grader_brief(),
                            persona=session.persona.id)  # fmt: skip

    async def grader_alone(request: GradeRequest) -> None:
        t0 = time.perf_counter()
        await llm.grade(request)
        add("grader_alone", time.perf_counter() - t0)

    try:
        request = await turn(False, record=False)  # warm-up (servers, caches)
        await grader_alone(request)
        out.pop("grader_alone")
        for i in range(trials):
            order = (False, True) if i % 2 == 0 else (True, False)
            for grading in order:
                await turn(grading, record=True)
            await grader_alone(request)
    finally:
        store.close()
    return out


def _numbers(fig: Figure, data: dict[str, list[float]], tag: str) -> None:
    for key, values in data.items():
        fig.numbers[f"{tag}.s.{key}"] = Dist.of(values).model_dump()
        fig.series[f"{tag}.{key}"] = values
    med = statistics.median
    on, off = data["on.first_shown"], data["off.first_shown"]
    ratio_first = med(on) / med(off)
    sums = [c + g for c, g in zip(data["off.caller_done"], data["grader_alone"], strict=True)]
    overlap = [w / s for w, s in zip(data["on.wall"], sums, strict=True)]
    fig.numbers[f"{tag}.ratio.first_shown_on_off"] = ratio_first
    fig.numbers[f"{tag}.ratio.wall_over_sum"] = Dist.of(overlap).model_dump()
    fig.numbers[f"{tag}.graded_ok_rate"] = statistics.fmean(data.get("on.graded_ok", [0.0]))
    spread = (Dist.of(off).p95 - Dist.of(off).min) / med(off) if med(off) else 0.0
    noise = 1.0 + max(0.05, spread)  # the off side's own spread is the noise band
    fig.targets.append(check(f"{tag}: first shown text, grading on / off (medians)", ratio_first,
                             le=noise, unit="x", goal=f"within noise (<= {noise:.2f}x)",
                             note=f"on {med(on) * 1000:.0f} ms vs off {med(off) * 1000:.0f} ms"))  # fmt: skip
    fig.targets.append(check(f"{tag}: turn wall / (caller alone + grader alone)", med(overlap), le=0.7, unit="x",
                             goal="<= 0.7x", note=f"p95 {Dist.of(overlap).p95:.2f}x"))  # fmt: skip


async def run(*, quick: bool, embedded: bool = True) -> Figure:
    """Measure figure 2."""
    fig = Figure(key="grading", title="LLM grading off the critical path")
    with measured(fig), tempfile.TemporaryDirectory(prefix="cooldown-bench-") as tmp:
        fake = await ab_trials(lambda: ScriptedModel(FAKE_CALLER_S), ScriptedModel(FAKE_GRADER_S, role="grader"),
                               4 if quick else 10, Path(tmp) / "fake")  # fmt: skip
        _numbers(fig, fake, "fake")
        fig.notes.append(f"fake: caller {FAKE_CALLER_S * 1000:.0f} ms to first chunk, grader "
                         f"{FAKE_GRADER_S * 1000:.0f} ms; ideal wall/sum = max/sum = 0.60")  # fmt: skip
        if quick or not embedded:
            fig.notes.append("embedded grading A/B runs only in the full run (a SmolLM2 grade takes seconds)")
            return fig
        from simulator.caller.chain import script_for
        from simulator.llm import get_model
        from simulator.persona.loader import load_persona

        settings = bench_settings(Path(tmp) / "emb", grader={"budget_s": EMBEDDED_GRADER_BUDGET_S})
        caller = get_model("caller", settings)
        grader = get_model("grader", settings)
        persona = load_persona(PERSONA)
        fixed = "ZQX-" + "1" * 16  # identical caller prompt each trial: the caller server reuses its cache
        try:
            emb = await ab_trials(lambda: TimedModel(caller), grader, 2, Path(tmp) / "emb",
                                  script=lambda: script_for(persona, "normal", fixed))  # fmt: skip
        finally:
            await caller.aclose()
            await grader.aclose()
        _numbers(fig, emb, "embedded")
        fig.notes.append(f"embedded grader capped at {EMBEDDED_GRADER_BUDGET_S:.0f} s per grade; a capped grade "
                         "counts its full wait (see embedded.graded_ok_rate)")  # fmt: skip
    return fig


if __name__ == "__main__":  # pragma: no cover
    print(asyncio.run(run(quick=True)).model_dump_json(indent=1))
