"""View helpers of the trainee's page: escaping, evidence highlighting, panels, review, designer, auth."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.call.mood import MoodState
from simulator.call.session import CallSession
from simulator.config import load_settings
from simulator.errors import ConfigError, InputRejected
from simulator.grading.labels import Behaviour, Technique, TechniqueUse, TurnGrade, TurnVerdict
from simulator.llm.fake import FakeChatModel
from simulator.persona.loader import PERSONAS_DIR, find_persona, load_persona
from simulator.storage import SessionSummary, Store
from simulator.storage.records import SessionId
from simulator.ui.deps import clean_name, local_grader, parse_auth
from simulator.ui.designer import lint_text, preview
from simulator.ui.live import LiveCall, abandon_on_close
from simulator.ui.panels import feedback_card, models_banner, mood_panel, outcome_banner, persona_cards
from simulator.ui.review import history_choices, history_rows, new_download_dir, review, write_downloads
from simulator.ui.text import find_spans, highlight, md_text, safe_markdown
from simulator.vocabulary import CallOutcome

ATTACK = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_highlight_escapes_everything_and_marks_evidence() -> None:
    text = f"Accept now or the offer is gone forever. {ATTACK}"
    html = highlight(text, [("Accept now or the offer is gone forever.", "manipulative")])
    assert '<mark class="ev ev-manipulative">Accept now or the offer is gone forever.</mark>' in html
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_evidence_that_is_not_verbatim_is_not_highlighted_and_overlaps_resolve() -> None:
    text = "I can give you a refund. As a valued customer you surely understand."
    spans = find_spans(text, [("a refund", "ethical"), ("give you a refund", "ethical"), ("invented", "ethical")])
    assert spans == [(6, 23, "ethical")]
    assert "<mark" not in highlight(text, [("not in the turn", "ethical")])


def test_quote_with_html_is_highlighted_as_text() -> None:
    html = highlight("say <b>hi</b> now", [("<b>hi</b>", "ethical")])
    assert html == 'say <mark class="ev ev-ethical">&lt;b&gt;hi&lt;/b&gt;</mark> now'


def test_safe_markdown_disarms_html_images_and_links() -> None:
    out = safe_markdown(f"| a | b |\n**bold** {ATTACK} ![x](http://evil.test/p.png) [y](javascript:alert(1))")
    assert "<img" not in out and "<script" not in out
    assert "![x](" not in out and "](javascript:" not in out and "javascript:" not in out
    assert "**bold**" in out and "| a | b |" in out
    assert md_text("*a* [b](c) <i>") == r"\*a\* \[b\](c) \<i\>"


def _grade(**verdict: object) -> TurnGrade:
    return TurnGrade(status="graded", verdict=TurnVerdict(**verdict), grader="local:appraiser", tip="Ask first.")


def test_feedback_card_shows_score_behaviours_verdicts_tip_and_grader() -> None:
    text = "Calm down. Accept now or the offer is gone forever."
    grade = _grade(
        perspective_taking=0,
        behaviours=[Behaviour.DISMISSAL],
        techniques=[
            TechniqueUse(
                technique=Technique.LOSS_AVERSION,
                use="manipulative",
                evidence="Accept now or the offer is gone forever.",
            )
        ],
    )
    llm = TurnGrade.ungraded("llm:gpt", "timed out")
    card = feedback_card(2, text, [grade, llm], pending=False)
    assert "Turn 2" in card and "Perspective-taking 0/4" in card
    assert "− dismissal" in card and "data-label=\"dismissal\"" in card and "loss aversion: manipulative" in card
    assert '<mark class="ev ev-manipulative">' in card and "Tip:" in card
    assert "graded by local:appraiser · llm:gpt: ungraded" in card


def test_feedback_card_prefers_a_graded_llm_grade_and_marks_pending() -> None:
    local = _grade(perspective_taking=2)
    llm = TurnGrade(status="graded", verdict=TurnVerdict(perspective_taking=4), grader="llm:gpt-4o")
    card = feedback_card(1, "hi", [local, llm])
    assert "Perspective-taking 4/4" in card and 'data-grader="llm:gpt-4o"' in card
    assert "on its way" in feedback_card(1, "hi", [local], pending=True)


def test_mood_panel_shows_values_deltas_and_reasons() -> None:
    before = MoodState(anger=75, trust=20, entrenchment=70, turn=0)
    now = MoodState(anger=69, trust=26, entrenchment=70, turn=1)
    html = mood_panel(now, "angry", before=before, turn_limit=14, reasons=[f"open question {ATTACK}"])
    assert 'data-var="anger" data-value="69"' in html and "69 (-6)" in html and "26 (+6)" in html
    assert "turn 1 of 14" in html and "<img" not in html


def test_banner_warns_about_the_demo_model_and_cards_escape() -> None:
    from simulator.llm.base import ModelInfo

    info = ModelInfo(role="caller", provider="embedded", model="SmolLM2-135M-Instruct", demo_grade=True)
    banner = models_banner(info, ["local:appraiser", "llm:SmolLM2"], llm_grader=None)
    assert "embedded SmolLM2-135M-Instruct (demo-grade)" in banner and "Demo-grade model" in banner
    assert "local:appraiser + llm:SmolLM2" in banner
    real = ModelInfo(role="caller", provider="openai", model="gpt-4o-mini")
    assert "Demo-grade" not in models_banner(real, ["local:appraiser"])
    from simulator.llm.scripted import scripted_info

    scripted = models_banner(scripted_info(7), ["local:appraiser"])
    assert "<b>Caller:</b> scripted caller, seed 7 (no model" in scripted and "Demo-grade" not in scripted


def test_banner_points_to_a_grader_model_only_when_the_appraiser_grades_alone() -> None:
    from simulator.llm.base import ModelInfo

    real = ModelInfo(role="caller", provider="openai", model="gpt-4o-mini")
    alone = models_banner(real, ["local:appraiser"])
    assert "data-appraiser-only" in alone and "set a grader model" in alone
    assert "data-appraiser-only" not in models_banner(real, ["local:appraiser", "llm:gpt-4o"])


@pytest.mark.anyio
async def test_the_designer_shows_the_plan_for_a_trainee_line() -> None:
    from simulator.ui.designer import plan_preview

    md = await plan_preview(find_persona("omar_out_of_stock"), "normal", "How much did you pay for it?", local_grader())
    assert "**Meant to:** answer · fact paid" in md and "**Why:**" in md
    assert re.search(r"→ mood \w+ \(anger \d+, trust \d+, entrenchment \d+\)", md), md  # spelled out, not A/T/E
    assert "The persona's own line for it:** “I paid £349" in md
    cards = persona_cards([load_persona(find_persona("backfire_brian"))])
    assert "Brian Keller" in cards and "★" in cards
    assert outcome_banner(None) == "" and 'data-outcome="hung_up"' in outcome_banner("hung_up", "anger 95")


def test_names_and_auth_are_validated() -> None:
    assert clean_name("  Sam   Lee ") == "Sam Lee"
    for bad in ("", "   ", "x" * 41, "<script>", None):
        with pytest.raises(InputRejected):
            clean_name(bad)
    assert parse_auth(None) is None and parse_auth(" ") is None
    assert parse_auth("ana:pw1, ben:p:w") == [("ana", "pw1"), ("ben", "p:w")]
    with pytest.raises(ConfigError) as err:
        parse_auth("ana:secret,broken")
    assert "secret" not in str(err.value) and "entry 2" in str(err.value)


def test_lint_text_reports_file_line_col_and_accepts_a_good_file() -> None:
    problems = lint_text("id: broken\nidentity:\n  name: 5\n  bogus: yes\n")
    assert problems and all(p.startswith("broken.yaml:") for p in problems)
    assert any(":4:3: identity.bogus:" in p for p in problems), problems
    assert lint_text("a: [unclosed\n", "mine.yaml")[0].startswith("mine.yaml:")
    assert lint_text("x: 1", "../../etc/passwd")[0].startswith("file name:")
    assert "over 64 KB" in lint_text("a" * 70_000)[0]
    good = (PERSONAS_DIR / "backfire_brian.yaml").read_text(encoding="utf-8")
    assert lint_text(good) == []


def test_preview_shows_facts_emotion_and_prompt() -> None:
    facts, prompt, tokens = preview(PERSONAS_DIR / "backfire_brian.yaml", "hard")
    assert "Facts the caller knows" in facts and "Emotional model at hard" in facts
    assert "Brian" in prompt and "tokens" in tokens
    # one remedy per bullet (joined with "; " they read "Thursday.; A refund"), the start mood spelled out
    assert "**Acceptable remedies**\n\n- " in facts and ".;" not in facts
    assert re.search(r"starts anger \d+, trust \d+, entrenchment \d+ \(", facts), facts
    # rules read in words, with the id a designer writes in the YAML beside them
    assert "| fact confrontation | " in facts and "| behaviour: fact\\_confrontation |" in facts, facts


def _session(store: Store, fake: FakeChatModel, trainee: str) -> CallSession:
    return CallSession.start(
        store, find_persona("backfire_brian"), caller_model=fake, local_grader=local_grader(),
        trainee=trainee, settings=load_settings(), opening_index=0,
    )  # fmt: skip


def test_live_calls_are_isolated_and_review_belongs_to_its_trainee(tmp_path: Path) -> None:
    settings = load_settings()
    store = Store.open(settings.database_url, settings.data_dir)
    fake = FakeChatModel(default_reply="I was home all day.")
    one = LiveCall(_session(store, fake, "ana"), trainee="ana", mode="coach", llm_grading=False)
    two = LiveCall(_session(store, fake, "ben"), trainee="ben", mode="exam", llm_grading=False)

    async def play(call: LiveCall, text: str) -> None:
        async for _ in call.send(text):
            pass

    async def both() -> None:
        await asyncio.gather(play(one, "ANA: what happened while you waited?"), play(two, "BEN: calm down."))
        with pytest.raises(InputRejected):
            await play(one, "   ")

    asyncio.run(both())
    assert [m["content"] for m in one.messages() if m["role"] == "user"] == ["ANA: what happened while you waited?"]
    assert [m["content"] for m in two.messages() if m["role"] == "user"] == ["BEN: calm down."]
    assert "Turn 1" in one.feedback_html() and "Exam mode" in two.feedback_html()
    assert 'data-turn="1"' in one.mood_html()
    asyncio.run(two.finish(0))
    assert two.outcome == "abandoned" and "Turn 1" in two.feedback_html()

    item = review(store, two.session.id, trainee="ben")
    assert "BEN: calm down." in item.transcript_html and item.mood_plot is not None
    with pytest.raises(InputRejected):
        review(store, two.session.id, trainee="ana")
    folder = new_download_dir(tmp_path)
    md, js = write_downloads(store, item, folder)
    assert "BEN: calm down." in md.read_text(encoding="utf-8") and js.suffix == ".json"
    rows = history_rows(store.list_sessions("ben"), {"backfire_brian": "Brian Keller"})
    assert len(rows) == 1 and rows[0][1] == "Brian Keller"
    store.close()


def test_a_call_left_open_when_its_page_closes_is_recorded_as_abandoned() -> None:
    settings = load_settings()
    store = Store.open(settings.database_url, settings.data_dir)
    live = LiveCall(_session(store, FakeChatModel(), "cara"), trainee="cara", mode="coach", llm_grading=False)
    abandon_on_close(live)  # what Gradio calls when the tab's state is deleted
    record = store.load_session(live.session.id)
    assert record.outcome == "abandoned" and "closed the page" in (record.outcome_reason or "")
    abandon_on_close(live)  # idempotent, never raises
    abandon_on_close(None)


def test_the_debrief_is_titled_with_the_callers_name_not_the_persona_id() -> None:
    settings = load_settings()
    store = Store.open(settings.database_url, settings.data_dir)
    live = LiveCall(_session(store, FakeChatModel(), "dora"), trainee="dora", mode="coach", llm_grading=False)
    asyncio.run(live.finish(0))
    item = review(store, live.session.id, trainee="dora")
    title = next(line for line in item.markdown.splitlines() if line.startswith("# Debrief"))
    assert title == "# Debrief: call with Brian Keller"
    store.close()


def test_mood_reasons_read_as_words_not_label_ids() -> None:
    from simulator.ui.panels import readable_reason

    stored = "fact_confrontation: anger +10, trust -5 [grader unsure: 91% of the effect]"
    wanted = "fact confrontation: anger +10, trust -5 (the grader was unsure: 91% of the effect)"
    assert readable_reason(stored) == wanted


def _summary(sid: str, persona: str, minute: int, outcome: CallOutcome | None) -> SessionSummary:
    ended = None if outcome is None else datetime(2026, 12, 3, 6, minute + 5, tzinfo=UTC)
    return SessionSummary(
        id=SessionId(sid), trainee="ana", persona_name=persona, persona_hash="sha256:0", difficulty="normal",
        caller_model="fake", grader="local:appraiser", mode="coach",
        created_at=datetime(2026, 12, 3, 6, minute, tzinfo=UTC), ended_at=ended, outcome=outcome,
    )  # fmt: skip


def test_history_names_the_caller_and_tells_calls_apart() -> None:
    """A trainee reads the caller's name, not the persona id; each pick says when, who, how it ended, which."""
    sessions = [
        _summary("536d2a31-aaaa-4000-8000-000000000001", "backfire_brian", 12, "hung_up"),
        _summary("7c1e55b0-bbbb-4000-8000-000000000002", "backfire_brian", 12, None),
        _summary("9f00c0de-cccc-4000-8000-000000000003", "gone_persona", 40, "resolved"),
    ]
    names = {"backfire_brian": "Brian Keller"}
    rows = history_rows(sessions, names)
    assert [r[1] for r in rows] == ["Brian Keller", "Brian Keller", "gone_persona"]  # removed: its id, not blank
    choices = history_choices(sessions, names)
    assert [value for _, value in choices] == [s.id for s in sessions]  # the full id stays the value
    labels = [label for label, _ in choices]
    assert labels[0] == "2026-12-03 06:12 · Brian Keller · hung up · 536d2a31"
    assert labels[1] == "2026-12-03 06:12 · Brian Keller · in progress · 7c1e55b0"
    assert "backfire_brian" not in " ".join(labels) and "_" not in labels[0]
