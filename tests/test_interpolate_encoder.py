"""`scripts/interpolate_encoder.py` (rule WiSE): weight-space interpolation between the shipped reading model and a
base, checked on a small base written here (the real base is a download, not part of the tests)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from simulator.grading.appraiser.encoder import DEFAULT_ENCODER, load_encoder


@pytest.fixture
def script(load_script: Callable[[str], ModuleType]) -> ModuleType:
    return load_script("interpolate_encoder")


def _fine() -> dict[str, np.ndarray]:
    with np.load(DEFAULT_ENCODER, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _base_like(script: ModuleType, fine: dict[str, np.ndarray], value: float) -> dict[str, np.ndarray]:
    """A base in the file's own layout whose every weight is `value` (position and word tables full size)."""
    layers = int(json.loads(str(fine["meta"]))["layers"])
    names = ["word", "position", "segment", "ln0_g", "ln0_b"]
    names += [f"l{i}.{x}" for i in range(layers) for x in (
        "qkv", "qkv_b", "out", "out_b", "ln1_g", "ln1_b", "up", "up_b", "down", "down_b", "ln2_g", "ln2_b")]
    return {n: np.full(fine[n].shape, value, dtype=np.float32) for n in names}


def test_alpha_one_gives_the_fine_tuned_model_back(script: ModuleType) -> None:
    fine = _fine()
    out = script.interpolate(fine, _base_like(script, fine, 0.3), 1.0)
    for name in ("word", "l0.qkv", "l5.down"):
        assert np.array_equal(out[name], fine[name]) and np.allclose(out[name + ".scale"], fine[name + ".scale"])
    assert np.array_equal(out["head"], fine["head"]) and np.allclose(out["l2.ln1_g"], fine["l2.ln1_g"])


def test_alpha_half_lands_halfway_and_keeps_the_head(script: ModuleType) -> None:
    fine = _fine()
    out = script.interpolate(fine, _base_like(script, fine, 0.0), 0.5)
    assert np.allclose(out["l1.ln2_g"], 0.5 * fine["l1.ln2_g"], atol=1e-6)
    dequant = out["l3.up"].astype(np.float32) * out["l3.up.scale"][None, :]
    expected = 0.5 * fine["l3.up"].astype(np.float32) * fine["l3.up.scale"][None, :]
    assert np.abs(dequant - expected).max() <= out["l3.up.scale"].max()  # within one int8 step
    assert np.array_equal(out["head"], fine["head"]) and np.array_equal(out["head_b"], fine["head_b"])


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_an_alpha_outside_zero_to_one_is_refused(script: ModuleType, alpha: float) -> None:
    fine = _fine()
    with pytest.raises(SystemExit, match="between 0 and 1"):
        script.interpolate(fine, _base_like(script, fine, 0.0), alpha)


def test_it_reads_the_float_tensors_of_a_safetensors_file(script: ModuleType, tmp_path: Path) -> None:
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    ids = np.arange(4, dtype="<i8")
    header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "position_ids": {"dtype": "I64", "shape": [4], "data_offsets": [24, 56]},
              "__metadata__": {"format": "pt"}}  # fmt: skip
    blob = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + a.tobytes() + ids.tobytes())
    read = script.read_safetensors(path)
    assert list(read) == ["a"] and np.array_equal(read["a"], a)
    (tmp_path / "bad.safetensors").write_bytes(b"\x01")
    with pytest.raises(SystemExit, match="not a safetensors file"):
        script.read_safetensors(tmp_path / "bad.safetensors")


def test_the_written_file_loads_and_records_what_it_came_from(script: ModuleType, tmp_path: Path) -> None:
    fine = _fine()
    out = script.interpolate(fine, _base_like(script, fine, 0.0), 0.75)
    meta = json.loads(str(fine["meta"]))
    meta["interpolated"] = {"alpha": 0.75, "base": "test", "from": "x"}
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = tmp_path / "encoder.npz"
    with path.open("wb") as fh:
        np.savez_compressed(fh, **out)
    model = load_encoder(path)
    assert model.meta["interpolated"] == {"alpha": 0.75, "base": "test", "from": "x"}
    assert np.isfinite(model.logits("My order is late.", "Let me check that for you.")).all()
