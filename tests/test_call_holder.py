"""One call, one voice: a call picked up again elsewhere (`CallSession.resume`) takes it over.

The copy it was taken from (an old tab that comes back, a tab on an instance that was only unreachable)
is refused from then on (`CallTakenOver`), so turns from two copies never interleave and the old tab's
clean-up never ends the call that went on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_call import EMPATHY, OFFER, PERSONA, KeywordGrader, _caller

from simulator.call.session import CallerDone, CallSession, TurnFailed
from simulator.config import load_settings
from simulator.errors import CallTakenOver, StorageError
from simulator.storage import Store
from simulator.ui.live import LiveCall, abandon_on_close


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'calls.db'}") as s:
        yield s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def new_session(store: Store, holder: str | None) -> str:
    return store.create_session(
        trainee="ann", persona_name="dana", persona_text="name: Dana\n", difficulty="hard",
        caller_model="fake:caller", grader="local:appraiser", holder=holder,
    )  # fmt: skip


def test_only_the_holder_adds_turns_and_ends_the_call(store: Store) -> None:
    sid = new_session(store, "tab-1")
    store.add_turn(sid, "customer", "Where is my parcel?", holder="tab-1")
    store.claim_session(sid, "tab-2")
    with pytest.raises(CallTakenOver, match="continued in another window"):
        store.add_turn(sid, "agent", "Let me check", holder="tab-1")
    with pytest.raises(CallTakenOver):
        store.end_session(sid, "abandoned", "closed", holder="tab-1")
    store.add_turn(sid, "agent", "Let me check", holder="tab-2")
    store.add_turn(sid, "customer", "Go on then.")  # tools and sweepers name no holder: always allowed
    assert [t.text for t in store.load_session(sid).turns] == ["Where is my parcel?", "Let me check", "Go on then."]
    store.end_session(sid, "abandoned", "closed", holder="tab-2")
    with pytest.raises(StorageError, match="has ended"):
        store.claim_session(sid, "tab-3")


def test_calls_stored_without_a_holder_take_any(store: Store) -> None:
    sid = new_session(store, None)
    store.add_turn(sid, "customer", "Hello?", holder="anyone")
    store.claim_session(sid, "tab-1")
    with pytest.raises(CallTakenOver):
        store.add_turn(sid, "agent", "Hi", holder="anyone")


@pytest.mark.anyio
async def test_a_call_picked_up_elsewhere_refuses_the_old_copy(store: Store) -> None:
    settings = load_settings()
    old = CallSession.start(
        store, PERSONA, caller_model=_caller(), local_grader=KeywordGrader(), settings=settings, opening_index=0
    )
    old_tab = LiveCall(old, trainee="ann", mode="coach", llm_grading=False)
    assert [e async for e in old.take_turn(EMPATHY) if isinstance(e, CallerDone)]

    grader = KeywordGrader()
    new = await CallSession.resume(store, old.id, caller_model=_caller(), local_grader=grader, settings=settings)
    assert new.state == old.state and new.transcript == old.transcript
    with pytest.raises(CallTakenOver):
        [_ async for _ in old_tab.send(OFFER)]
    abandon_on_close(old_tab)  # the old tab's state expiring must not end the call that went on
    assert store.load_session(new.id).ended_at is None

    events = [e async for e in new.take_turn(OFFER)]
    assert [e for e in events if isinstance(e, CallerDone)] and not [e for e in events if isinstance(e, TurnFailed)]
    record = store.load_session(new.id)
    assert [t.text for t in record.turns if t.role == "agent"] == [EMPATHY, OFFER]


@pytest.mark.anyio
async def test_picking_up_a_turn_left_without_its_appraisal_stores_it_whole(store: Store) -> None:
    """The instance died (or the database dropped) between storing a trainee turn and its appraisal."""
    settings = load_settings()
    old = CallSession.start(
        store, PERSONA, caller_model=_caller(), local_grader=KeywordGrader(), settings=settings, opening_index=0
    )
    store.add_turn(old.id, "agent", EMPATHY, status="received")  # what the crash left
    grader = KeywordGrader()
    new = await CallSession.resume(store, old.id, caller_model=_caller(), local_grader=grader, settings=settings)
    turn = store.load_session(new.id).turns[-1]
    assert (turn.status, bool(turn.grades), turn.mood is not None) == ("final", True, True)
    assert (turn.mood.anger, turn.mood.trust) == (new.state.anger, new.state.trust)  # type: ignore[union-attr]
    assert new.pending_reply
    assert [e async for e in new.retry() if isinstance(e, CallerDone)]
    assert [t.status for t in store.load_session(new.id).turns] == ["final", "final", "final"]
