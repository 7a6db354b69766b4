"""The appraiser's reading model: its tokenizer matches BERT's, its file is checked, and the blend is used."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulator.grading.appraiser.encoder import (
    DEFAULT_ENCODER,
    DEFAULT_VOCAB,
    SCENARIO_TOKENS,
    ReadingModels,
    WordPiece,
    _block,
    _gelu,
    _Layer,
    _layer_norm,
    load_encoder,
)
from simulator.grading.appraiser.training import BLENDED_ROWS, PERSUASION_ROWS, PERSUASION_SHARE
from simulator.grading.appraiser.weights import (
    DEFAULT_WEIGHTS,
    N_HEADS,
    AppraiserWeightsError,
    load_weights,
)

# ids from the reference implementation (Hugging Face BertTokenizerFast over the same vocabulary)
REFERENCE = [
    (
        "customer: Café naïve — “quotes” 你好 x\u200b y",
        "Tabs\tand\nnew lines! £30… ¿Qué? 😀 e-mail@x.com",
        [101, 8013, 1024, 7668, 15743, 1517, 1523, 16614, 1524, 100, 100, 1060, 1061, 102, 21628, 2015, 1998,
         2047, 3210, 999, 28182, 2692, 1529, 1094, 10861, 1029, 100, 1041, 1011, 5653, 1030, 1060, 1012, 4012, 102],
    ),
    (
        "customer: I paid eighty-five quid on Saturday",
        "Didn't the mechanic tell you?",
        [101, 8013, 1024, 1045, 3825, 12021, 1011, 2274, 21864, 2094, 2006, 5095, 102, 2134, 1005, 1056, 1996,
         15893, 2425, 2017, 1029, 102],
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer() -> WordPiece:
    return WordPiece(DEFAULT_VOCAB)


@pytest.mark.parametrize(("first", "second", "ids"), REFERENCE)
def test_wordpiece_matches_the_reference_tokenizer(
    tokenizer: WordPiece, first: str, second: str, ids: list[int]
) -> None:
    got, segments = tokenizer.pair(first, second)
    assert got == ids
    assert segments == [0] * (ids.index(102) + 1) + [1] * (len(ids) - ids.index(102) - 1)


def test_long_inputs_are_trimmed_longest_first(tokenizer: WordPiece) -> None:
    ids, segments = tokenizer.pair("long " * 300, "turn " * 50, max_tokens=160)
    assert len(ids) == 160 and ids[0] == 101 and ids[-1] == 102
    assert segments.count(1) == 51  # the shorter segment keeps all 50 words while the longer one has more


def test_the_shipped_reading_model_gives_one_finite_logit_per_head() -> None:
    encoder = load_encoder()
    out = encoder.logits("It never came.", "The system shows it was delivered at 7:14.")
    assert out.shape == (N_HEADS,) and np.isfinite(out).all()
    assert np.array_equal(out, encoder.logits("It never came.", "The system shows it was delivered at 7:14."))


def test_the_shipped_weights_blend_the_reading_model_they_were_tuned_with() -> None:
    weights = load_weights()
    assert weights.encoder is not None and weights.blend is not None
    assert weights.meta["encoder"]["version"] == weights.encoder.version
    assert (weights.blend[list(BLENDED_ROWS)] > 0).all() and (weights.blend[list(BLENDED_ROWS)] < 1).all()
    # techniques, use, tactics and the gate: the fixed share the persona check allows (PERSUASION_SHARE)
    assert np.allclose(weights.blend[list(PERSUASION_ROWS)], PERSUASION_SHARE)
    assert sorted((*BLENDED_ROWS, *PERSUASION_ROWS)) == list(range(N_HEADS))  # every head is in one group


def test_weights_copied_elsewhere_use_the_shipped_reading_model_they_pin(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_WEIGHTS, tmp_path / DEFAULT_WEIGHTS.name)
    weights = load_weights(tmp_path / DEFAULT_WEIGHTS.name)
    assert weights.encoder is not None and weights.encoder.version == load_encoder().version


def _weights_pinning(folder: Path, version: str) -> Path:
    with np.load(DEFAULT_WEIGHTS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "encoder": {**meta["encoder"], "version": version}}))
    np.savez_compressed(folder / DEFAULT_WEIGHTS.name, **arrays)
    return folder / DEFAULT_WEIGHTS.name


def test_weights_pinning_a_reading_model_nobody_has_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AppraiserWeightsError, match=r"was tuned with reading model 0123456789ab.*beside it"):
        load_weights(_weights_pinning(tmp_path, "0123456789ab"))


def _weights_averaging(folder: Path, files: dict[str, str]) -> Path:
    """A copy of the shipped weights that averages the reading models `files` (name -> pinned version)."""
    with np.load(DEFAULT_WEIGHTS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    spec = {"files": list(files), "versions": list(files.values()), "blend": meta["encoder"]["blend"]}
    arrays["meta"] = np.array(json.dumps({**meta, "encoder": spec}))
    np.savez_compressed(folder / DEFAULT_WEIGHTS.name, **arrays)
    return folder / DEFAULT_WEIGHTS.name


def _shifted_encoder(path: Path, shift: float) -> str:
    """Write the shipped reading model with every head's bias moved by `shift`; returns its version."""
    with np.load(DEFAULT_ENCODER) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["head_b"] = arrays["head_b"] + shift
    np.savez_compressed(path, **arrays)
    return load_encoder(path).version


def test_weights_naming_two_reading_models_blend_the_mean_of_their_logits(tmp_path: Path) -> None:
    shipped = load_encoder()
    shutil.copy(DEFAULT_ENCODER, tmp_path / "encoder.npz")
    other = _shifted_encoder(tmp_path / "encoder2.npz", 2.0)
    weights = load_weights(_weights_averaging(tmp_path, {"encoder.npz": shipped.version, "encoder2.npz": other}))
    assert isinstance(weights.encoder, ReadingModels)
    assert weights.encoder.version == f"{shipped.version}+{other}"
    one = shipped.logits("It never came.", "I'll send a new one today.")
    both = weights.encoder.logits("It never came.", "I'll send a new one today.")
    assert np.allclose(both, one + 1.0, atol=1e-5)  # the mean of the shipped logits and the shipped + 2


def test_an_averaged_reading_model_of_another_version_is_refused_with_its_name(tmp_path: Path) -> None:
    shipped = load_encoder()
    shutil.copy(DEFAULT_ENCODER, tmp_path / "encoder.npz")
    _shifted_encoder(tmp_path / "encoder2.npz", 1.0)
    path = _weights_averaging(tmp_path, {"encoder.npz": shipped.version, "encoder2.npz": "0123456789ab"})
    with pytest.raises(AppraiserWeightsError, match=r"reading model 0123456789ab.*beside it as encoder2\.npz"):
        load_weights(path)


def test_reading_models_need_two_or_more() -> None:
    with pytest.raises(ValueError, match="at least two"):
        ReadingModels((load_encoder(),))


def test_a_reading_model_of_another_version_beside_the_weights_is_refused(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_WEIGHTS, tmp_path / DEFAULT_WEIGHTS.name)
    with np.load(DEFAULT_ENCODER) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["head_b"] = arrays["head_b"] + 1.0
    np.savez_compressed(tmp_path / DEFAULT_ENCODER.name, **arrays)
    with pytest.raises(AppraiserWeightsError, match="was tuned with reading model"):
        load_weights(tmp_path / DEFAULT_WEIGHTS.name)


def test_an_unreadable_reading_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "encoder.npz").write_bytes(b"not a numpy file")
    with pytest.raises(AppraiserWeightsError, match=r"reading model .* cannot be read"):
        load_encoder(tmp_path / "encoder.npz")


def test_a_reading_model_for_other_heads_is_refused(tmp_path: Path) -> None:
    with np.load(DEFAULT_ENCODER) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "heads": N_HEADS + 1}))
    np.savez_compressed(tmp_path / "encoder.npz", **arrays)
    with pytest.raises(AppraiserWeightsError, match="heads"):
        load_encoder(tmp_path / "encoder.npz")


def _masked_reference(x: np.ndarray, layer: _Layer, heads: int, m: int) -> np.ndarray:
    """One layer over the whole sequence with the scenario's mask written out: the first `m` tokens (the
    scenario) attend only to each other, the rest attend to everything."""
    n, width = x.shape
    size = width // heads
    qkv = x @ layer.qkv + layer.qkv_b
    q, k, v = (qkv[:, i * width : (i + 1) * width].reshape(n, heads, size).transpose(1, 0, 2) for i in range(3))
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(size)
    scores[:, :m, m:] = -np.inf
    attn = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attn /= attn.sum(axis=-1, keepdims=True)
    context = (attn @ v).transpose(1, 0, 2).reshape(n, width)
    h = _layer_norm(x + context @ layer.out + layer.out_b, layer.ln1)
    return _layer_norm(h + _gelu(h @ layer.up + layer.up_b) @ layer.down + layer.down_b, layer.ln2)


def test_the_cached_scenario_prefix_equals_attention_with_the_scenario_mask() -> None:
    rng = np.random.default_rng(0)
    width, heads, m, n = 8, 2, 5, 4

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    layer = _Layer(qkv=w(width, 3 * width), qkv_b=w(3 * width), out=w(width, width), out_b=w(width),
                   ln1=(np.ones(width, np.float32), np.zeros(width, np.float32)), up=w(width, 16), up_b=w(16),
                   down=w(16, width), down_b=w(width),
                   ln2=(np.ones(width, np.float32), np.zeros(width, np.float32)))  # fmt: skip
    scenario, pair = w(m, width), w(n, width)
    want = _masked_reference(np.concatenate([scenario, pair]), layer, heads, m)
    scenario_out, k, v = _block(scenario, layer, heads)
    pair_out, _, _ = _block(pair, layer, heads, (k, v))
    assert np.allclose(scenario_out, want[:m], atol=1e-5)
    assert np.allclose(pair_out, want[m:], atol=1e-5)


def test_a_model_trained_without_scenarios_ignores_them_and_one_trained_with_them_caches_them() -> None:
    encoder = load_encoder()
    plain = replace(encoder, meta={k: v for k, v in encoder.meta.items() if k != "scenario_tokens"})
    assert not plain.reads_scenario and plain.prefix("Refunds take 5 days.") is None
    assert np.array_equal(plain.logits("It never came.", "Sorry.", "Refunds take 5 days."),
                          plain.logits("It never came.", "Sorry."))  # fmt: skip
    positions = encoder.position
    if len(positions) < 160 + SCENARIO_TOKENS:  # a model trained without scenarios ships 160 positions
        positions = np.concatenate([positions, positions[: 160 + SCENARIO_TOKENS - len(positions)]])
    reading = replace(encoder, meta={**encoder.meta, "scenario_tokens": SCENARIO_TOKENS}, position=positions)
    first = reading.prefix("Refunds take  5 days.")
    assert first is not None and len(first) == len(reading.layers)
    assert reading.prefix("Refunds take 5 days.") is first  # whitespace-normalised, computed once
    assert reading.prefix("") is None
    with_facts = reading.logits("It never came.", "Sorry.", "Refunds take 5 days.")
    assert not np.array_equal(with_facts, reading.logits("It never came.", "Sorry."))


def test_a_model_pooled_over_the_turn_reads_the_caller_as_context_only() -> None:
    encoder = load_encoder()
    assert encoder.pooling == "turn"  # the shipped reading model (U, seed 20261203)
    paired = replace(encoder, meta={**encoder.meta, "pooling": "pair"})
    caller, turn = "you email me 'sorry, out of stock'", "I can give you a voucher."
    ids, segments = encoder.tokenizer.pair("customer: " + caller, turn)
    x = encoder._embed(ids, segments, 0)
    for layer in encoder.layers:
        x, _, _ = _block(x, layer, encoder.heads)
    after_first_sep = ids.index(encoder.tokenizer.sep) + 1  # the turn and its closing [SEP]
    want = x[after_first_sep:].mean(axis=0) @ encoder.head + encoder.head_b
    assert np.allclose(encoder.logits(caller, turn), want, atol=1e-4)
    assert np.allclose(paired.logits(caller, turn), x.mean(axis=0) @ encoder.head + encoder.head_b, atol=1e-4)
    assert not np.allclose(paired.logits(caller, turn), want, atol=1e-2)  # pooling the pair reads the caller too


def test_a_reading_model_with_an_unknown_pooling_is_refused(tmp_path: Path) -> None:
    with np.load(DEFAULT_ENCODER) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "pooling": "max"}))
    np.savez_compressed(tmp_path / "encoder.npz", **arrays)
    with pytest.raises(AppraiserWeightsError, match="pools by 'max'"):
        load_encoder(tmp_path / "encoder.npz")


def test_blended_weights_trained_on_two_reading_models_name_and_pin_both(tmp_path: Path) -> None:
    from simulator.grading.appraiser.dataset import load_many
    from simulator.grading.appraiser.training import heldout_files, shipped_training_files, train_blended_weights

    train = [c for c in load_many(shipped_training_files()) if c.split == "train"][:200]
    heldout = load_many(heldout_files())[:40]
    shutil.copy(DEFAULT_ENCODER, tmp_path / "encoder.npz")
    other = _shifted_encoder(tmp_path / "encoder2.npz", 0.5)
    paths = [tmp_path / "encoder.npz", tmp_path / "encoder2.npz"]
    with pytest.raises(ValueError, match="distinct file names"):
        train_blended_weights(train, heldout, [paths[0], paths[0]], tmp_path / DEFAULT_WEIGHTS.name, {})
    train_blended_weights(train, heldout, paths, tmp_path / DEFAULT_WEIGHTS.name, {})
    weights = load_weights(tmp_path / DEFAULT_WEIGHTS.name)
    assert weights.meta["encoder"]["files"] == ["encoder.npz", "encoder2.npz"]
    assert weights.meta["encoder"]["versions"] == [load_encoder().version, other]
    assert isinstance(weights.encoder, ReadingModels) and weights.blend is not None
