"""Figure 7: the progress and trainer views at 100k stored turns (issue 15 item 4: the page renders < 1 s).

`seed(store, turns=...)` bulk-inserts a cohort (trainees × calls × 12 utterances, every trainee turn graded
by the local appraiser, one in ten also by an LLM grader; scores that improve over a trainee's calls) in a
few multi-row INSERT transactions. The figure then times, for SQLite and (when the server binaries are
installed) PostgreSQL, what the page does: the SQL aggregations (`Store.progress`) and the whole view as
the page builds it (aggregations, the plots drawn and encoded as PNG the way `gr.Plot` sends them, the
table and the CSV). Medians of several repeats, with the load average beside them.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Dist, Figure, check, measured, ms

TURNS = 100_000
UTTERANCES_PER_CALL = 12
TRAINEES = 40
PERSONAS = ("backfire_brian", "dana_delayed_order", "polite_priya", "furious_frank", "silent_sam")
DIFFICULTIES = ("easy", "normal", "hard")
OUTCOMES = ("resolved", "hung_up", "escalated", "out_of_turns", "abandoned")
BEHAVIOURS = ("open_question", "reflection", "validation", "perspective_taking", "needs_check",
              "fact_confrontation", "dismissal", "blame", "solution_offer", "information", "apology")  # fmt: skip
TARGET_S = 1.0


def _verdict(rng: random.Random, skill: float) -> dict[str, Any]:
    score = max(0, min(4, round(rng.gauss(skill, 0.9))))
    behaviours = sorted(rng.sample(BEHAVIOURS[:5], k=min(score, 3)) + rng.sample(BEHAVIOURS[5:], k=rng.randint(0, 2)))
    manipulative = rng.random() < max(0.02, 0.25 - skill * 0.05)
    return {
        "perspective_taking": score,
        "behaviours": [b for b in BEHAVIOURS if b in behaviours],
        "techniques": [],
        "manipulation_tactics": ["pressure"] if manipulative else [],
        "manipulative": manipulative,
    }


def seed(store: Any, turns: int = TURNS, trainees: int = TRAINEES, *, names: list[str] | None = None,
         seed_value: int = 7, chunk: int = 5000) -> dict[str, int]:  # fmt: skip
    """Bulk-insert a cohort with `turns` stored utterances into an empty store; returns what it wrote.

    Args:
        store: An open `simulator.storage.Store`.
        turns: Utterances to store (rounded down to whole calls of 12).
        trainees: How many trainees share the calls (round robin), unless `names` are given.
        names: The trainees' names (default trainee-01, trainee-02, ...).
        seed_value: Random seed: the same arguments write the same cohort.
        chunk: Rows per INSERT.
    """
    from sqlalchemy import insert

    from simulator.storage.models import CallSession, Grade, Trainee, Turn
    from simulator.storage.text import TEXT_CANON

    rng = random.Random(seed_value)
    names = names or [f"trainee-{n:02d}" for n in range(1, trainees + 1)]
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    trainee_rows = [{"id": str(uuid.uuid4()), "name": n, "created_at": start} for n in names]
    sessions, turn_rows, grade_rows = [], [], []
    calls = turns // UTTERANCES_PER_CALL
    made = [0] * len(names)
    for c in range(calls):
        who = c % len(names)
        made[who] += 1
        skill = min(3.6, 0.8 + 0.12 * made[who] + (who % 5) * 0.15)  # everyone improves, at their own pace
        sid, rounds = str(uuid.uuid4()), c // len(names)
        began = start + timedelta(minutes=7 * c)
        ended = began + timedelta(minutes=6)
        open_call = c >= calls - len(names) // 4  # a few calls still running
        sessions.append({
            "id": sid, "trainee_id": trainee_rows[who]["id"], "persona_name": PERSONAS[rounds % len(PERSONAS)],
            "persona_text": "name: seeded", "persona_hash": "sha256:seeded", "difficulty": DIFFICULTIES[rounds % 3],
            "caller_model": "bench:seed", "grader": "local:appraiser", "mode": "coach", "created_at": began,
            "ended_at": None if open_call else ended, "last_activity_at": ended,
            "outcome": None if open_call else OUTCOMES[min(4, int(rng.random() * (5 - skill)))],
            "outcome_reason": None,
        })  # fmt: skip
        for i in range(UTTERANCES_PER_CALL):
            tid = str(uuid.uuid4())
            at = began + timedelta(seconds=30 * i)
            role = "customer" if i % 2 == 0 else "agent"
            turn_rows.append({
                "id": tid, "session_id": sid, "idx": i, "role": role, "text": "seeded turn " * 4, "status": "final",
                "text_canon": TEXT_CANON, "text_altered": False, "created_at": at, "updated_at": at,
            })  # fmt: skip
            if role == "agent":
                for grader in ("local:appraiser", "llm:bench") if rng.random() < 0.1 else ("local:appraiser",):
                    grade_rows.append({
                        "turn_id": tid, "grader": grader, "status": "graded", "verdict": _verdict(rng, skill),
                        "integrity_flags": [], "grader_version": "seed", "schema_version": "1", "created_at": at,
                    })  # fmt: skip
    engine = store._engine
    with engine.begin() as conn:
        for table, rows in ((Trainee, trainee_rows), (CallSession, sessions), (Turn, turn_rows), (Grade, grade_rows)):
            for i in range(0, len(rows), chunk):
                conn.execute(insert(table), rows[i : i + chunk])
    return {"trainees": len(names), "calls": len(sessions), "turns": len(turn_rows), "grades": len(grade_rows)}


def render_page(store: Any, trainee: str | None) -> int:
    """What the page does for one view: aggregate, draw and encode the plots as gr.Plot does, build the CSV.

    Returns the bytes produced (so nothing is optimised away).
    """
    import io

    from simulator.storage import progress_csv
    from simulator.ui.progress_plots import progress_figures

    progress = store.progress(trainee)
    size = len(progress_csv(progress))
    for fig in progress_figures(progress):
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        size += buf.tell()
    return size


def _time(fn: Any, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(url: str, fig: Figure, label: str, *, turns: int, repeats: int) -> None:
    """Seed a store at `url`, then time the aggregations and the rendered views into `fig`."""
    from simulator.storage import Store

    with Store.open(url, sweep_stale_after=None) as store:
        t0 = time.perf_counter()
        wrote = seed(store, turns)
        fig.numbers[f"{label}.seed_s"] = round(time.perf_counter() - t0, 2)
        fig.numbers[f"{label}.seeded"] = wrote
        trainee = "trainee-01"
        store.progress(None)  # warm the caches once, as a running app would be
        runs = {
            "sql_trainee": lambda: store.progress(trainee),
            "sql_cohort": lambda: store.progress(None),
            "page_trainee": lambda: render_page(store, trainee),
            "page_cohort": lambda: render_page(store, None),
        }
        for key, fn in runs.items():
            samples = _time(fn, repeats)
            fig.series[f"{label}.{key}"] = [ms(s) for s in samples]
            fig.numbers[f"{label}.{key}_ms"] = Dist.of([ms(s) for s in samples]).model_dump()
        for view in ("trainee", "cohort"):
            median = Dist.of(fig.series[f"{label}.page_{view}"]).median / 1000
            fig.targets.append(check(f"{label}: {view} view rendered at {wrote['turns']:,} turns", median,
                                     le=TARGET_S, unit=" s", goal=f"< {TARGET_S:g} s (median)"))  # fmt: skip


def postgres_url() -> tuple[str | None, Any, str]:
    """A fresh database on a throwaway PostgreSQL server (tests/pg_server.py), or (None, None, why not)."""
    import sys

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tests"))
    try:
        from pg_server import PostgresUnavailable, TempPostgres
    except ImportError as exc:
        return None, None, f"tests/pg_server.py not importable: {exc}"
    server = TempPostgres()
    try:
        server.start()
        return server.create_database(), server, ""
    except PostgresUnavailable as exc:
        server.stop()
        return None, None, str(exc).splitlines()[0]


def run(*, quick: bool, postgres: bool = True, turns: int | None = None) -> Figure:
    """Measure figure 7 on SQLite, then on PostgreSQL when a throwaway server can be started."""
    turns = turns or (20_000 if quick else TURNS)
    repeats = 3 if quick else 7
    fig = Figure(key="progress", title=f"Progress and trainer views at {turns:,} stored turns")
    with measured(fig):
        with tempfile.TemporaryDirectory() as tmp:
            measure(f"sqlite:///{Path(tmp) / 'bench.db'}", fig, "sqlite", turns=turns, repeats=repeats)
        if postgres:
            url, server, why = postgres_url()
            if url is None:
                fig.notes.append(f"PostgreSQL skipped: {why}")
            else:
                try:
                    measure(url, fig, "postgresql", turns=turns, repeats=repeats)
                finally:
                    server.stop()
    return fig
