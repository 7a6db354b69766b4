"""Figure 1: pipeline overhead.

Part A (`stage_costs`, no model): Cooldown's own work per trainee turn, stage by stage, with a
zero-latency scripted caller so only Cooldown is timed: validate, persist the turn, appraise, persist the
grade, step the mood state machine, persist the mood; then the caller chain's own work (prompt within
budget, trimmer, guard) and persisting the reply. The same turns are also played through the real
`CallSession.take_turn`, timing its work up to the moment the caller model is asked (`pre_model`).

Part B (`first_token_vs_bare`, embedded model): the caller's first token and full turn time through
`CallSession.take_turn` vs a bare `openai.AsyncOpenAI` streaming completion of the *same prompt* on the
same embedded llama.cpp server, alternating A/B trial by trial.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Dist, Figure, check, measured, ms
from benchmarks.fixtures import (
    PERSONA,
    TRAINEE_TURNS,
    ScriptedModel,
    TimedModel,
    bench_settings,
    local_grader,
    open_store,
)

PRE_MODEL_BUDGET_MS = 15.0
FIRST_TOKEN_RATIO = 1.05


async def stage_costs(turns: int, data_dir: Path) -> dict[str, list[float]]:
    """Per-turn milliseconds of each of Cooldown's own stages (replicating `take_turn`'s steps in order),
    plus `pre_model` and `turn_total` measured on the real `take_turn` with a zero-latency caller."""
    from simulator.call.mood import mood_label, step
    from simulator.call.session import CallerDone, CallSession, clean_turn_text
    from simulator.call.transcript import Utterance
    from simulator.caller.budget import LoggedTurn
    from simulator.caller.chain import Caller, CallerReply, new_canary, script_for
    from simulator.grading.base import GradeRequest
    from simulator.tokens import count_tokens

    settings = bench_settings(data_dir)
    store = open_store(data_dir)
    grader = local_grader()
    stages: dict[str, list[float]] = {k: [] for k in (
        "validate", "persist_turn", "appraise", "persist_grade", "state_update", "persist_mood",
        "own_work", "caller_chain", "persist_reply", "pre_model", "turn_total")}  # fmt: skip
    try:
        session: Any = None
        live: Any = None
        history: list[LoggedTurn] = []
        state: Any = None
        for i in range(turns + 1):  # turn 0 warms caches (tokenizer, weights) and is not recorded
            if i % 8 == 0:  # fresh calls, well before any persona's turn limit
                model = ScriptedModel(0.0, gguf_path=_gguf())
                session = CallSession.start(store, PERSONA, caller_model=model, local_grader=grader,
                                            settings=settings, opening_index=0)  # fmt: skip
                live = CallSession.start(store, PERSONA, caller_model=ScriptedModel(0.0, gguf_path=_gguf()),
                                         local_grader=grader, settings=settings, opening_index=0)  # fmt: skip
                caller = Caller(model, script_for(session.persona, "normal", new_canary()),
                                budget_tokens=settings.context_budget_tokens,
                                max_tokens=settings.caller.max_tokens)  # fmt: skip
                history = [LoggedTurn(utterance=Utterance(role="customer", text=session.opening))]
                state = session.state
            text = TRAINEE_TURNS[i % len(TRAINEE_TURNS)]
            t0 = time.perf_counter()
            info = model.info

            def count(t: str, info: Any = info) -> int:
                return count_tokens(t, info)

            clean = clean_turn_text(text, max_chars=settings.max_turn_chars, max_tokens=settings.max_turn_tokens,
                                    count=count)  # fmt: skip
            t1 = time.perf_counter()
            turn = store.add_turn(session.id, "agent", clean, status="received")
            t2 = time.perf_counter()
            request = GradeRequest(trainee_turn=clean, context=[h.utterance for h in history][-16:],
                                   scenario=session.persona.grader_brief(), persona=session.persona.id)  # fmt: skip
            grade = await grader.grade(request)
            t3 = time.perf_counter()
            store.add_grade(turn.id, grade)
            t4 = time.perf_counter()
            assert grade.verdict is not None, grade.reason
            mood = step(session.persona, "normal", state, grade.verdict, clean)
            t5 = time.perf_counter()
            store.add_mood(turn.id, anger=mood.state.anger, trust=mood.state.trust,
                           entrenchment=mood.state.entrenchment, label=mood_label(mood.state),
                           fired_rules=list(mood.reasons))  # fmt: skip
            store.set_turn_status(turn.id, "final")
            t6 = time.perf_counter()
            state = mood.state
            history.append(LoggedTurn(utterance=Utterance(role="agent", text=clean), verdict=grade.verdict,
                                      mood_label=mood_label(state)))  # fmt: skip
            reply: CallerReply | None = None
            async for item in caller.speak(history, state):
                if isinstance(item, CallerReply):
                    reply = item
            t7 = time.perf_counter()
            assert reply is not None
            store.add_turn(session.id, "customer", reply.text)
            t8 = time.perf_counter()
            history.append(LoggedTurn(utterance=Utterance(role="customer", text=reply.text)))
            for key, a, b in (("validate", t0, t1), ("persist_turn", t1, t2), ("appraise", t2, t3),
                              ("persist_grade", t3, t4), ("state_update", t4, t5), ("persist_mood", t5, t6),
                              ("own_work", t0, t6), ("caller_chain", t6, t7), ("persist_reply", t7, t8)):  # fmt: skip
                if i:
                    stages[key].append(ms(b - a))
            # the real pipeline, same text
            if not live.ended:
                t_start = time.perf_counter()
                async for ev in live.take_turn(text):
                    if isinstance(ev, CallerDone):
                        break
                t_end = time.perf_counter()
                called = live.caller.model.called_at
                if i and called is not None and called >= t_start:
                    stages["pre_model"].append(ms(called - t_start))
                if i:
                    stages["turn_total"].append(ms(t_end - t_start))
    finally:
        store.close()
    return stages


def _gguf() -> str | None:
    from simulator.config import bundled_gguf

    path = bundled_gguf()
    return str(path) if path else None


async def first_token_vs_bare(warm_pairs: int, cold_pairs: int, data_dir: Path) -> dict[str, list[float]]:
    """Alternating trials on the embedded caller server (A B, B A, A B, ...), in two regimes.

    * warm: every call sends the identical prompt, so the server reuses its KV cache and only generates
      (the strictest test of overhead: the model's own share is smallest);
    * cold: every call carries a fresh canary near the top of the prompt, so the server evaluates the
      prompt again (what the first turn of a new call costs).

    Returns per-trial seconds under `<regime>.<key>`: cd_first_model (first model token through Cooldown's
    seam, from the start of `take_turn`), cd_first_shown (first text the guard released), cd_full,
    bare_first, bare_full; `prompt_match` is 1.0 when Cooldown sent exactly the prompt the bare call mirrored.
    """
    from openai import AsyncOpenAI

    from simulator.call.session import CallerDone, CallerText, CallSession
    from simulator.caller.chain import COMPLETION_STOPS, script_for
    from simulator.llm import get_model
    from simulator.llm.factory import embedded_server_for
    from simulator.persona.loader import load_persona
    from simulator.tokens import count_tokens

    settings = bench_settings(data_dir)
    server = embedded_server_for("caller", settings)
    if server is None:
        raise RuntimeError("the caller role is not served by the embedded model; unset COOLDOWN_CALLER__*")
    url = await asyncio.to_thread(server.start, settings.embedded_start_timeout_s)
    store = open_store(data_dir)
    grader = local_grader()
    persona = load_persona(PERSONA)
    real = get_model("caller", settings)
    bare = AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)
    text = TRAINEE_TURNS[0]
    out: dict[str, list[float]] = {}
    canary0 = "ZQX-" + "0" * 16

    def add(key: str, value: float) -> None:
        out.setdefault(key, []).append(value)

    async def cooldown_turn(canary: str, regime: str | None) -> str:
        timed = TimedModel(real)
        session = CallSession.start(store, PERSONA, caller_model=timed, local_grader=grader, settings=settings,
                                    opening_index=0, script=script_for(persona, "normal", canary))  # fmt: skip
        t0 = time.perf_counter()
        shown: float | None = None
        async for ev in session.take_turn(text):
            if isinstance(ev, CallerText) and shown is None:
                shown = time.perf_counter()
            if isinstance(ev, CallerDone):
                break
        t_end = time.perf_counter()
        if regime:
            add(f"{regime}.cd_first_model", (timed.first_chunk_at or t_end) - t0)
            add(f"{regime}.cd_first_shown", (shown or t_end) - t0)
            add(f"{regime}.cd_full", t_end - t0)
            add(f"{regime}.attempts", float(len(timed.prompts)))
        return timed.prompts[0] if timed.prompts else ""

    async def bare_turn(prompt: str, regime: str | None) -> None:
        t0 = time.perf_counter()
        first: float | None = None
        stream = await bare.completions.create(
            model=server.alias, prompt=prompt, max_tokens=settings.caller.max_tokens,
            temperature=settings.caller.temperature, stop=list(COMPLETION_STOPS)[:4], stream=True,
        )  # fmt: skip
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].text:
                first = time.perf_counter()
        t_end = time.perf_counter()
        if regime:
            add(f"{regime}.bare_first", (first or t_end) - t0)
            add(f"{regime}.bare_full", t_end - t0)

    async def pair(i: int, regime: str, cd_canary: str, bare_canary: str) -> None:
        cd_prompt = template.replace(canary0, cd_canary)
        bare_prompt = template.replace(canary0, bare_canary)
        if i % 2 == 0:
            sent = await cooldown_turn(cd_canary, regime)
            await bare_turn(bare_prompt, regime)
        else:
            await bare_turn(bare_prompt, regime)
            sent = await cooldown_turn(cd_canary, regime)
        add(f"{regime}.prompt_match", 1.0 if sent == cd_prompt else 0.0)

    try:
        template = await cooldown_turn(canary0, None)  # warm-up, and the exact prompt Cooldown sends
        out["prompt_tokens"] = [float(count_tokens(template, real.info))]
        await bare_turn(template, None)
        for i in range(warm_pairs):
            await pair(i, "warm", canary0, canary0)
        for i in range(cold_pairs):
            await pair(i, "cold", "ZQX-" + secrets.token_hex(8), "ZQX-" + secrets.token_hex(8))
    finally:
        await bare.close()
        await real.aclose()
        store.close()
    return out


def _ab_numbers(fig: Figure, ab: dict[str, list[float]], regime: str) -> None:
    def get(key: str) -> list[float]:
        return ab.get(f"{regime}.{key}", [])

    for key in ("cd_first_model", "cd_first_shown", "cd_full", "bare_first", "bare_full"):
        fig.numbers[f"{regime}.s.{key}"] = Dist.of(get(key)).model_dump()
    if not get("cd_first_model"):
        return
    pair_first = [c / b for c, b in zip(get("cd_first_model"), get("bare_first"), strict=True) if b > 0]
    pair_shown = [c / b for c, b in zip(get("cd_first_shown"), get("bare_first"), strict=True) if b > 0]
    pair_full = [c / b for c, b in zip(get("cd_full"), get("bare_full"), strict=True) if b > 0]
    extra_ms = [ms(c - b) for c, b in zip(get("cd_first_model"), get("bare_first"), strict=True)]
    fig.numbers[f"{regime}.ratio.first_token"] = Dist.of(pair_first).model_dump()
    fig.numbers[f"{regime}.ratio.first_shown"] = Dist.of(pair_shown).model_dump()
    fig.numbers[f"{regime}.ratio.full_turn"] = Dist.of(pair_full).model_dump()
    fig.numbers[f"{regime}.added_ms.first_token"] = Dist.of(extra_ms).model_dump()
    fig.numbers[f"{regime}.prompt_match_rate"] = statistics.fmean(get("prompt_match"))
    fig.numbers[f"{regime}.caller_attempts_mean"] = statistics.fmean(get("attempts"))
    med = statistics.median
    note = f"p95 {Dist.of(pair_first).p95:.2f}x; Cooldown adds {med(extra_ms):.0f} ms"
    fig.targets.append(check(f"{regime}: first token, Cooldown / bare (median of pairs)", med(pair_first),
                             le=FIRST_TOKEN_RATIO, unit="x", goal="<= 1.05x", note=note))  # fmt: skip
    shown = check(f"{regime}: first text shown (after the guard) / bare first token", med(pair_shown),
                  le=FIRST_TOKEN_RATIO, unit="x", goal="info",
                  note="clauses show once they pass the guard (and, enforced, the plan's per-clause checks)")
    full = check(f"{regime}: full turn, Cooldown / bare (median of pairs)", med(pair_full), le=1.05, unit="x",
                 goal="info")
    shown.verdict = full.verdict = "info"
    fig.targets += [shown, full]


async def run(*, quick: bool, embedded: bool = True) -> Figure:
    """Measure figure 1."""
    fig = Figure(key="overhead", title="Pipeline overhead: Cooldown vs a bare streaming call")
    with measured(fig), tempfile.TemporaryDirectory(prefix="cooldown-bench-") as tmp:
        stages = await stage_costs(24 if quick else 200, Path(tmp) / "stages")
        for name, values in stages.items():
            fig.numbers[f"stage_ms.{name}"] = Dist.of(values).model_dump()
        fig.series.update({f"stage_ms.{k}": v for k, v in stages.items()})
        own = Dist.of(stages["own_work"])
        pre = Dist.of(stages["pre_model"])
        fig.targets.append(check("validate+persist+appraise+state (median)", own.median, le=PRE_MODEL_BUDGET_MS,
                                 unit=" ms", goal="< 15 ms per turn", note=f"p95 {own.p95:.1f} ms"))  # fmt: skip
        fig.targets.append(check("take_turn work before the caller model (median)", pre.median,
                                 le=PRE_MODEL_BUDGET_MS, unit=" ms", goal="< 15 ms (adds prompt build)",
                                 note=f"p95 {pre.p95:.1f} ms"))  # fmt: skip
        if not embedded:
            fig.notes.append("embedded A/B skipped (--no-embedded)")
            return fig
        ab = await first_token_vs_bare(3 if quick else 12, 0 if quick else 3, Path(tmp) / "ab")
        fig.series.update({f"ab_s.{k}": v for k, v in ab.items()})
        fig.numbers["caller_prompt_tokens"] = ab["prompt_tokens"][0]
        _ab_numbers(fig, ab, "warm")
        _ab_numbers(fig, ab, "cold")
        if quick:
            fig.notes.append("cold-prompt pairs run only in the full run (each costs a whole prompt evaluation)")
    return fig
