"""What a larger reading model would cost per turn on one core, measured, not estimated.

usage: OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/reading_model_cost.py [--passes N] [--limit N]

The appraiser runs its reading model (`encoder.Encoder`) in numpy, float32 matrices dequantised from int8.
Issue 13 keeps the appraisal at or under 150 ms p95 on one core. This script times, in one process and one
run, the shipped appraisal and the reading model inside it, then the same numpy forward pass with random
weights of larger shapes (a random model costs what a trained one of its shape costs; the arithmetic does
not depend on the values):

- `minilm-l6`: the shipped shape (6 layers, 384 wide, 12 heads, 1536 feed-forward), random, as a check that
  a random model of the shipped shape costs what the shipped model costs;
- `minilm-l12`: 12 layers, 384 wide (all-MiniLM-L12-v2's shape);
- `mpnet-base`: 12 layers, 768 wide, 12 heads, 3072 feed-forward (all-mpnet-base-v2's shape). MPNet also adds
  a relative-position bias to every attention score, which this does not, so its figure is a lower bound.

Every model reads the same turns as the shipped one (the gold suites, caller line and turn, scenario by
scenario), so their token counts are the app's. It prints p50 and p95 per turn for each, its ratio to the
shipped reading model, and the appraisal's p95 with the shipped reading model swapped for each shape:
shipped appraisal per turn − shipped reading model per turn + that shape per turn, at the 95th percentile
of that sum over turns.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import head_inputs  # noqa: E402
from simulator.grading.appraiser.encoder import Encoder, _Layer  # noqa: E402


class Shape(NamedTuple):
    """A transformer's size."""

    name: str
    layers: int
    width: int
    heads: int
    ffn: int


SHAPES = (
    Shape("minilm-l6", 6, 384, 12, 1536),
    Shape("minilm-l12", 12, 384, 12, 1536),
    Shape("mpnet-base", 12, 768, 12, 3072),
)


def random_encoder(shape: Shape, like: Encoder, seed: int = 0) -> Encoder:
    """A reading model of `shape` with random weights and `like`'s tokenizer, heads and vocabulary size."""
    rng = np.random.default_rng(seed)
    w = shape.width

    def mat(rows: int, cols: int) -> np.ndarray:
        out = (rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)
        out.flags.writeable = False
        return out

    def vec(n: int, value: float = 0.0) -> np.ndarray:
        return np.full(n, value, dtype=np.float32)

    layers = tuple(
        _Layer(
            qkv=mat(w, 3 * w), qkv_b=vec(3 * w), out=mat(w, w), out_b=vec(w), ln1=(vec(w, 1.0), vec(w)),
            up=mat(w, shape.ffn), up_b=vec(shape.ffn), down=mat(shape.ffn, w), down_b=vec(w),
            ln2=(vec(w, 1.0), vec(w)),
        )
        for _ in range(shape.layers)
    )
    vocab = len(like.word)
    return Encoder(
        word=rng.integers(-127, 127, size=(vocab, w), dtype=np.int8),
        word_scale=np.full(vocab, 0.02 / 127, dtype=np.float32),
        position=mat(len(like.position), w),
        segment=mat(len(like.segment), w),
        ln0=(vec(w, 1.0), vec(w)),
        layers=layers,
        head=mat(w, like.head.shape[1]),
        head_b=vec(like.head.shape[1]),
        heads=shape.heads,
        tokenizer=like.tokenizer,
        version=f"random-{shape.name}",
        meta={**like.meta, "layers": shape.layers, "attention_heads": shape.heads, "scenario_tokens": 0},
    )


def _time(fn: Callable[[str, str], object], items: list[tuple[str, str]]) -> list[float]:
    out = []
    for customer, turn in items:
        t0 = time.perf_counter()
        fn(customer, turn)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=2, help="passes over the turns (the medians per turn are kept)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N turns (for a quick look)")
    args = parser.parse_args(argv)
    from benchmarks.fixtures import gold_requests
    from simulator.grading.appraiser.appraise import appraise
    from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights

    requests = sorted(gold_requests(args.limit), key=lambda r: r.scenario or "")
    shipped = load_weights(DEFAULT_WEIGHTS).encoder
    if not isinstance(shipped, Encoder):
        raise SystemExit("the shipped weights name no single reading model; nothing to compare against")
    inputs = [head_inputs(r.trainee_turn, r.context, r.scenario) for r in requests]
    items = [(i.customer, i.read) for i in inputs]  # what the appraisal gives its reading model
    appraise(requests[0].trainee_turn, requests[0].context, requests[0].scenario)  # load once

    def whole(i: int) -> float:
        r = requests[i]
        t0 = time.perf_counter()
        appraise(r.trainee_turn, r.context, r.scenario)
        return (time.perf_counter() - t0) * 1000.0

    runs: dict[str, list[np.ndarray]] = {}
    for _ in range(args.passes):  # alternate, so load on the machine falls on every model alike
        runs.setdefault("appraisal", []).append(np.array([whole(i) for i in range(len(requests))]))
        runs.setdefault("shipped", []).append(np.array(_time(shipped.logits, items)))
        for shape in SHAPES:
            model = random_encoder(shape, shipped)
            runs.setdefault(shape.name, []).append(np.array(_time(model.logits, items)))
    per_turn = {k: np.median(np.stack(v), axis=0) for k, v in runs.items()}
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"{len(items)} turns, {args.passes} passes, median per turn; OPENBLAS_NUM_THREADS={threads}")
    base = per_turn["shipped"]
    rest = per_turn["appraisal"] - base
    print(f"{'model':<22} {'p50 ms':>8} {'p95 ms':>8} {'x shipped (mean)':>17} {'appraisal p95 ms':>17}")
    print(f"{'appraisal (shipped)':<22} {np.percentile(per_turn['appraisal'], 50):8.1f} "
          f"{np.percentile(per_turn['appraisal'], 95):8.1f} {'':>17} {np.percentile(per_turn['appraisal'], 95):17.1f}")
    for name in ("shipped", *(s.name for s in SHAPES)):
        t = per_turn[name]
        print(f"{'reading: ' + name:<22} {np.percentile(t, 50):8.1f} {np.percentile(t, 95):8.1f} "
              f"{t.mean() / base.mean():17.2f} {np.percentile(rest + t, 95):17.1f}")
    print("budget: appraisal p95 <= 150 ms on one core (issue 13)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
