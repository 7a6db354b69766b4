"""Token counting works offline, is exact where it can be, errs high where it cannot, never raises."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simulator.config import bundled_gguf
from simulator.llm.base import Message, ModelInfo
from simulator.tokens import count_messages, count_tokens, describe_counting, install_offline_encodings


def test_offline_encodings_install_under_tiktokens_own_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    install_offline_encodings()
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    assert (tmp_path / hashlib.sha1(url.encode()).hexdigest()).is_file()


def test_known_counts_match_tiktoken() -> None:
    gpt4 = ModelInfo(role="caller", provider="openai", model="gpt-4")
    assert count_tokens("hello world", gpt4) == 2  # cl100k_base
    assert "cl100k_base" in describe_counting(gpt4)
    gpt4o = ModelInfo(role="caller", provider="openai", model="gpt-4o-mini")
    assert "o200k_base" in describe_counting(gpt4o)


@pytest.mark.parametrize("text", ["<|endoftext|>", "<|im_start|>system", "\x00\ud800 lone", "😀" * 500, ""])
def test_special_and_odd_text_never_raises(text: str) -> None:
    assert count_tokens(text) >= 0


def test_unknown_tokenizer_is_an_estimate_that_errs_high() -> None:
    unknown = ModelInfo(role="caller", provider="openai-compatible", model="llama3.1", base_url="http://x/v1")
    known = ModelInfo(role="caller", provider="openai", model="gpt-4o")
    text = "I have called three times about this parcel and nobody has helped me at all. " * 5
    assert count_tokens(text, unknown) > count_tokens(text, known)
    assert describe_counting(unknown).startswith("estimate")


def test_local_model_counts_with_its_own_tokenizer() -> None:
    gguf = bundled_gguf()
    assert gguf is not None, "the bundled SmolLM2 GGUF must be installed (scripts/setup.sh)"
    info = ModelInfo(role="caller", provider="embedded", model="SmolLM2", gguf_path=str(gguf))
    n = count_tokens("Where is my parcel? I have waited all day.", info)
    assert 8 <= n <= 20
    assert describe_counting(info).startswith("exact: the model's own tokenizer")


def test_message_count_includes_overhead() -> None:
    msgs = [Message(role="system", content="hi"), Message(role="user", content="hi")]
    assert count_messages(msgs) > 2 * count_tokens("hi")
