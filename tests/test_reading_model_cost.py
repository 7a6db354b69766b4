"""`scripts/reading_model_cost.py`, which times larger reading-model shapes against the shipped one: a random
model of a shape runs the shipped forward pass and is as costly as the shape, so its timing means something."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from simulator.grading.appraiser.encoder import Encoder
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, N_HEADS, load_weights


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("reading_model_cost")


def test_a_random_model_of_each_shape_reads_a_turn_through_the_shipped_forward_pass(script: ModuleType) -> None:
    shipped = load_weights(DEFAULT_WEIGHTS).encoder
    assert isinstance(shipped, Encoder)
    for shape in script.SHAPES:
        model = script.random_encoder(shape, shipped)
        assert len(model.layers) == shape.layers and model.layers[0].up.shape == (shape.width, shape.ffn)
        out = model.logits("My parcel never came.", "I'm sorry, let me check where it is.")
        assert out.shape == (N_HEADS,) and np.isfinite(out).all()


def test_the_shipped_shape_is_listed_first_so_the_random_check_compares_like_with_like(script: ModuleType) -> None:
    shipped = load_weights(DEFAULT_WEIGHTS).encoder
    assert isinstance(shipped, Encoder)
    first = script.SHAPES[0]
    assert (first.layers, first.width) == (len(shipped.layers), shipped.head.shape[0])


def test_it_prints_every_shape_and_the_budget(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main(["--limit", "3", "--passes", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"reading: {s.name}" in out for s in script.SHAPES)
    assert "appraisal (shipped)" in out and "150 ms" in out
