"""The label store: durable (fsync, a kill -9 after a save loses nothing), versioned per rater, checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from label_kit import write_turns
from pydantic import ValidationError

from simulator.grading.labels import Behaviour
from simulator.labelling import LabelDraft, LabelError, LabelRecord, LabelStore, TechniqueMark, check_draft, load_items
from simulator.labelling.export import adjudicate, check_complete, rater_suite, write_suite
from simulator.labelling.records import verbatim

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def turns(tmp_path: Path) -> Path:
    return write_turns(tmp_path / "turns.jsonl", 4)


def _draft(score: int = 3, **kw: object) -> LabelDraft:
    return LabelDraft(behaviours=["reflection"], score=score, **kw)  # type: ignore[arg-type]


def test_a_save_is_a_line_in_the_raters_file_beside_the_turns(turns: Path) -> None:
    items = load_items(turns)
    store = LabelStore(turns)
    record = store.save("ann", items[0], _draft())
    assert record.version == 1 and record.rater == "ann" and record.item_id == items[0].id
    path = turns.parent / "turns.labels" / "ann.jsonl"
    assert store.rater_path("ann") == path
    line = json.loads(path.read_text(encoding="utf-8"))
    assert line["verdict"]["behaviours"] == ["reflection"] and line["item_digest"] == items[0].digest()
    assert store.raters() == ["ann"]


def test_every_save_is_a_new_version_the_latest_wins_and_earlier_ones_stay(turns: Path) -> None:
    items = load_items(turns)
    store = LabelStore(turns)
    store.save("ann", items[0], _draft(1))
    store.save("ann", items[0], _draft(2))
    store.save("bo", items[0], _draft(4))
    store.save("ann", items[1], _draft(0))
    last = store.save("ann", items[0], _draft(3))
    assert last.version == 3
    assert [r.verdict.perspective_taking for r in store.history("ann", items[0].id)] == [1, 2, 3]
    assert [r.version for r in store.history("ann", items[0].id)] == [1, 2, 3]
    latest = store.latest("ann")
    assert latest[items[0].id].verdict.perspective_taking == 3 and latest[items[1].id].version == 1
    assert store.latest("bo")[items[0].id].version == 1  # versions are per rater


def test_a_label_of_a_turn_whose_text_changed_is_stale(turns: Path, tmp_path: Path) -> None:
    store = LabelStore(turns)
    items = load_items(turns)
    store.save("ann", items[0], _draft())
    lines = turns.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["trainee_turn"] += " Anything else?"
    turns.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    assert store.current("ann", load_items(turns)) == {}
    assert items[0].id in store.latest("ann")


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        (LabelDraft(behaviours=["reflection"]), "choose a score from 0 to 4"),
        (LabelDraft(score=7), "score 7 is out of range; the score is 0 to 4"),
        (LabelDraft(score=-1), "score -1 is out of range"),
        (LabelDraft(score=2, behaviours=["listening"]), "unknown behaviour 'listening'; use one of: open_question"),
        (LabelDraft(score=2, tactics=["bribery"]), "unknown tactic 'bribery'"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="flattery", use="ethical", evidence="x")]),
         "unknown technique 'flattery'"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="halo", evidence="Family coming")]),
         "halo: choose how it is used, ethical or manipulative"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="halo", use="sneaky", evidence="Family coming")]),
         "halo: choose how it is used, ethical or manipulative (not 'sneaky')"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="anchoring", use="ethical")]),
         "anchoring: mark the words of the turn that show it (evidence)"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="anchoring", use="ethical", evidence="2 weeks")]),
         "anchoring: evidence '2 weeks' is not in the turn word for word"),
        (LabelDraft(score=2, techniques=[TechniqueMark(technique="", use="ethical")]),
         "given without its technique"),
    ],
)
def test_bad_labels_are_refused_with_what_to_fix(turns: Path, draft: LabelDraft, expected: str) -> None:
    item = load_items(turns)[0]
    store = LabelStore(turns)
    with pytest.raises(LabelError) as err:
        store.save("ann", item, draft)
    assert expected in str(err.value)
    assert not store.rater_path("ann").exists()  # nothing written


def test_every_problem_is_reported_at_once() -> None:
    draft = LabelDraft(score=9, behaviours=["nice"], tactics=["bribery"])
    with pytest.raises(LabelError) as err:
        check_draft(draft, "turn")
    assert len(err.value.problems) == 3


def test_a_good_label_gives_the_rubric_verdict() -> None:
    turn = "I'll refund the $79 today. Accept now or the offer is gone forever."
    verdict = check_draft(LabelDraft(
        behaviours=["solution_offer", "solution_offer"], score=1, tactics=["false_urgency"],
        techniques=[TechniqueMark(technique="loss_aversion", use="manipulative", evidence="the offer is gone forever")],
    ), turn)  # fmt: skip
    assert verdict.behaviours == [Behaviour.SOLUTION_OFFER] and verdict.manipulative


def test_records_and_drafts_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        LabelDraft.model_validate({"score": 2, "scroe": 3})
    with pytest.raises(ValidationError):
        TechniqueMark.model_validate({"technique": "halo", "use": "ethical", "evidence": "x", "why": "y"})
    good = {"item_id": "a", "rater": "ann", "version": 1, "saved_at": "2026-01-01T00:00:00Z", "item_digest": "d",
            "verdict": {"perspective_taking": 1}}
    LabelRecord.model_validate(good)
    with pytest.raises(ValidationError):
        LabelRecord.model_validate({**good, "extra": 1})


@pytest.mark.parametrize("name", ["", "  ", "ann/../../etc", ".hidden", "a" * 41, "ann bo"])
def test_a_rater_name_that_cannot_name_a_file_is_refused(turns: Path, name: str) -> None:
    with pytest.raises(LabelError, match="rater name"):
        LabelStore(turns).save(name, load_items(turns)[0], _draft())


def test_a_torn_last_line_from_a_crash_mid_save_is_skipped_then_trimmed(turns: Path) -> None:
    items = load_items(turns)
    store = LabelStore(turns)
    store.save("ann", items[0], _draft(2))
    path = store.rater_path("ann")
    with path.open("ab") as fh:
        fh.write(b'{"item_id": "per-0002", "rater": "ann", "vers')  # the process died mid-write
    assert list(store.latest("ann")) == [items[0].id]
    store.save("ann", items[1], _draft(1))
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_a_corrupt_line_in_the_middle_is_named(turns: Path) -> None:
    store = LabelStore(turns)
    store.save("ann", load_items(turns)[0], _draft())
    path = store.rater_path("ann")
    path.write_bytes(b"not json\n" + path.read_bytes())
    with pytest.raises(LabelError, match=r"ann\.jsonl:1: not a saved label"):
        store.latest("ann")


def test_a_turns_file_with_problems_reports_them_all(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "trainee_turn": "hi"}\n{"id": "a", "trainee_turn": "again"}\nnot json\n'
                    '{"id": "c"}\n{"id": "d", "trainee_turn": "x", "colour": 1}\n', encoding="utf-8")
    with pytest.raises(LabelError) as err:
        load_items(path)
    text = str(err.value)
    assert "bad.jsonl:2: id: 'a' is used on line 1 too" in text and "bad.jsonl:3: not JSON" in text
    assert "bad.jsonl:4: trainee_turn: Field required" in text and "bad.jsonl:5: colour" in text


def test_a_selection_is_made_verbatim() -> None:
    turn = "I hear you.\nThat was a wasted day."
    assert verbatim(turn, "  wasted day ") == "wasted day"
    assert verbatim(turn, "hear you. That was") == "hear you.\nThat was"
    assert verbatim(turn, "not there") == "not there"


def test_adjudicated_export_takes_agreement_and_the_adjudicators_decisions(turns: Path, tmp_path: Path) -> None:
    from evals.cases import load_suite_file

    items = load_items(turns)
    store = LabelStore(turns)
    for item in items:
        store.save("ann", item, _draft(3))
        store.save("bo", item, _draft(3 if item is not items[1] else 1))
    result = adjudicate(items, store, ["ann", "bo"], "cy")
    assert result.disputed == [items[1].id] and len(result.agreed) == 3
    with pytest.raises(LabelError, match="cooldown label adjudicate"):
        check_complete(result, turns, ["ann", "bo"], "cy")
    store.save("cy", items[1], _draft(2))
    result = adjudicate(items, store, ["ann", "bo"], "cy")
    check_complete(result, turns, ["ann", "bo"], "cy")
    out = tmp_path / "gold.jsonl"
    write_suite(out, result.lines)
    cases = load_suite_file(out)
    assert [c.gold.perspective_taking for c in cases if c.gold] == [3, 2, 3, 3]
    assert cases[1].meta.model_extra == {"labelled_by": ["ann", "bo", "cy"]}
    assert len(rater_suite(items, store, "cy")) == 1


CRASHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from simulator.labelling import LabelDraft, LabelStore, load_items
    path = Path(sys.argv[1])
    items = load_items(path)
    store = LabelStore(path)
    for n, item in enumerate(items):
        record = store.save("ann", item, LabelDraft(behaviours=["apology"], score=n % 5))
        print(f"saved {record.item_id}", flush=True)
    time.sleep(60)
""")


def test_labels_saved_before_a_kill_9_are_all_there(turns: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(turns)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().split()[1] for _ in range(4)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    latest = LabelStore(turns).latest("ann")
    assert sorted(latest) == sorted(acknowledged)
    assert [latest[i].verdict.perspective_taking for i in acknowledged] == [0, 1, 2, 3]


def test_save_fsyncs_the_file_before_returning(turns: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    LabelStore(turns).save("ann", load_items(turns)[0], _draft())
    assert len(synced) >= 2  # the new folder's parent, the file, the folder (a new file's entry)


LOOPER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from simulator.labelling import LabelDraft, LabelStore, load_items
    path = Path(sys.argv[1])
    item = load_items(path)[0]
    store = LabelStore(path)
    while True:
        record = store.save("ann", item, LabelDraft(score=2))
        print(record.version, flush=True)
""")


def test_a_kill_9_in_the_middle_of_saving_loses_no_acknowledged_version(turns: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", LOOPER, str(turns)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    last = 0
    while last < 25:
        last = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)  # while it saves version 26 and on
    proc.wait(timeout=10)
    store = LabelStore(turns)
    item = load_items(turns)[0]
    versions = [r.version for r in store.history("ann", item.id)]
    assert versions == list(range(1, len(versions) + 1)) and versions[-1] >= last
    assert store.save("ann", item, _draft()).version == versions[-1] + 1  # the store carries on
