"""Runner: bounded concurrency, durable resumable results, the grade cache, budget, metering."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_evals_support import OracleGrader, write_suite

from evals.cache import CachedGrader, GradeCache
from evals.graders import GraderSet, make_graders
from evals.metering import MeteredChatModel, Usage
from evals.report import build_report
from evals.runner import check_budget, estimate, execute
from evals.runstore import GraderInfo, Manifest, RunStore
from evals.suites import Suite, load_spec
from simulator.errors import CooldownError
from simulator.llm.base import Message
from simulator.llm.fake import FakeChatModel

ROOT = Path(__file__).resolve().parent.parent


def _manifest(graders: GraderSet, suites: list[Suite]) -> Manifest:
    return Manifest(
        name="t", created="now", specs=[s.spec for s in suites], split="test", limit=None, grader="local",
        concurrency=4, graders=[GraderInfo(name=g.name, version=g.version) for g in graders.graders],
        suite_info={s.name: {"kind": s.kind, "note": s.note, "description": ""} for s in suites},
    )


def test_run_grades_every_item_once_with_bounded_concurrency(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 30)), split="test")]
    grader = OracleGrader(delay=0.01)
    graders = GraderSet(graders=[grader])
    store = RunStore.create(tmp_path / "run", _manifest(graders, suites))
    outcome = asyncio.run(execute(suites, graders, store, concurrency=3, progress=False))
    assert outcome.status == "complete" and outcome.done_now == 30
    assert grader.calls == 30
    assert 1 < grader.max_in_flight <= 3
    rows = store.read_results()
    assert len(rows) == 30 and len({r.item_id for r in rows}) == 30
    # a second execute finds everything done: no calls, no new rows
    outcome2 = asyncio.run(execute(suites, graders, store, concurrency=3, progress=False))
    assert outcome2.done_now == 0 and outcome2.skipped_done == 30 and grader.calls == 30
    assert len(store.results_path.read_text().splitlines()) == 30


def test_torn_last_line_is_ignored_and_repaired(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 6)), split="test")]
    graders = GraderSet(graders=[OracleGrader()])
    store = RunStore.create(tmp_path / "run", _manifest(graders, suites))
    asyncio.run(execute(suites, graders, store, progress=False))
    lines = store.results_path.read_text().splitlines(keepends=True)
    # simulate a kill in the middle of writing the 6th line
    store.results_path.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    assert len(store.read_results()) == 5
    grader = OracleGrader()
    outcome = asyncio.run(execute(suites, GraderSet(graders=[grader]), RunStore.open(store.dir), progress=False))
    assert outcome.done_now == 1 and grader.calls == 1
    rows = RunStore.open(store.dir).read_results()
    assert sorted(r.item_id for r in rows) == sorted(c.id for c in suites[0].cases)
    assert all(json.loads(line) for line in store.results_path.read_text().splitlines())


def test_cached_grader_makes_no_calls_on_rerun(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 12)), split="test")]
    inner = OracleGrader(name="llm:fake", version="m|p1", ungraded_every=5)
    cache = GradeCache(tmp_path / "cache" / "grades.sqlite")
    graders = GraderSet(graders=[CachedGrader(inner, cache)])
    store = RunStore.create(tmp_path / "run1", _manifest(graders, suites))
    asyncio.run(execute(suites, graders, store, progress=False))
    assert inner.calls == 12
    # a fresh run directory, same cache: only the ungraded items (not cached) are retried
    inner2 = OracleGrader(name="llm:fake", version="m|p1")
    graders2 = GraderSet(graders=[CachedGrader(inner2, cache)])
    est = estimate(suites, graders2, RunStore.create(tmp_path / "run2", _manifest(graders2, suites)))
    assert est.cached == 10 and est.requests == 2
    outcome = asyncio.run(execute(suites, graders2, RunStore.open(tmp_path / "run2"), progress=False))
    assert inner2.calls == 2 and outcome.cache_hits == 10
    # a third run: everything cached, zero calls
    inner3 = OracleGrader(name="llm:fake", version="m|p1")
    graders3 = GraderSet(graders=[CachedGrader(inner3, cache)])
    store3 = RunStore.create(tmp_path / "run3", _manifest(graders3, suites))
    asyncio.run(execute(suites, graders3, store3, progress=False))
    assert inner3.calls == 0
    assert all(r.cached for r in store3.read_results())
    # a new grader version misses the cache
    inner4 = OracleGrader(name="llm:fake", version="m|p2")
    graders4 = GraderSet(graders=[CachedGrader(inner4, cache)])
    asyncio.run(execute(suites, graders4, RunStore.create(tmp_path / "run4", _manifest(graders4, suites)),
                        progress=False))
    assert inner4.calls == 12


def test_llm_grader_is_metered_and_cached(tmp_path: Path) -> None:
    fake = FakeChatModel(role="grader")
    graders = make_graders("llm", model=fake, cache_dir=tmp_path / "cache")
    assert isinstance(graders.graders[0], CachedGrader)
    assert graders.graders[0].name.startswith("llm:")
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 3)), split="test")]
    est = estimate(suites, graders, RunStore.create(tmp_path / "run", _manifest(graders, suites)))
    assert est.requests == 3 and est.tokens_in > 3 * 100


def test_metered_model_counts_calls_and_tokens() -> None:
    usage = Usage()
    model = MeteredChatModel(FakeChatModel(["hello there, how can I help?"]), usage)
    out = asyncio.run(model.generate([Message(role="user", content="one two three four")]))
    assert out.startswith("hello")
    assert usage.calls == 1 and usage.tokens_in >= 4 and usage.tokens_out >= 5
    assert usage.cost((1.0, 2.0)) == pytest.approx((usage.tokens_in + 2 * usage.tokens_out) / 1e6)


def test_budget_ceiling_refuses_and_aborts(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 10)), split="test")]
    fake = FakeChatModel(role="grader")
    graders = make_graders("llm", model=fake, cache_dir=None)
    store = RunStore.create(tmp_path / "run", _manifest(graders, suites))
    est = estimate(suites, graders, store)
    with pytest.raises(CooldownError, match="over the budget"):
        check_budget(est, est.total // 2)
    check_budget(est, est.total + 1)
    # during the run: metered tokens over the budget stop new work; the run is resumable
    graders.usage.tokens_in = 10**6
    outcome = asyncio.run(execute(suites, graders, store, concurrency=1, budget_tokens=1000, progress=False))
    assert outcome.status == "aborted" and "budget" in (outcome.reason or "")
    assert outcome.done_now == 1


def test_retry_ungraded_regrades_only_ungraded_items(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 10)), split="test")]
    graders = GraderSet(graders=[OracleGrader(ungraded_every=5)])
    store = RunStore.create(tmp_path / "run", _manifest(graders, suites))
    asyncio.run(execute(suites, graders, store, progress=False))
    assert sum(r.grade.status == "ungraded" for r in store.read_results()) == 2
    again = OracleGrader()
    out = asyncio.run(execute(suites, GraderSet(graders=[again]), store, progress=False, retry_ungraded=True))
    assert again.calls == 2 and out.skipped_done == 8
    rows = store.read_results()
    assert len(rows) == 10 and all(r.grade.status == "graded" for r in rows)


def test_report_flags_suite_with_too_many_ungraded(tmp_path: Path) -> None:
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 40)), split="test")]
    graders = GraderSet(graders=[OracleGrader(ungraded_every=10)])
    manifest = _manifest(graders, suites)
    store = RunStore.create(tmp_path / "run", manifest)
    asyncio.run(execute(suites, graders, store, progress=False))
    manifest.status = "complete"
    report = build_report(manifest, store.read_results(), manifest.suite_info)
    counts = report["suites"][0]["graders"]["fake:oracle"]["counts"]
    assert counts["ungraded"] == 4 and counts["failed"] is True
    assert report["passed"] is False
    score = report["suites"][0]["graders"]["fake:oracle"]["score"]
    assert score["n"] == 36 and score["accuracy"] == 1.0


_CHILD = """
import sys, asyncio
sys.path[:0] = [{root!r}, {tests!r}]
import evals.graders
from test_evals_support import OracleGrader
evals.graders.local_grader = lambda: OracleGrader(name="local:fake", delay=0.02)
from evals.cli import evals as group
group(sys.argv[1:])
"""


@pytest.mark.slow
def test_killed_run_resumes_without_duplicates_or_gaps(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.jsonl", 120)
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=str(ROOT), tests=str(ROOT / "tests")))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(script), "run", str(suite), "--out", str(run_dir), "--concurrency", "4", "--no-html",
           "--no-progress", "--no-cache"]
    env = {**os.environ, "COOLDOWN_RAISE_ERRORS": "1"}
    kills = 0
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = run_dir / "results.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not results.exists() or len(results.read_bytes().splitlines()) < 20):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    before = len(RunStore.open(run_dir).read_results())
    assert 0 < before < 120
    resume = [sys.executable, str(script), "run", "--resume", str(run_dir), "--no-progress", "--no-cache"]
    done = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = results.read_text().splitlines()
    ids = [json.loads(line)["item_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 120, f"duplicates or gaps after {kills} kill(s)"
    assert f"{120 - before} items graded now, {before} already done" in done.stderr
    assert (run_dir / "report.html").is_file() and (run_dir / "report.json").is_file()


def _rows(n: int) -> list:
    from evals.runstore import ResultRow
    from simulator.grading.labels import TurnGrade

    return [ResultRow(suite="s", item_id=f"i{i}", grader="g", grader_version="1",
                      grade=TurnGrade.ungraded("g", "test"), gold={}) for i in range(n)]  # fmt: skip


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_results_are_fsynced_in_batches_and_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals import runstore

    clock = _Clock()
    synced: list[int] = []
    monkeypatch.setattr(runstore, "time", clock)
    monkeypatch.setattr(runstore.os, "fsync", lambda fd: synced.append(fd))
    graders = GraderSet(graders=[OracleGrader()])
    store = RunStore.create(tmp_path / "run", _manifest(graders, []))
    synced.clear()  # the manifest write
    for row in _rows(150):
        store.append(row)
    assert len(synced) == 1 + (150 - 1) // runstore.SYNC_EVERY_ITEMS == 3  # the first row, then batches
    # every row already reached the OS (a killed process loses none), the tail is just not fsynced yet
    assert len(RunStore.open(store.dir).read_results()) == 150
    store.close()
    assert len(synced) == 4  # close() fsyncs the tail
    store.close()
    assert len(synced) == 4


def test_slow_results_are_fsynced_within_the_time_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals import runstore

    clock = _Clock()
    synced: list[int] = []
    monkeypatch.setattr(runstore, "time", clock)
    monkeypatch.setattr(runstore.os, "fsync", lambda fd: synced.append(fd))
    store = RunStore.create(tmp_path / "run", _manifest(GraderSet(graders=[OracleGrader()]), []))
    synced.clear()
    for row in _rows(5):
        clock.now += runstore.SYNC_EVERY_S + 0.01  # an LLM grade arrives well after the last fsync
        store.append(row)
    assert len(synced) == 5
    store.sync()
    store.close()
    assert len(synced) == 5  # nothing new to fsync


def test_interrupted_run_fsyncs_its_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evals import runstore

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(runstore.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    suites = [load_spec(str(write_suite(tmp_path / "s.jsonl", 10)), split="test")]
    grader = OracleGrader()
    graders = GraderSet(graders=[grader])
    store = RunStore.create(tmp_path / "run", _manifest(graders, suites))
    synced.clear()
    asyncio.run(execute(suites, graders, store, concurrency=2, progress=False))
    assert synced, "the end of a run must fsync its results"
    assert store._unsynced == 0 and store._fh is None
    assert len(RunStore.open(store.dir).read_results()) == 10
