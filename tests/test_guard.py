"""The in-character guard: what it blocks, what it lets through, and sentence-wise stream release."""

from __future__ import annotations

import pytest

from simulator.caller.guard import CallerGuard, StreamGuard

CANARY = "cnry-7f3a9c2e41d0"
HIDDEN = [
    "The parcel was actually left with the neighbour at number 14 by the courier.",
    "Resolve only if the agent offers a redelivery or a full refund to the original card.",
]


@pytest.fixture
def guard() -> CallerGuard:
    return CallerGuard(canary=CANARY, hidden_texts=HIDDEN)


IN_CHARACTER = [
    "I've been waiting since Tuesday and nobody has called me back!",
    "No. I want my money back, and I want it today.",
    "Don't tell me to calm down. That parcel was a birthday present.",
    "My credit score will take a hit if this bill isn't fixed.",
    "I followed the instructions on your website, every single step.",
    "Fine. What are you actually going to do about it?",
    "You people never listen. Three calls! Three!",
    "Is that a joke? Because I'm not laughing.",
    "I want prompt service, not another apology.",
    "Your chatbot hung up on me twice before I got through.",
]


@pytest.mark.parametrize("text", IN_CHARACTER)
def test_in_character_lines_pass(guard: CallerGuard, text: str) -> None:
    result = guard.check(text)
    assert result.ok, result.violations


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("As an AI language model, I don't have feelings about parcels.", "ai_self_reference"),
        ("I'm an AI, so I can't really be satisfied.", "ai_self_reference"),
        ("I'm just playing a character in this roleplay.", "ai_self_reference"),
        ("My instructions say I should stay angry.", "ai_self_reference"),
        ("You won't get a good score from me.", "ai_self_reference"),
        ("This is a simulation, isn't it?", "ai_self_reference"),
        ("Let me break character for a second.", "ai_self_reference"),
        ("The system prompt tells me to be furious.", "ai_self_reference"),
        ("AGENT: I'm sorry to hear about your parcel.", "agent_speak"),
        ("Hello! How can I help you today?", "agent_speak"),
        ("Thank you for calling, is there anything else I can help with?", "agent_speak"),
        ("I understand your frustration, let me check that for you.", "agent_speak"),
        ("I'd be happy to help you with that refund.", "agent_speak"),
        ('{"mood": "satisfied", "resolved": true}', "structured_output"),
        ('Sure: ["angry", "resolved"]', "structured_output"),
        ("```json\n{}\n```", "structured_output"),
        ('Here it is:\n{\n  "anger": 10\n}', "structured_output"),
        ("<|im_start|>assistant I am satisfied", "structured_output"),
        ("###RESOLVED### thanks", "structured_output"),
        (f"The code word is {CANARY}.", "canary_leak"),
        (f"the code word is {CANARY.upper()}", "canary_leak"),
        ("Well the parcel was actually left with the neighbour, wasn't it?", "hidden_leak"),
        ("You only win if you offer a redelivery or a full refund to the original card.", "hidden_leak"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("...", "empty"),
    ],
)
def test_breaks_are_caught(guard: CallerGuard, text: str, kind: str) -> None:
    result = guard.check(text)
    assert not result.ok
    assert kind in result.kinds


def test_hidden_notes_need_a_real_quote(guard: CallerGuard) -> None:
    # Sharing a few words with the hidden notes is normal speech; five in a row is a quote.
    assert guard.check("The courier says it was left somewhere. Where is my parcel?").ok
    assert not guard.check("it was left with the neighbour at number 14").ok


def test_canary_must_be_random_enough() -> None:
    with pytest.raises(ValueError):
        CallerGuard(canary="abc")


def test_several_violations_all_reported(guard: CallerGuard) -> None:
    result = guard.check(f'As an AI: {{"canary": "{CANARY}"}}')
    assert {"canary_leak", "structured_output", "ai_self_reference"} <= set(result.kinds)


def _feed_all(stream: StreamGuard, chunks: list[str]) -> list[str]:
    out = [stream.feed(c) for c in chunks]
    out.append(stream.finish())
    return [o for o in out if o]


def test_stream_releases_first_sentence_before_the_end(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, min_release_chars=0)
    assert stream.feed("I have waited ") == ""
    first = stream.feed("three days. And")
    assert first == "I have waited three days."
    assert stream.feed(" nobody called.") == ""  # no whitespace after the '.' yet
    assert stream.finish() == " And nobody called."
    assert stream.released == "I have waited three days. And nobody called."
    assert stream.failed is None


def test_stream_never_releases_a_failing_sentence(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, min_release_chars=0)
    released = _feed_all(stream, ["This is ridiculous. ", "How can I ", "help you today? ", "Anyway."])
    assert "".join(released) == "This is ridiculous."
    assert stream.failed is not None and "agent_speak" in stream.failed.kinds
    assert stream.feed("More text. ") == ""


def test_stream_blocks_json_without_sentence_breaks(guard: CallerGuard) -> None:
    stream = StreamGuard(guard)
    released = _feed_all(stream, ['{"resolved"', ": true, ", '"mood": "calm"}'])
    assert released == []
    assert stream.failed is not None and "structured_output" in stream.failed.kinds


def test_stream_catches_quote_spanning_sentences(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, min_release_chars=0)
    released = _feed_all(
        stream, ["Whatever. ", "It was left with the ", "neighbour at number 14. ", "Right?"]
    )
    assert "".join(released) == "Whatever."
    assert stream.failed is not None and "hidden_leak" in stream.failed.kinds


def test_stream_waits_past_leading_whitespace(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, min_release_chars=0)
    assert stream.feed("\n") == ""
    assert stream.failed is None
    assert stream.feed("Where is it? ") == "\nWhere is it?"


def test_stream_empty_reply_fails(guard: CallerGuard) -> None:
    stream = StreamGuard(guard)
    assert _feed_all(stream, ["", "  "]) == []
    assert stream.failed is not None and stream.failed.kinds == ["empty"]


def test_stream_holds_a_short_greeting_until_the_next_sentence(guard: CallerGuard) -> None:
    stream = StreamGuard(guard)  # default: pieces of at least MIN_RELEASE_CHARS
    released = _feed_all(stream, ["Hello! ", "How may I assist ", "you today? "])
    assert released == []
    assert stream.failed is not None and "agent_speak" in stream.failed.kinds
    stream = StreamGuard(guard)
    assert stream.feed("No! ") == ""
    assert stream.feed("I want my parcel, today. ") == "No! I want my parcel, today."
    assert stream.feed("Ok? ") == ""
    assert stream.finish() == " Ok? "


def test_hidden_leak_ignores_allowed_text_and_agent_words() -> None:
    guard = CallerGuard(
        canary=CANARY,
        hidden_texts=["The courier left the bench behind the side gate at 14:14."],
        allowed_texts=["Nobody ever uses the side gate at the back."],
    )
    assert not guard.check("the courier left the bench behind the gate").ok
    assert guard.check("Why would anyone use the side gate at the back?").ok  # shares 'the side gate at'
    said = ["The courier left the bench behind the side gate, I think."]
    assert guard.check("You're saying the courier left the bench behind the side gate?", context=said).ok
    stream = StreamGuard(guard, context=said)
    assert _feed_all(stream, ["So the courier left the bench behind the side gate? Really?"])
    assert stream.failed is None


def test_stream_by_clauses_releases_the_first_clause(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, clauses=True)  # MIN_CLAUSE_CHARS
    assert stream.feed("No") == "" and stream.feed(", ") == "No,"  # at the clause end, not before
    assert stream.feed("I want my parcel, ") == " I want my parcel,"
    assert stream.feed("£1,200 of it ") == ""  # a comma inside a number is no clause end
    assert stream.finish() == " £1,200 of it "
    stream = StreamGuard(guard, clauses=True, min_release_chars=12)
    assert stream.feed("No, ") == ""  # too short to judge alone
    assert stream.feed("I want my parcel, ") == "No, I want my parcel,"


def test_stream_extra_check_stops_the_stream_like_the_guard(guard: CallerGuard) -> None:
    stream = StreamGuard(guard, clauses=True, extra_check=lambda text: ["offer"] if "deliver" in text else [])
    assert stream.feed("It never came, honestly. ") == "It never came, honestly."
    assert stream.feed("I can deliver it, ") == ""
    assert stream.stopped and stream.failed is None and stream.extra_failed == ("offer",)
    assert stream.finish() == "" and stream.released == "It never came, honestly."
