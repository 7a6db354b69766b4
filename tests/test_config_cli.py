"""Settings resolve a provider per role; the CLI's flags and errors behave at the edge."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from simulator.cli.main import main
from simulator.config import load_settings
from simulator.errors import ConfigError, PromptRenderError
from simulator.llm.factory import describe_role
from simulator.logs import RedactingFilter, redact
from simulator.prompts import render_text


def test_nothing_configured_means_embedded_for_both_roles() -> None:
    s = load_settings()
    caller, grader = describe_role("caller", s), describe_role("grader", s)
    assert caller.provider == grader.provider == "embedded"
    assert caller.demo_grade and caller.prompt_form == "completion"
    assert grader.prompt_form == "chat" and grader.structured_method == "function_calling"


def test_roles_are_configured_independently(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOLDOWN_GRADER__BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("COOLDOWN_GRADER__MODEL", "llama3.1")
    s = load_settings()
    assert describe_role("caller", s).provider == "embedded"
    g = describe_role("grader", s)
    assert (g.provider, g.model, g.base_url) == ("openai-compatible", "llama3.1", "http://127.0.0.1:11434/v1")
    assert s.grader.max_tokens == 700  # grader defaults survive a partial override


def test_openai_without_key_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COOLDOWN_CALLER__MODEL", "gpt-4o-mini")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        describe_role("caller", load_settings())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123456789")
    info = describe_role("caller", load_settings())
    assert (info.provider, info.structured_method, info.prompt_form) == ("openai", "json_schema", "chat")


def test_missing_gguf_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COOLDOWN_GGUF", str(tmp_path / "nope.gguf"))
    with pytest.raises(Exception, match="COOLDOWN_GGUF"):
        describe_role("caller", load_settings())


def test_doctor_without_calls_reports_roles_and_storage() -> None:
    result = CliRunner().invoke(main, ["doctor", "--no-call"])
    assert result.exit_code == 0, result.output
    assert "caller  : embedded SmolLM2-135M-Instruct (demo-grade)" in result.output
    assert "tokens: exact" in result.output and "storage : sqlite:///" in result.output


def test_cli_flags_choose_models(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(
        main, ["--grader-url", "http://127.0.0.1:9/v1", "--grader-model", "qwen", "doctor", "--no-call"]
    )
    assert result.exit_code == 0, result.output
    assert "grader  : openai-compatible qwen" in result.output


def test_friendly_error_at_the_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COOLDOWN_RAISE_ERRORS")
    monkeypatch.setenv("COOLDOWN_CALLER__MODEL", "gpt-4o")
    result = CliRunner().invoke(main, ["--caller-provider", "openai-compatible", "doctor", "--no-call"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "BASE_URL" in result.output


def test_redaction_of_keys_and_bearer_tokens() -> None:
    canary = "sk-test-CANARY-0123456789abcdef"
    text = f"headers={{'Authorization': 'Bearer {canary}'}} api_key={canary} and {canary}"
    out = redact(text, [canary])
    assert canary not in out and "[REDACTED]" in out


def test_log_filter_redacts_and_escapes_newlines(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "turn: %s", ("hi\nFAKE LOG LINE sk-abcdefghijkl",), None
    )
    RedactingFilter().filter(record)
    assert "\n" not in record.getMessage() and "sk-abcdefghijkl" not in record.getMessage()


def test_strict_prompt_rendering() -> None:
    assert render_text("Hi {{name}}!", name="Dana") == "Hi Dana!"
    with pytest.raises(PromptRenderError, match="missing"):
        render_text("Hi {{name}} {{other}}", name="x")
    with pytest.raises(PromptRenderError, match="no placeholder"):
        render_text("Hi {{name}}", name="x", extra=1)
    # a value that looks like a placeholder is inserted verbatim, never re-rendered
    assert render_text("{{a}}", a="{{b}}") == "{{b}}"
