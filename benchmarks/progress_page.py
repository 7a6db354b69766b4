"""Figure 7: the progress and trainer views at 100k stored turns (issue 15 item 4: the page renders < 1 s).

`seed(store, turns=...)` bulk-inserts a cohort (trainees × calls × 12 utterances, every trainee turn graded
by the local appraiser, one in ten also by an LLM grader; scores that improve over a trainee's calls) in a
few multi-row INSERT transactions. The figure then times, for SQLite and (when the server binaries are
installed) PostgreSQL, what the page does: the SQL aggregations (`Store.progress`) and the whole view as
the server builds it (`PageViews`: the handler, the CSV file, and Gradio's postprocessing of every output
into what the browser receives, the charts as inline SVG). Medians of several
repeats, with the load average beside them.
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
from simulator.ui.progress_charts import CHARTS

TURNS = 100_000
UTTERANCES_PER_CALL = 12
TRAINEES = 40
PERSONAS = ("backfire_brian", "dana_delayed_order", "grace_grieving", "kofi_roaming_bill", "omar_out_of_stock")
"""Built-in personas: the charts (and their screenshots) name them as a trainee reads them."""
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
    sessions: list[dict[str, object]] = []
    turn_rows: list[dict[str, object]] = []
    grade_rows: list[dict[str, object]] = []
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
    store.rebuild_rollups()  # the rows went around the store, which keeps the rollups itself
    if engine.dialect.name == "postgresql":  # what autovacuum does within a minute of a load this size
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"trainees": len(names), "calls": len(sessions), "turns": len(turn_rows), "grades": len(grade_rows)}


class PageViews:
    """The progress views' handlers on a page built over `store` with sign-in on and a trainer (no server).

    `trainer(scope)` and `trainee(name)` run what a click on Show does on the server: the handler (SQL
    aggregations, the charts, the cohort table, the CSV file written) and Gradio's postprocessing of every
    output into the JSON the browser receives.
    """

    def __init__(self, store: Any, folder: Path) -> None:
        """Build the page's components and handlers over `store` (inside a throwaway `gr.Blocks`)."""
        import gradio as gr

        from simulator.config import load_settings
        from simulator.llm.fake import FakeChatModel
        from simulator.persona.library import default_library
        from simulator.ui.deps import AppDeps, local_grader
        from simulator.ui.handlers import PageHandlers
        from simulator.ui.layout import page_layout
        from simulator.ui.library import CallerLibrary
        from simulator.ui.progress import ProgressHandlers

        settings = load_settings(llm_grading=False, auth="bench@trainer:bench-password", data_dir=folder)
        library = CallerLibrary(default_library(settings))
        with gr.Blocks():
            self.page = page_layout("", library, ask_name=False, max_turn_chars=2000, llm_on=False)
        deps = AppDeps(FakeChatModel(default_reply="-"), local_grader(), None, store)
        self.handlers = ProgressHandlers(PageHandlers(self.page, settings, deps, library, auth_on=True),
                                         frozenset({"bench"}))  # fmt: skip
        self.folder = str(folder)

    @staticmethod
    def _sent(updates: dict[Any, Any]) -> int:
        """Postprocess every output as Gradio does before sending it; the JSON's size."""
        import json

        size = 0
        for component, value in updates.items():
            if hasattr(value, "constructor_args"):  # a property update, e.g. gr.Dataframe(value=...)
                value = value.constructor_args.get("value")
            if value is None or not hasattr(component, "postprocess") or type(component).__name__ == "Dropdown":
                continue  # the picker's new choices come with its update; its value alone is a few bytes
            out = component.postprocess(value)
            size += len(json.dumps(out.model_dump() if hasattr(out, "model_dump") else out, default=str))
        return size

    def trainer(self, scope: str | None) -> int:
        """The Trainer tab's Show, for the whole cohort (None) or one trainee."""
        from types import SimpleNamespace

        from simulator.ui.progress import COHORT

        request = SimpleNamespace(username="bench")
        updates = self.handlers.trainer_show(scope or COHORT, self.folder, request)  # type: ignore[arg-type]
        assert self.page.trainer.view.charts in updates, updates
        return self._sent(updates)

    def trainee(self, name: str) -> int:
        """The History tab's progress for a signed-in trainee (drawn as the tab opens, and on its Refresh)."""
        from types import SimpleNamespace

        updates = self.handlers.my_progress(None, SimpleNamespace(username=name))  # type: ignore[arg-type]
        return self._sent(updates)


DRAWN = """([prefix, charts, text, also]) => {
    const shown = el => !!el && el.checkVisibility({opacityProperty: true, visibilityProperty: true})
        && el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0;
    const paint = p => !!p && p !== 'none' && p !== 'transparent' && !/^rgba\\(.*,\\s*0\\)$/.test(p);
    const painted = m => { const s = getComputedStyle(m), b = m.getBBox();
        return (b.width > 0 || b.height > 0) && (paint(s.fill) || paint(s.stroke)); };
    const summary = document.querySelector(`#${prefix}-summary`);
    return shown(summary) && summary.innerText.includes(text)
        && charts.every(c => {
            const figure = document.querySelector(`#${prefix}-charts figure[data-chart="${c}"]`);
            const marks = figure ? [...figure.querySelectorAll('svg [data-mark]')] : [];
            return shown(figure) && shown(figure.querySelector('svg')) && marks.length > 0 && marks.every(painted);
        })
        && also.every(selector => shown(document.querySelector(selector)));
}"""
"""True once everything a progress view shows after a click is visible: the summary, naming what was asked
for; every chart (a `<figure data-chart=...>` of `simulator.ui.progress_charts`), laid out with a size, and
every data mark in it drawn with a size and a visible fill or stroke (a chart without data shows a note,
which is its mark); and each of the `also` selectors visible (the trainer's cohort table and CSV button)."""
COHORT_ALSO = ["#trainer-table table tbody tr", "#trainer-csv"]
"""What the cohort view shows besides the summary and charts (the per-trainee table, the CSV download)."""


def browser_times(store: Any, folder: Path, repeats: int) -> dict[str, list[float]]:
    """Seconds from a click on Show to the view drawn in headless Chromium (Debian's), per view.

    The page is the real one (`app.build`, sign-in on) over `store`, served in-process; each repeat loads
    the page afresh, so nothing is drawn before the click. Raises RuntimeError when Chromium or Playwright
    is missing.
    """
    from playwright.sync_api import sync_playwright

    from simulator.config import load_settings
    from simulator.llm.fake import FakeChatModel
    from simulator.ui.app import build, launch_kwargs
    from simulator.ui.deps import AppDeps, local_grader

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        raise RuntimeError("Debian's chromium is not installed (scripts/setup.sh)")
    auth = "bench@trainer:bench-password,trainee-01:trainee-password"
    settings = load_settings(llm_grading=False, auth=auth, data_dir=folder)
    demo = build(settings, AppDeps(FakeChatModel(default_reply="-"), local_grader(), None, store))
    demo.queue(default_concurrency_limit=16, max_size=100)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    demo.launch(**launch_kwargs(settings, "127.0.0.1", port), prevent_thread_lock=True, quiet=True)
    times: dict[str, list[float]] = {"browser_trainee": [], "browser_cohort": []}
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium), args=args, headless=True)
            for user, password, key in (("trainee-01", "trainee-password", "browser_trainee"),
                                        ("bench", "bench-password", "browser_cohort")):  # fmt: skip
                page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
                page.goto(str(demo.local_url))
                page.locator("input[type=text]").first.fill(user)
                page.locator("input[type=password]").first.fill(password)
                page.get_by_role("button", name="Login").click()
                for _ in range(repeats):
                    page.locator(".cd-card").first.wait_for(timeout=60_000)
                    cohort = key == "browser_cohort"
                    tab = page.get_by_role("tab", name="Trainer" if cohort else "History")
                    prefix, text = ("trainer", "The whole cohort") if cohort else ("my-progress", user)
                    if cohort:
                        tab.click()
                    t0 = time.perf_counter()
                    # the trainee's progress is drawn as the History tab opens; the cohort's on "Show"
                    (page.locator("#trainer-show") if cohort else tab).click()
                    also = COHORT_ALSO if cohort else []
                    page.wait_for_function(DRAWN, arg=[prefix, list(CHARTS), text, also], timeout=60_000, polling=10)
                    times[key].append(time.perf_counter() - t0)
                    page.reload()
                page.context.close()
            browser.close()
    finally:
        demo.close()
    return times


def _time(fn: Any, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(url: str, fig: Figure, label: str, *, turns: int, repeats: int, browser: bool = False) -> None:
    """Seed a store at `url`, then time the aggregations and the rendered views into `fig`."""
    from simulator.storage import Store

    with Store.open(url, sweep_stale_after=None) as store, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        wrote = seed(store, turns)
        fig.numbers[f"{label}.seed_s"] = round(time.perf_counter() - t0, 2)
        fig.numbers[f"{label}.seeded"] = wrote
        trainee = "trainee-01"
        views = PageViews(store, Path(tmp))
        views.trainer(None)  # warm the caches once, as a running app would be
        runs = {
            "sql_trainee": lambda: store.progress(trainee),
            "sql_cohort": lambda: store.progress(None),
            "page_trainee": lambda: views.trainee(trainee),
            "page_trainer_one": lambda: views.trainer(trainee),
            "page_cohort": lambda: views.trainer(None),
        }
        for key, fn in runs.items():
            samples = _time(fn, repeats)
            fig.series[f"{label}.{key}"] = [ms(s) for s in samples]
            fig.numbers[f"{label}.{key}_ms"] = Dist.of([ms(s) for s in samples]).model_dump()
        if browser:
            try:
                for key, samples in browser_times(store, Path(tmp), max(3, repeats // 2)).items():
                    fig.series[f"{label}.{key}"] = [ms(s) for s in samples]
                    fig.numbers[f"{label}.{key}_ms"] = Dist.of([ms(s) for s in samples]).model_dump()
                    fig.targets.append(check(f"{label}: {key.split('_')[1]} view drawn in Chromium after a click",
                                             Dist.of(samples).median, le=TARGET_S, unit=" s",
                                             goal=f"< {TARGET_S:g} s (median)"))  # fmt: skip
            except (ImportError, RuntimeError) as exc:
                fig.notes.append(f"{label}: browser timing skipped: {exc}")
        for view, what in (("trainee", "trainee's progress"), ("cohort", "trainer's cohort view")):
            median = Dist.of(fig.series[f"{label}.page_{view}"]).median / 1000
            fig.targets.append(check(f"{label}: {what} at {wrote['turns']:,} turns, server side", median,
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


def run(*, quick: bool, postgres: bool = True, turns: int | None = None, browser: bool | None = None) -> Figure:
    """Measure figure 7 on SQLite, then on PostgreSQL when a throwaway server can be started.

    `browser` (default: in full runs) also times the views drawn in headless Chromium after a click.
    """
    browser = (not quick) if browser is None else browser
    turns = turns or (20_000 if quick else TURNS)
    repeats = 3 if quick else 7
    fig = Figure(key="progress", title=f"Progress and trainer views at {turns:,} stored turns")
    with measured(fig):
        with tempfile.TemporaryDirectory() as tmp:
            measure(f"sqlite:///{Path(tmp) / 'bench.db'}", fig, "sqlite", turns=turns, repeats=repeats,
                    browser=browser)  # fmt: skip
        if postgres:
            url, server, why = postgres_url()
            if url is None:
                fig.notes.append(f"PostgreSQL skipped: {why}")
            else:
                try:
                    measure(url, fig, "postgresql", turns=turns, repeats=repeats, browser=browser)
                finally:
                    server.stop()
    return fig
