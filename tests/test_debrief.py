"""The end-of-call debrief: deterministic, built from the call's grades and mood steps."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from simulator.grading.debrief import CallRecord, CallTurn, MoodPoint, build_debrief
from simulator.grading.labels import TechniqueUse, TurnGrade, TurnVerdict


def llm(
    pt: int,
    behaviours: list[str],
    techniques: Sequence[TechniqueUse] = (),
    tactics: Sequence[str] = (),
    **kw: str,
) -> TurnGrade:
    verdict = TurnVerdict(
        perspective_taking=pt,
        behaviours=behaviours,
        techniques=list(techniques),
        manipulation_tactics=list(tactics),
    )
    return TurnGrade(status="graded", verdict=verdict, grader="llm:gpt-test", **kw)


def local(pt: int, behaviours: list[str], tip: str) -> TurnGrade:
    verdict = TurnVerdict(perspective_taking=pt, behaviours=behaviours)
    return TurnGrade(status="graded", verdict=verdict, grader="local:appraiser", tip=tip)


PUSH = "Accept this voucher now or it's gone forever."
CALL = CallRecord(
    persona_name="Dana (missed delivery)",
    outcome="resolved",
    outcome_reason="trust 70 and anger 30 with an acceptable remedy on the table",
    initial_mood=MoodPoint(anger=80, trust=20, entrenchment=60, label="furious"),
    turns=[
        CallTurn(role="customer", text="Nobody came! I took a day off!"),
        CallTurn(
            role="agent",
            text="Our tracking shows it was delivered at 2 pm.",
            grades=[
                local(0, ["fact_confrontation"], "You argued with their account."),
                llm(
                    0,
                    ["fact_confrontation"],
                    tip="Ask first.",
                    better_phrasing="What happened when you got home?",
                ),
            ],
            mood=MoodPoint(
                anger=90,
                trust=15,
                entrenchment=75,
                label="furious",
                fired_rules=["fact_confrontation: entrenchment +15"],
            ),
        ),
        CallTurn(role="customer", text="Are you calling me a liar?"),
        CallTurn(
            role="agent",
            text=f"I'm sorry. {PUSH}",
            grades=[
                llm(
                    2,
                    ["apology"],
                    [TechniqueUse(technique="loss_aversion", use="manipulative", evidence=PUSH)],
                    ["false_urgency"],
                    tip="Drop the deadline.",
                    better_phrasing="I'm sorry. The voucher is yours.",
                ),
                local(2, ["apology"], "Make the apology specific."),
            ],
            mood=MoodPoint(
                anger=92,
                trust=10,
                entrenchment=80,
                label="furious",
                fired_rules=["manipulation: trust -5", "apology: anger -2"],
            ),
        ),
        CallTurn(
            role="agent",
            text="Sorry | about that.",
            grades=[local(1, ["apology"], "Say what you're sorry for.")],
            mood=MoodPoint(
                anger=85, trust=20, entrenchment=70, label="furious", fired_rules=["apology: anger -5"]
            ),
        ),
        CallTurn(
            role="agent",
            text="You took a day off and nobody came; that's a wasted day. "
            "I've refunded the delivery fee whatever you decide. What would make this right?",
            grades=[
                llm(
                    4,
                    ["reflection", "needs_check"],
                    [
                        TechniqueUse(
                            technique="reciprocity", use="ethical", evidence="I've refunded the delivery fee"
                        )
                    ],
                    tip="Great.",
                    better_phrasing="Same again.",
                ),
            ],
            mood=MoodPoint(
                anger=30,
                trust=70,
                entrenchment=30,
                label="calming",
                fired_rules=["reflection: anger -20", "resolution: remedy accepted"],
            ),
        ),
        CallTurn(
            role="agent",
            text="Anything else?",
            grades=[TurnGrade.ungraded("llm:gpt-test", "invalid grader output after one repair")],
        ),
    ],
)


def test_debrief_is_deterministic() -> None:
    assert build_debrief(CALL) == build_debrief(CALL)
    assert build_debrief(CALL).to_markdown() == build_debrief(CALL).to_markdown()


def test_per_turn_scores_prefer_the_llm_grade_and_count_ungraded() -> None:
    d = build_debrief(CALL)
    assert [s.turn for s in d.turns] == [1, 2, 3, 4, 5]
    assert d.turns[0].grader == "llm:gpt-test" and "local:appraiser: 0" in d.turns[0].other_scores
    assert d.turns[2].grader == "local:appraiser" and d.turns[2].perspective_taking == 1
    assert d.turns[4].status == "ungraded" and d.turns[4].perspective_taking is None
    assert d.ungraded_turns == 1
    assert d.average_perspective_taking == round((0 + 2 + 1 + 4) / 4, 2)


def test_top_changes_rank_manipulation_first_with_phrasings_from_this_call() -> None:
    changes = build_debrief(CALL).top_changes
    assert [c.turn for c in changes] == [2, 1, 3]
    assert (
        changes[0].better_phrasing == "I'm sorry. The voucher is yours."
        and changes[0].source == "llm:gpt-test"
    )
    assert "loss aversion manipulatively" in changes[0].problem and PUSH in changes[0].problem
    assert changes[1].better_phrasing == "What happened when you got home?"
    assert "digs in" in changes[1].problem
    assert changes[2].better_phrasing is None and changes[2].tip == "Say what you're sorry for."
    assert changes[2].source == "local:appraiser"


def test_outcome_rules_mood_and_techniques() -> None:
    d = build_debrief(CALL)
    assert d.decisive_rules == ["reflection: anger -20", "resolution: remedy accepted"]
    assert d.rule_counts["apology"] == 2 and d.rule_counts["fact_confrontation"] == 1
    assert [n for n, _ in d.mood_trajectory] == [0, 1, 2, 3, 4]
    tallies = {t.technique.value: t for t in d.techniques}
    assert tallies["loss_aversion"].manipulative == 1 and tallies["loss_aversion"].ethical == 0
    assert tallies["reciprocity"].ethical == 1
    assert d.tactics == {"false_urgency": 1}
    assert any(s.startswith("Turn 4 (4/4") for s in d.strengths)
    assert any("anger fell from 80 to 30" in s for s in d.strengths)
    assert not any("No manipulative moves" in s for s in d.strengths)


def test_markdown_has_every_section_and_escapes_table_cells() -> None:
    md = build_debrief(CALL).to_markdown()
    for heading in (
        "# Debrief: call with Dana",
        "## Mood",
        "## Strengths",
        "## The changes that matter most",
        "## Turn by turn",
        "## Persuasion techniques",
    ):
        assert heading in md
    assert "**Outcome:** resolved: trust 70" in md
    assert "Sorry \\| about that." in md
    assert "⚠ manipulative" in md and "Try instead: “What happened when you got home?”" in md


def test_markdown_names_rules_and_labels_in_words_and_the_record_keeps_the_ids() -> None:
    """The Markdown (page, CLI and the downloaded file) reads as words, as the call page's chips do."""
    d = build_debrief(CALL.model_copy(update={"outcome": "hung_up"}))
    md = d.to_markdown()
    assert re.findall(r"\b[a-z]+_[a-z_]+\b", md) == []  # no snake_case id anywhere
    for words in (
        "**Outcome:** hung up",
        "Rules over the call: apology ×2, fact confrontation ×1",
        "| fact confrontation: entrenchment +15 |",
        "| fact confrontation | ",
        "needs check",
        "loss aversion (manipulative)",
        "You used loss aversion manipulatively",
        "Manipulation tactics: false urgency ×1",
        "Listening moves: needs check ×1, reflection ×1",
    ):
        assert words in md, words
    assert d.tactics == {"false_urgency": 1} and d.rule_counts["fact_confrontation"] == 1  # data keeps ids


def test_empty_call_still_renders() -> None:
    d = build_debrief(CallRecord(persona_name="Sam"))
    assert d.turns == [] and d.top_changes == [] and d.average_perspective_taking is None
    assert "not finished" in d.to_markdown()


def test_from_session_adapts_storage_records() -> None:
    from simulator.storage.records import MoodRecord, SessionRecord, TurnRecord

    now = datetime.now(UTC)
    common = {
        "session_id": "s1",
        "text_canon": "nfc",
        "text_altered": False,
        "created_at": now,
        "updated_at": now,
    }
    rules = [{"index": 0, "label": "blame", "reason": "blame: anger +10"}, "plain rule"]
    mood = MoodRecord(anger=70, trust=30, entrenchment=50, label="angry", created_at=now, fired_rules=rules)
    turns = [
        TurnRecord(id="t0", index=0, role="customer", text="Hi.", status="final", **common),
        TurnRecord(
            id="t1",
            index=1,
            role="agent",
            text="Your fault.",
            status="final",
            mood=mood,
            grades=[local(0, ["blame"], "Don't blame.")],
            **common,
        ),
        TurnRecord(id="t2", index=2, role="agent", text="half", status="interrupted", **common),
    ]
    record = SessionRecord(
        id="s1",
        trainee="t",
        persona_name="Dana",
        persona_hash="sha256:x",
        difficulty="normal",
        caller_model="m",
        grader="g",
        mode="coach",
        created_at=now,
        outcome="hung_up",
        outcome_reason="anger 100",
        persona_text="",
        turns=turns,
    )
    call = CallRecord.from_session(record)
    assert [t.text for t in call.turns] == ["Hi.", "Your fault."]
    d = build_debrief(call)
    assert d.outcome == "hung_up" and d.decisive_rules == ["blame: anger +10", "plain rule"]
    assert d.top_changes[0].problem == "You put the fault on the caller."


def test_the_title_names_the_caller_from_the_sessions_persona_snapshot() -> None:
    from types import SimpleNamespace

    from simulator.persona.loader import PERSONAS_DIR

    snapshot = (PERSONAS_DIR / "backfire_brian.yaml").read_text(encoding="utf-8")
    session = SimpleNamespace(
        persona_name="backfire_brian", persona_text=snapshot, outcome=None, outcome_reason=None, turns=[]
    )
    assert build_debrief(CallRecord.from_session(session)).to_markdown().startswith(
        "# Debrief: call with Brian Keller\n"
    )
    unreadable = SimpleNamespace(**{**vars(session), "persona_text": "not: [a persona"})
    assert build_debrief(CallRecord.from_session(unreadable)).to_markdown().startswith(
        "# Debrief: call with backfire_brian\n"
    )
