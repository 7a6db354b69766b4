"""The database drops mid-call (issue #16 item 5): the turn fails visibly, nothing is half-written, and the
call resumes when the database returns.

A private PostgreSQL server (not the shared one: it is crashed with `pg_ctl stop -m immediate`, which cuts
every connection, then started again on the same port and data), committing synchronously so that the
crash loses no acknowledged commit, as a production server would not. The call runs as the page runs it: a
`LiveCall` over a `CallSession` on the real store, with a scripted caller and the local appraiser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_server import PostgresUnavailable, TempPostgres

from simulator.call.session import CallSession
from simulator.config import load_settings
from simulator.errors import StorageError
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel, FakeRequest
from simulator.runtime import local_grader
from simulator.storage import Store
from simulator.storage.records import SessionRecord
from simulator.ui.live import LiveCall

PERSONA = Path(__file__).resolve().parent.parent / "personas" / "backfire_brian.yaml"
FIRST = "I'm sorry you waited in all day. That sounds really frustrating. What happened?"
SECOND = "I understand, you took the day off and nobody came. Let me look into where your parcel is."
THIRD = "Thank you for bearing with me. I can see the parcel is at the depot."
REPLY = "Fine. I took the whole day off for this, and I still want my parcel."
LOST = "This reply is spoken while the database is down, so it is never stored."


@pytest.fixture
def server() -> Iterator[TempPostgres]:
    try:
        pg = TempPostgres(crash_safe=True).start()
    except PostgresUnavailable as exc:
        pytest.fail(f"these tests need a local PostgreSQL server: {exc}", pytrace=False)
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def caller(*replies: object) -> FakeChatModel:
    fake = FakeChatModel(list(replies), default_reply=REPLY)  # type: ignore[arg-type]
    fake._info = ModelInfo(role="caller", provider="fake", model="scripted", prompt_form="chat")
    return fake


def live_call(store: Store, model: FakeChatModel) -> LiveCall:
    session = CallSession.start(
        store, PERSONA, caller_model=model, local_grader=local_grader(), trainee="Sam", settings=load_settings(),
        opening_index=0,
    )  # fmt: skip
    return LiveCall(session, trainee="Sam", mode="coach", llm_grading=False)


def assert_whole(record: SessionRecord) -> None:
    """Nothing half-written: every trainee turn is `received` with no grade and no mood (its appraisal is
    still to come), or `final` with both; every caller turn after the opening answers a final trainee turn."""
    for turn in record.turns:
        if turn.role == "agent":
            appraised = (bool(turn.grades), turn.mood is not None)
            assert (turn.status, appraised) in {("received", (False, False)), ("final", (True, True))}, turn
    for before, turn in zip(record.turns, record.turns[1:], strict=False):
        if turn.role == "customer":
            assert before.role == "agent" and before.status == "final", record.turns


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_turn_sent_while_the_database_is_down_fails_visibly_and_stores_nothing(server: TempPostgres) -> None:
    url = server.create_database()
    store = Store.open(url)
    try:
        live = live_call(store, caller())
        [_ async for _ in live.send(FIRST)]
        chat_before = list(live.chat)

        server.crash()
        with pytest.raises(StorageError, match="not saved: the database did not answer") as refused:
            [_ async for _ in live.send(SECOND)]
        assert "Nothing was sent to the caller" in str(refused.value)
        assert live.chat == chat_before  # the refused text never shows as said
        assert live.session.transcript[-1].text == REPLY and not live.session.pending_reply

        server.restart()
        [_ async for _ in live.send(SECOND)]  # the same call goes on, on the same page
        assert [m["content"] for m in live.chat[-2:]] == [SECOND, REPLY]
        record = store.load_session(live.session.id)
    finally:
        store.close()
    assert [t.text for t in record.turns if t.role == "agent"] == [FIRST, SECOND]
    assert [t.status for t in record.turns] == ["final"] * 5
    assert_whole(record)


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_database_dropping_mid_reply_fails_the_turn_and_the_call_resumes(server: TempPostgres) -> None:
    url = server.create_database()

    def speak_while_the_database_dies(request: FakeRequest) -> str:
        server.crash()  # the trainee turn is stored; its appraisal may or may not have committed
        return LOST

    store = Store.open(url)
    try:
        live = live_call(store, caller(REPLY, speak_while_the_database_dies))
        [_ async for _ in live.send(FIRST)]
        [_ async for _ in live.send(SECOND)]

        # visibly failed: the status says so, the reply shown is taken back, Retry is the way on
        assert "database did not answer" in live.status and "Retry" in live.status
        assert all(LOST not in m["content"] for m in live.chat)
        assert live.chat[-1] == {"role": "user", "content": SECOND, "_done": "1"}
        assert live.session.pending_reply and not live.ended
        with pytest.raises(StorageError):  # still down: Retry says so too, and writes nothing
            [_ async for _ in live.retry()]

        server.restart()
        with Store.open(url, sweep_stale_after=None) as look:  # what the drop left on disk
            left = look.load_session(live.session.id)
        assert [t.text for t in left.turns if t.role == "agent"] == [FIRST, SECOND]
        assert left.turns[-1].role == "agent" and LOST not in {t.text for t in left.turns}
        assert_whole(left)

        [_ async for _ in live.retry()]  # the database is back: the caller answers, the call goes on
        assert live.chat[-1]["content"] == REPLY and not live.session.pending_reply
        [_ async for _ in live.send(THIRD)]
        assert [m["content"] for m in live.chat[-2:]] == [THIRD, REPLY]
        record = store.load_session(live.session.id)
    finally:
        store.close()
    assert [t.text for t in record.turns if t.role == "agent"] == [FIRST, SECOND, THIRD]
    assert [t.status for t in record.turns] == ["final"] * 7 and LOST not in {t.text for t in record.turns}
    assert_whole(record)
    moods = [t.mood for t in record.turns if t.role == "agent"]
    assert all(m is not None for m in moods)
