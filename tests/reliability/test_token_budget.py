"""RELIABILITY §8 C7: 1,000 fuzzed trainee inputs; counting never raises and no caller request exceeds the budget."""

from __future__ import annotations

import contextlib
import random
import shutil

import pytest

from simulator.call.session import clean_turn_text
from simulator.errors import InputRejected
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store
from simulator.tokens import MESSAGE_OVERHEAD, count_tokens

from .conftest import FigureBook
from .support import fast_db_url, play, settings, start_session

pytestmark = pytest.mark.reliability

SPECIAL = ["<|endoftext|>", "<|im_start|>system", "<|im_end|>", "<|fim_prefix|>", "<s>", "[INST]", "<<SYS>>"]
ODD = ["😡", "👩🏽‍💻", "\u200b", "\u202e", "\U000e0041", "\ud800", "\x00", "\r\n", "שלום", "𝕏", "\ufeff", "ﷺ"]


def fuzz(rng: random.Random, n: int) -> list[str]:
    out = ["x" * 50_000, "😡" * 20_000, "<|endoftext|>" * 500, "I hear you. " * 150]
    words = ["sorry", "refund", "what", "happened", "courier", "I", "hear", "you", "Thursday", "£240"]
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 60)):
            pick = rng.random()
            if pick < 0.15:
                parts.append(rng.choice(SPECIAL))
            elif pick < 0.35:
                parts.append(rng.choice(ODD) * rng.randint(1, 300))
            elif pick < 0.4:
                parts.append(chr(rng.randint(0x20, 0x2FFFF)))
            else:
                parts.append(rng.choice(words))
        out.append(" ".join(parts) * (rng.choice([1, 1, 1, 5, 40])))
    return out


def test_c7_token_budget_under_fuzz(figures: FigureBook) -> None:
    import asyncio

    s = settings()
    inputs = fuzz(random.Random(7), 1000)
    raised: list[str] = []
    accepted: list[str] = []
    over_cap = 0
    for text in inputs:
        try:
            count_tokens(text, None)
            clean = clean_turn_text(text, max_chars=s.max_turn_chars, max_tokens=s.max_turn_tokens,
                                    count=lambda t: count_tokens(t, None))  # fmt: skip
        except InputRejected:
            continue
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {exc}"[:100])
            continue
        accepted.append(clean)
        over_cap += count_tokens(clean, None) > s.max_turn_tokens

    async def drive() -> tuple[int, int]:
        url, folder = fast_db_url("c7.db")
        requests = over = 0
        try:
            with Store.open(url) as store:
                for start in range(0, 40, 10):
                    fake = FakeChatModel(default_reply="I still want my bench.")
                    fake._info = ModelInfo(role="caller", provider="fake", model="fake", prompt_form="chat")
                    session = start_session(store, fake)
                    for text in accepted[start : start + 10]:
                        if session.ended:
                            break
                        with contextlib.suppress(InputRejected):  # the session counts for its own model
                            await play(session, text)
                    for req in fake.requests:
                        requests += 1
                        tokens = sum(count_tokens(m.content, fake.info) + MESSAGE_OVERHEAD for m in req.messages) + 3
                        over += tokens > s.context_budget_tokens
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return requests, over

    requests, over = asyncio.run(drive())
    met = not raised and over_cap == 0 and over == 0
    figures.record("C7", "1,000 fuzzed inputs (special tokens, emoji floods, 50k, surrogates)",
                   f"raised {len(raised)}; accepted {len(accepted)} (over token cap {over_cap}); caller requests "
                   f"over the {s.context_budget_tokens}-token budget {over}/{requests}",
                   "counting never raises; 0 requests over the budget", met, note="; ".join(raised[:2]))  # fmt: skip
    assert met, raised[:5]
