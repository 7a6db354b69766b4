"""`cooldown chat` and `cooldown sessions` end to end with fakes, plus the kill -9 durability check."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import simulator.cli.chat as chat_module
from simulator.cli.chat import chat, sessions
from simulator.config import load_settings
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel, FakeRequest
from simulator.runtime import Runtime, open_store
from simulator.storage import Store

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

EMPATHY = "That must feel awful, taking the day off and nobody knocked. How does it look from your side?"
OFFER = "Let's check the side gate together, and if it's not there I'll send a replacement for Thursday."


def fake_runtime(llm_grading: bool | None = None) -> Runtime:
    """Stands in for `chat.build_runtime`: a scripted caller (optionally slow, logging each request),
    the keyword grader and the configured store."""
    from test_call import KeywordGrader

    marker = os.environ.get("COOLDOWN_TEST_MARKER")
    latency = float(os.environ.get("COOLDOWN_TEST_LATENCY", "0"))

    def reply(request: FakeRequest) -> str:
        if marker:
            with open(marker, "a", encoding="utf-8") as fh:
                fh.write(request.text.rsplit("\n", 1)[-1][:60] + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return "I was home all day. Nobody knocked, not once."

    model = FakeChatModel([reply] * 200, latency_s=latency)
    model._info = ModelInfo(role="caller", provider="fake", model="fake-caller", prompt_form="chat")
    return Runtime(model, KeywordGrader(), None, open_store(load_settings()))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(chat_module, "build_runtime", fake_runtime)
    monkeypatch.setenv("COOLDOWN_DATA_DIR", str(tmp_path))
    return tmp_path


def _store(data_dir: Path) -> Store:
    return Store.open(f"sqlite:///{data_dir / 'cooldown.db'}")


def test_chat_plays_scripted_call_to_outcome_and_debrief(env: Path) -> None:
    script = "\n".join([EMPATHY, "", EMPATHY, EMPATHY, OFFER, "this line comes after the end"]) + "\n"
    result = CliRunner().invoke(chat, ["--persona", "backfire_brian", "--trainee", "sam"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("You: ") == 4  # the blank line is skipped; the line after the outcome is never played
    assert "Brian: Your website says" in out or "Brian: I've got a 'delivered' email" in out
    assert out.count("[mood: ") == 4
    assert "[local grade: perspective 4/4" in out
    assert "*** The call ended: resolved" in out
    assert "# Debrief" in out or "Debrief" in out
    with _store(env) as store:
        [summary] = store.list_sessions("sam")
        assert summary.outcome == "resolved"
        record = store.load_session(summary.id)
    assert [t.role for t in record.turns] == ["customer", "agent"] * 4 + ["customer"]
    assert all(t.status == "final" for t in record.turns)


def test_chat_eof_ends_call_as_abandoned(env: Path) -> None:
    result = CliRunner().invoke(
        chat, ["--persona", "backfire_brian", "--trainee", "kim", "--mode", "exam"], input="Hello.\n"
    )
    assert result.exit_code == 0, result.output
    assert "You ended the call before it was resolved" in result.output
    assert "local grade" not in result.output  # exam mode: feedback only in the debrief
    with _store(env) as store:
        [summary] = store.list_sessions("kim")
    assert summary.outcome == "abandoned" and summary.turn_count == 3


def test_exam_mode_hides_mood_and_labels_until_the_debrief(env: Path) -> None:
    script = "\n".join([EMPATHY] + ["Our tracking says it was delivered."] * 6) + "\n"
    result = CliRunner().invoke(
        chat, ["--persona", "backfire_brian", "--trainee", "eve", "--mode", "exam"], input=script
    )
    assert result.exit_code == 0, result.output
    during, sep, debrief = result.output.partition("# Debrief")
    assert sep, result.output
    assert "*** The call ended: hung up; the debrief says why" in during
    assert "exam mode" in during.lower()  # the trainee is told where the feedback went
    for leak in ("[mood", "anger", "trust", "entrenchment", "fact_confrontation", "perspective_taking", "grade:"):
        assert leak not in during, f"{leak!r} shown during an exam call:\n{during}"
    assert "fact confrontation" in debrief  # everything comes out in the debrief (in words)


def test_sessions_list_show_export(env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(chat, ["--persona", "backfire_brian", "--trainee", "lee"], input=EMPATHY + "\n").exit_code == 0
    listed = runner.invoke(sessions, ["list"])
    assert listed.exit_code == 0 and "backfire_brian" in listed.output and "abandoned" in listed.output
    with _store(env) as store:
        sid = store.list_sessions("lee")[0].id
    shown = runner.invoke(sessions, ["show", sid[:8]])
    assert shown.exit_code == 0 and EMPATHY in shown.output and "Mood" in shown.output
    md = runner.invoke(sessions, ["export", sid, "--format", "md"])
    assert md.exit_code == 0 and md.output.startswith(f"# Cooldown session {sid}")
    out = tmp_path / "call.json"
    js = runner.invoke(sessions, ["export", sid[:6], "--format", "json", "--out", str(out)])
    assert js.exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["id"] == sid and [t["text"] for t in data["turns"]][1] == EMPATHY


def test_sessions_list_counts_the_trainees_turns_not_messages(env: Path) -> None:
    runner = CliRunner()
    script = EMPATHY + "\n" + OFFER + "\n"
    played = runner.invoke(chat, ["--persona", "backfire_brian", "--trainee", "tia"], input=script)
    assert played.exit_code == 0, played.output
    listed = runner.invoke(sessions, ["list"])
    header, row = listed.output.splitlines()[:2]
    assert "turns" in header.split()
    assert row.split()[header.split().index("turns") + 1] == "2", listed.output  # "started" takes two words
    with _store(env) as store:
        [summary] = store.list_sessions("tia")
    assert (summary.turn_count, summary.trainee_turns) == (5, 2)  # opening + 2 x (trainee, caller)


def test_friendly_errors_without_tracebacks(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)
    runner = CliRunner()
    bad = runner.invoke(chat, ["--persona", "no_such_caller"], input="hi\n")
    assert bad.exit_code == 1
    assert "no persona named 'no_such_caller'" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(sessions, ["show", "deadbeef"])
    assert missing.exit_code == 1 and "no session starts with" in missing.output
    bad_level = runner.invoke(chat, ["--persona", "backfire_brian", "--difficulty", "insane"])
    assert bad_level.exit_code == 2 and "Traceback" not in bad_level.output


def test_rejected_input_is_reported_and_the_call_goes_on(env: Path) -> None:
    script = "x" * 3000 + "\n" + EMPATHY + "\n"
    result = CliRunner().invoke(chat, ["--persona", "backfire_brian", "--trainee", "max"], input=script)
    assert result.exit_code == 0
    assert "the limit is 2,000" in result.output
    assert result.output.count("[mood: ") == 1


# --- durability: kill -9 mid-turn -----------------------------------------------------------------


def _spawn(data_dir: Path, marker: Path, latency: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "COOLDOWN_DATA_DIR": str(data_dir),
        "COOLDOWN_TEST_MARKER": str(marker),
        "COOLDOWN_TEST_LATENCY": str(latency),
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
    }
    return subprocess.Popen(
        [sys.executable, str(TESTS / "chat_with_fakes.py"), "--persona", "backfire_brian", "--trainee", "kill"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _wait_for_lines(path: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text(encoding="utf-8").splitlines()) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"the chat process did not reach caller request {n} within {timeout} s")


def _kill_loop(tmp_path: Path, kills: int, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    sent: list[str] = []
    verified = 0
    for k in range(kills):
        marker = tmp_path / f"marker-{k}.txt"
        proc = _spawn(data_dir, marker, latency=0.3)  # each caller reply takes a while to start
        assert proc.stdin is not None
        n_turns = rng.randint(2, 5)
        lines = [f"Kill {k} turn {i}: I hear you, what happened on Tuesday? {rng.random():.6f}" for i in range(n_turns)]
        proc.stdin.write("".join(line + "\n" for line in lines))
        proc.stdin.flush()
        sent.extend(lines)
        _wait_for_lines(marker, 1)
        time.sleep(rng.uniform(0.0, 0.3 * n_turns))  # kill at a random moment, usually mid-turn
        committed = len(marker.read_text(encoding="utf-8").splitlines())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # Every trainee turn the caller was asked about had been committed before the request.
        del sent[len(sent) - n_turns + committed :]
        with _store(data_dir) as store:
            assert store.integrity_check() == "ok"
            stored = {t.text for s in store.list_sessions("kill") for t in store.load_session(s.id).turns}
        missing = [s for s in sent if s not in stored]
        assert not missing, f"kill {k}: committed trainee turns lost: {missing}"
        verified = len(sent)
    return kills, verified


def test_trainee_turns_survive_kill_9_mid_turn(tmp_path: Path) -> None:
    kills, verified = _kill_loop(tmp_path, kills=2, seed=4)
    print(f"\nkill -9: {kills} kills mid-turn, {verified} committed trainee turns verified")


@pytest.mark.reliability
@pytest.mark.slow
def test_trainee_turns_survive_many_kills(tmp_path: Path) -> None:
    kills, verified = _kill_loop(tmp_path, kills=12, seed=11)
    print(f"\nkill -9: {kills} kills mid-turn, {verified} committed trainee turns verified")
