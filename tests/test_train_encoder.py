"""`scripts/train_encoder.py`'s caller-line sentences: the caller, not the agent, says the apology words, the
same line always gets the same sentence, and they are off as shipped. (Training itself needs torch; it is
not run here.)"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("train_encoder")


def test_caller_sentences_go_into_the_callers_line_only_and_are_repeatable(script: ModuleType) -> None:
    line = script.CUSTOMER_PREFIX + "It never came."
    changed = [script.with_caller_words(line, epoch, 7, 1.0) for epoch in range(20)]
    for out in changed:
        assert out.startswith(script.CUSTOMER_PREFIX) and "It never came." in out
        assert any(s in out for s in script.CALLER_SENTENCES)
    assert len(set(changed)) > 1  # a new choice each epoch
    assert changed == [script.with_caller_words(line, epoch, 7, 1.0) for epoch in range(20)]  # halves of a pair agree
    assert script.with_caller_words(line, 3, 7, 0.0) == line
    kept = sum(script.with_caller_words(line + str(i), 0, 7, 0.3) == line + str(i) for i in range(400))
    assert 220 < kept < 340  # about 70% unchanged at share 0.3


def test_they_are_off_and_pooling_is_the_pairs_as_shipped(script: ModuleType) -> None:
    assert script.CALLER_WORDS == 0.0 and script.POOLING == "pair"
