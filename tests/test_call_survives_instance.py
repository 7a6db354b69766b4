"""A call survives its instance (issue #16 item 2): two real `cooldown app` processes on one PostgreSQL.

The trainee plays two turns on instance A; A is killed with SIGKILL; the trainee's next request reaches
instance B, which offers "Continue your call" and picks the call up from the database with the same
persona snapshot, mood and transcript. Checked: no turn lost, the mood goes on from where A left it (a
replay of the stored verdicts gives every stored mood), and one session row, not two. A second tab that
continues the call takes it over: the first tab's next turn is refused and stores nothing.

The instances run `tests/app_with_fakes.py` (the real app with a scripted caller: no LLM) and are driven
over HTTP with `gradio_client`, as a browser's requests would reach them through a load balancer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from app_with_fakes import REPLY
from browser_kit import free_port, wait_until_served
from pg_server import PostgresUnavailable, shared_postgres
from sqlalchemy import func, select

from simulator.call.engine import next_step
from simulator.call.mood import initial_state
from simulator.persona.loader import load_persona_text
from simulator.storage import Store
from simulator.storage.models import CallSession
from simulator.storage.records import SessionRecord

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
PERSONA = "backfire_brian"
TURNS = [
    "I'm sorry you waited in all day. That sounds really frustrating. What happened?",
    "I understand, you took the day off and nobody came. Let me look into where your parcel is.",
    "Thank you for bearing with me. I can see the parcel is at the depot; I can arrange delivery tomorrow.",
]


@contextmanager
def instance(name: str, url: str, root: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `cooldown app` process (scripted caller) on a free loopback port; yields (process, page URL)."""
    data = root / name
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLDOWN_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), COOLDOWN_DATABASE_URL=url, COOLDOWN_DATA_DIR=str(data),
        COOLDOWN_LLM_GRADING="off", GRADIO_TEMP_DIR=str(data / "gradio"), GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1", **settings,
    )  # fmt: skip
    port = free_port()
    log = data / "app.log"
    with log.open("wb") as out:
        cmd = [sys.executable, str(TESTS / "app_with_fakes.py"), "app", "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    page = f"http://127.0.0.1:{port}/"
    try:
        wait_until_served(page, proc, log)
        yield proc, page
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


def client(page: str, auth: tuple[str, str] | None = None) -> Any:
    from gradio_client import Client

    return Client(page, auth=auth, verbose=False, download_files=False)


def assert_mood_continuous(record: SessionRecord) -> None:
    """Every stored mood is the state machine applied to the mood before it: no restart from the opening."""
    persona = load_persona_text(record.persona_text, "snapshot")
    state = start = initial_state(persona, record.difficulty)
    agent = [t for t in record.turns if t.role == "agent"]
    moved = agent[1].mood is not None and (agent[1].mood.anger, agent[1].mood.trust) != (start.anger, start.trust)
    assert moved, "the mood never moved on A: a restart from the opening could not be told apart"
    for number, turn in enumerate(agent, start=1):
        local = next(g for g in turn.grades if g.grader.startswith("local"))
        state = next_step(persona, record.difficulty, state, turn.text, local.verdict, local.confidence).state
        assert turn.mood is not None, f"turn {number} has no mood"
        stored = (turn.mood.anger, turn.mood.trust, turn.mood.entrenchment)
        assert stored == (state.anger, state.trust, state.entrenchment), f"turn {number}: mood jumped"
        assert state.turn == number


@pytest.fixture
def database() -> str:
    try:
        return shared_postgres().create_database()  # empty: the two instances migrate it together
    except PostgresUnavailable as exc:
        pytest.fail(f"these tests need a local PostgreSQL server: {exc}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("signed_in", [False, True], ids=["typed-name", "sign-in"])
def test_a_call_goes_on_on_another_instance_after_kill_9(database: str, tmp_path: Path, signed_in: bool) -> None:
    auth = ("sam", "pw-sam") if signed_in else None
    settings = {"COOLDOWN_AUTH": "sam:pw-sam,kim:pw-kim"} if signed_in else {}
    name = "" if signed_in else "Sam"  # signed in, the sign-in names the trainee and the name box is hidden
    with ExitStack() as stack:
        proc_a, page_a = stack.enter_context(instance("a", database, tmp_path, **settings))
        _, page_b = stack.enter_context(instance("b", database, tmp_path, **settings))

        on_a = client(page_a, auth)
        started = on_a.predict(name, PERSONA, "normal", "coach", api_name="/start_call")
        assert "Brian" in started[3], started[3]
        seen_on_a: Any = None
        for text in TURNS[:2]:
            out = on_a.predict(text, api_name="/send")
            assert REPLY in str(out[0]), out[3]
            seen_on_a = out[0]
        on_a.close()

        proc_a.send_signal(signal.SIGKILL)  # the instance holding the call dies without a word
        assert proc_a.wait(30) == -signal.SIGKILL

        on_b = client(page_b, auth)  # the trainee's next request reaches B, which never saw this call
        offered = on_b.predict(TURNS[2], api_name="/send")
        assert "Continue your call" in offered[3], offered[3]
        if signed_in:  # the sign-in names the trainee, so the offer names the call
            assert "Brian" in offered[3] and "2 of your turns" in offered[3], offered[3]
        resumed = on_b.predict(name, api_name="/continue_call")
        assert "Back on the line" in resumed[3], resumed[3]
        assert resumed[0] == seen_on_a  # the same transcript, word for word
        out = on_b.predict(TURNS[2], api_name="/send")
        assert TURNS[2] in str(out[0]) and str(out[0]).count(REPLY) == 3, out[3]

        second_tab = client(page_b, auth)  # the same trainee continues the call in another tab
        assert "Back on the line" in second_tab.predict(name, api_name="/continue_call")[3]
        refused = on_b.predict("Are you still there?", api_name="/send")  # the first tab has lost its voice
        assert "continued in another window" in refused[3], refused[3]
        second_tab.close()
        on_b.close()

    with Store.open(database, sweep_stale_after=None) as store:
        with store._engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(CallSession)).scalar_one() == 1
        (summary,) = store.list_sessions()
        record = store.load_session(summary.id)
    assert record.trainee == ("sam" if signed_in else "Sam") and record.ended_at is None
    assert [(t.role, t.status) for t in record.turns] == [("customer", "final")] + [
        ("agent", "final"), ("customer", "final")
    ] * 3  # fmt: skip
    assert [t.text for t in record.turns if t.role == "agent"] == TURNS  # 0 lost turns
    assert [t.index for t in record.turns] == list(range(7))
    assert_mood_continuous(record)
