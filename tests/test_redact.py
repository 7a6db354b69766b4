"""simulator.redact: what each rule takes, what it leaves, and redacted exports / CLI / logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.logs import RedactingFilter, redact
from simulator.redact import find_names, luhn_valid, redact_cards, redact_pii, redact_texts
from simulator.storage import SessionRecord, Store, TurnRecord, persona_content_hash
from simulator.storage.export import REDACTED_TRAINEE, redact_record, render
from simulator.storage.text import TEXT_CANON


def red(text: str) -> str:
    return redact_pii(text)[0]


@pytest.mark.parametrize(
    "text",
    [
        "+44 7700 900123", "07700 900123", "07700900123", "+44 (0)20 7946 0018", "020 7946 0018", "0161 496 0000",
        "(415) 555-0132", "415-555-0132", "415.555.0132", "+1 415 555 0132", "1-415-555-0132",
        "+33 6 12 34 56 78", "+49 30 12345678", "0044 7700 900123", "+353 87 123 4567",
    ],
)  # fmt: skip
def test_phone_formats_are_redacted_whole(text: str) -> None:
    assert red(f"ring me on {text}, thanks") == "ring me on [PHONE], thanks"


@pytest.mark.parametrize(
    "card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005", "6011000990139424"]
)
def test_luhn_valid_cards_are_redacted(card: str) -> None:
    assert red(f"card {card} exp 09/27") == "card [CARD] exp 09/27"
    assert redact_cards(f"card {card}.") == "card [CARD]."


def test_card_like_numbers_that_fail_luhn_are_not_cards() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert "[CARD]" not in red("card 4111 1111 1111 1112")
    assert redact_cards("id 4111111111111112") == "id 4111111111111112"


def test_a_card_followed_by_a_year_is_still_found() -> None:
    assert red("4111 1111 1111 1111 2026") == "[CARD] 2026"


def test_emails_ibans_accounts_and_postcodes() -> None:
    assert red("mail Jo.Bloggs+x@mail.example.co.uk.") == "mail [EMAIL]."
    assert red("IBAN GB82 WEST 1234 5698 7654 32 or DE89370400440532013000") == "IBAN [IBAN] or [IBAN]"
    assert red("IBAN GB82 WEST 1234 5698 7654 33") == "IBAN [IBAN]"  # mistyped: still an account number
    assert red("sort code 12-34-56, account number 12345678") == "sort code [ACCOUNT], account number [ACCOUNT]"
    assert red("send it to SW1A 1AA or M1 1AE") == "send it to [POSTCODE] or [POSTCODE]"


def test_ordinary_numbers_are_left_alone() -> None:
    text = "Order 1234567890 cost £49.99 on 12/03/2024 at 14:30; tracking ref 0207946001 arrives in 3-5 days."
    assert red(text) == text


def test_names_after_cues_titles_and_from_the_list() -> None:
    assert red("My name is Zara Okonkwo and I'm furious.") == "My name is [NAME] [NAME] and I'm furious."
    assert red("Sorry, Mrs Thistlewood.") == "Sorry, Mrs [NAME]."
    assert red("Emily Carter ordered it") == "[NAME] [NAME] ordered it"
    assert red("my husband Obinna paid") == "my husband [NAME] paid"


def test_common_words_after_cues_are_not_names() -> None:
    for text in ("I'm Sorry about this.", "This is Not good enough.", "Will you help? May I ask?", "Hi, Customer"):
        assert red(text) == text


def test_names_introduced_once_are_redacted_everywhere() -> None:
    assert find_names("My name is Zara Okonkwo.") == {"Zara", "Okonkwo"}
    assert redact_texts(["My name is Zara Okonkwo.", "Zara, Ms Okonkwo, I hear you."]) == [
        "My name is [NAME] [NAME].", "[NAME], Ms [NAME], I hear you.",
    ]  # fmt: skip
    assert red("Zara, I hear you.") == "Zara, I hear you."  # not introduced, not in the list: missed


def test_redactions_report_kinds_and_original_positions() -> None:
    text = "Email a@b.example or call 07700 900123."
    out, found = redact_pii(text)
    assert [r.kind for r in found] == ["email", "phone"]
    assert [text[r.start : r.end] for r in found] == ["a@b.example", "07700 900123"]
    assert found[0].placeholder == "[EMAIL]" and out == "Email [EMAIL] or call [PHONE]."


def test_log_redaction_takes_cards_and_keeps_secrets_rules() -> None:
    assert redact("paid with 4111 1111 1111 1111 key sk-abcdefghijkl", ["nothing"]) == (
        "paid with [CARD] key [REDACTED]"
    )
    record = logging.LogRecord("x", logging.INFO, "f", 1, "card %s", ("4111111111111111",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "card [CARD]"


def _record(trainee: str = "Dana Whitlock") -> SessionRecord:
    now = datetime.now(UTC)
    persona = "identity:\n  name: Brian Carter\n  phone: 07700 900123\n"
    lines = [
        ("customer", "My name is Zara Okonkwo, card 4111 1111 1111 1111."),
        ("agent", "Thanks Zara, I'm Dana. Mail me on dana@example.com."),
    ]
    turns = [
        TurnRecord.model_validate(
            {
                "id": f"t{n}",
                "session_id": "s1",
                "index": n,
                "role": role,
                "text": text,
                "status": "final",
                "text_canon": TEXT_CANON,
                "text_altered": False,
                "created_at": now,
                "updated_at": now,
            }
        )
        for n, (role, text) in enumerate(lines)
    ]
    return SessionRecord(
        id="00000000-0000-0000-0000-000000000001", trainee=trainee, persona_name="Brian",
        persona_hash=persona_content_hash(persona), difficulty="normal", caller_model="fake", grader="g",
        mode="coach", created_at=now, persona_text=persona, turns=turns, turn_count=2, outcome_reason="Zara hung up",
    )  # fmt: skip


def test_redact_record_covers_every_free_text_field() -> None:
    out = redact_record(_record())
    dumped = out.model_dump_json()
    for raw in ("Zara", "Okonkwo", "4111", "dana@example.com", "Dana", "Whitlock", "07700", "Brian Carter"):
        assert raw not in dumped, raw
    assert out.trainee == REDACTED_TRAINEE
    assert out.persona_hash == persona_content_hash(out.persona_text)
    assert [t.id for t in out.turns] == ["t0", "t1"] and out.turns[0].text_canon == TEXT_CANON
    assert render(_record(), "md", redact=True).count("[NAME]") >= 3
    assert "Zara" in render(_record(), "md")  # no redaction unless asked


def test_sessions_export_redact_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.cli.chat import sessions

    monkeypatch.setenv("COOLDOWN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS", raising=False)
    with Store.open(f"sqlite:///{tmp_path / 'cooldown.db'}") as store:
        sid = store.import_session(_record())
    runner = CliRunner()
    plain = runner.invoke(sessions, ["export", sid[:8], "--format", "json"])
    redacted = runner.invoke(sessions, ["export", sid[:8], "--format", "json", "--redact"])
    assert plain.exit_code == 0, plain.output
    assert redacted.exit_code == 0, redacted.output
    assert "4111 1111 1111 1111" in plain.output and "Zara" in plain.output
    assert "4111" not in redacted.output and "Zara" not in redacted.output and "[CARD]" in redacted.output
    SessionRecord.model_validate_json(redacted.output)
