"""Run graders over suites: bounded async concurrency, a progress bar, resumable, with a budget ceiling.

    suites = load_specs(["gold_listening"], split="test")
    graders = make_graders("local")
    store = RunStore.create(run_dir, manifest)
    est = estimate(suites, graders, store)          # before: tokens and cost of what is left to do
    outcome = await execute(suites, graders, store, concurrency=4)

Work items are (suite, case, grader); one already in `results.jsonl` under the same (suite, item id,
grader name, grader version) is skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from evals.cache import CachedGrader
from evals.cases import EvalCase
from evals.graders import GraderSet
from evals.labelsets import flatten
from evals.metering import (
    EXPECTED_OUTPUT_TOKENS,
    BudgetExceeded,
    Estimate,
    Usage,
    price_for,
    request_tokens,
    rubric_tokens,
)
from evals.runstore import ResultRow, RunStore
from evals.suites import Suite
from simulator.grading.base import TurnGrader
from simulator.grading.labels import TurnGrade

WorkItem = tuple[Suite, EvalCase, TurnGrader]


@dataclass
class RunOutcome:
    """How a run ended."""

    status: Literal["complete", "aborted"]
    done_now: int
    skipped_done: int
    usage: Usage
    reason: str | None = None
    cache_hits: int = 0
    cache_misses: int = 0
    elapsed_s: float = 0.0


def gold_of(case: EvalCase) -> dict[str, bool | int | str]:
    """The flat gold labels of a case (full verdict or mapped proxies)."""
    if case.gold is not None:
        return dict(flatten(case.gold))
    return dict(case.mapped or {})


def pending_items(
    suites: list[Suite], graders: GraderSet, store: RunStore, *, retry_ungraded: bool = False
) -> tuple[list[WorkItem], int]:
    """Work not yet in the run's results, and how many items were already done."""
    done = store.done_keys(retry_ungraded=retry_ungraded)
    todo: list[WorkItem] = []
    skipped = 0
    for suite in suites:
        for case in suite.cases:
            for grader in graders.graders:
                if (suite.name, case.id, grader.name, grader.version) in done:
                    skipped += 1
                else:
                    todo.append((suite, case, grader))
    return todo, skipped


def estimate(
    suites: list[Suite],
    graders: GraderSet,
    store: RunStore,
    *,
    price: tuple[float, float] | None = None,
    retry_ungraded: bool = False,
) -> Estimate:
    """Tokens and cost of the model calls the remaining work will make (cached and local work is free)."""
    todo, _ = pending_items(suites, graders, store, retry_ungraded=retry_ungraded)
    rubric = rubric_tokens() if any(not graders.is_free(g) for g in graders.graders) else 0
    requests = cached = t_in = t_out = 0
    for _, case, grader in todo:
        if graders.is_free(grader):
            continue
        request = case.request()
        if isinstance(grader, CachedGrader) and grader.is_cached(request):
            cached += 1
            continue
        requests += 1
        t_in += rubric + request_tokens(request)
        t_out += EXPECTED_OUTPUT_TOKENS
    model_name = graders.model_info.model if graders.model_info else None
    notes = []
    if requests:
        notes.append("assumes one model call per item; a repair re-ask adds about one more per failure")
    return Estimate(requests, cached, t_in, t_out, price or price_for(model_name), notes)


async def _grade_one(grader: TurnGrader, case: EvalCase) -> TurnGrade:
    try:
        return await grader.grade(case.request())
    except Exception as err:  # the protocol says graders never raise; fail closed if one does
        return TurnGrade.ungraded(grader.name, f"grader raised {type(err).__name__}: {err}")


def _row(suite: Suite, case: EvalCase, grader: TurnGrader, grade: TurnGrade, ms: float, cached: bool) -> ResultRow:
    return ResultRow(
        suite=suite.name,
        item_id=case.id,
        grader=grader.name,
        grader_version=grader.version,
        grade=grade,
        gold=gold_of(case),
        source_labels=case.source_labels,
        group=case.meta.group,
        pair_axis=case.meta.pair_axis,
        near_miss=case.meta.near_miss,
        attack=case.meta.attack,
        elapsed_ms=round(ms, 3),
        cached=cached,
        item_hash=case.content_hash(),
    )


async def execute(
    suites: list[Suite],
    graders: GraderSet,
    store: RunStore,
    *,
    concurrency: int = 4,
    budget_tokens: int | None = None,
    progress: bool = True,
    retry_ungraded: bool = False,
) -> RunOutcome:
    """Grade every pending item, appending each result durably as it completes.

    Args:
        concurrency: at most this many grading calls in flight.
        budget_tokens: stop scheduling new work once metered model tokens exceed this; the run is
            then `aborted` and can be resumed (with a higher budget).
        progress: show a tqdm progress bar on stderr (hidden when stderr is not a terminal).
        retry_ungraded: grade again the items whose committed result is `ungraded` (the new row wins).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    todo, skipped = pending_items(suites, graders, store, retry_ungraded=retry_ungraded)
    queue: asyncio.Queue[WorkItem] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    started = time.perf_counter()
    done_now = 0
    abort_reason: str | None = None
    bar = tqdm(total=len(todo) + skipped, initial=skipped, disable=None if progress else True,
               unit="item", desc="grading", leave=False)

    async def worker() -> None:
        nonlocal done_now, abort_reason
        while abort_reason is None:
            try:
                suite, case, grader = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            hits_before = grader.stats.hits if isinstance(grader, CachedGrader) else 0
            t0 = time.perf_counter()
            grade = await _grade_one(grader, case)
            ms = (time.perf_counter() - t0) * 1000
            cached = isinstance(grader, CachedGrader) and grader.stats.hits > hits_before
            store.append(_row(suite, case, grader, grade, ms, cached))
            done_now += 1
            bar.update(1)
            if budget_tokens is not None and graders.usage.total > budget_tokens and abort_reason is None:
                abort_reason = (
                    f"token budget exceeded: {graders.usage.total:,} > {budget_tokens:,} tokens; "
                    "resume with a higher --budget-tokens"
                )

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(len(todo), 1)))))
    finally:
        bar.close()
        store.close()
    hits = sum(g.stats.hits for g in graders.graders if isinstance(g, CachedGrader))
    misses = sum(g.stats.misses for g in graders.graders if isinstance(g, CachedGrader))
    return RunOutcome(
        status="aborted" if abort_reason else "complete",
        done_now=done_now,
        skipped_done=skipped,
        usage=graders.usage,
        reason=abort_reason,
        cache_hits=hits,
        cache_misses=misses,
        elapsed_s=time.perf_counter() - started,
    )


def check_budget(est: Estimate, budget_tokens: int | None) -> None:
    """Refuse to start a run whose estimate is over the budget ceiling.

    Raises:
        BudgetExceeded: with the figures and how to proceed.
    """
    if budget_tokens is not None and est.total > budget_tokens:
        raise BudgetExceeded(
            f"estimated {est.total:,} tokens for {est.requests} model calls is over the budget of "
            f"{budget_tokens:,}; raise --budget-tokens, or use --limit to run fewer items"
        )
