"""A whole call in the terminal against the real embedded model (SmolLM2-135M), greeting to outcome.

Asserts on structure only, never on what the 135M model says.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli.chat import chat
from simulator.llm.embedded import POOL
from simulator.storage import Store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FACTS = "Our tracking shows it was delivered at 14:14, so it was delivered."


@pytest.fixture(autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    POOL.stop_all()


def test_terminal_call_against_embedded_model_reaches_an_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOLDOWN_DATA_DIR", str(tmp_path))
    script = "\n".join([FACTS] * 14) + "\n"  # fact-dumping: the state machine ends the call early
    result = CliRunner().invoke(
        chat, ["--persona", "backfire_brian", "--trainee", "it", "--no-llm-grading"], input=script
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "embedded SmolLM2-135M" in out
    assert "*** The call ended:" in out
    assert "[mood: " in out and "Debrief" in out
    with Store.open(f"sqlite:///{tmp_path / 'cooldown.db'}") as store:
        [summary] = store.list_sessions("it")
        record = store.load_session(summary.id)
    assert summary.outcome in {"resolved", "hung_up", "escalated", "out_of_turns"}
    final = [t for t in record.turns if t.status == "final"]
    roles = [t.role for t in final]
    assert roles[0] == "customer" and roles[-1] == "customer"
    assert all(a != b for a, b in itertools.pairwise(roles))  # strictly alternating
    assert all(t.text.strip() for t in final)
    assert all(t.text.count("AGENT:") == 0 for t in final if t.role == "customer")
    agent_turns = [t for t in final if t.role == "agent"]
    assert agent_turns and all(t.mood is not None and t.grades for t in agent_turns)
