"""The fourth session's persuasion-share rule, for any candidate reading model.

usage: python scripts/persuasion_share.py WEIGHTS_DIR_OR_FILE [--write OUT.npz]

The reading model's share of the technique, use, tactic and whole-turn heads (`training.PERSUASION_SHARE`)
is chosen as the share with the lowest leave-one-author-out log loss on the held-out authors r9-r11
(`data/heldout/`) among the shares 0-0.7 at which every shipped persona's example offers grade as intended
(`cooldown personas test`). For each share this prints that log loss (thresholds and calibration fitted on
two authors, scored on the third, summed) and the persona check's failures, with thresholds and
calibration refitted on all three authors as `training.train_blended_weights` fits them. The behaviour and
score heads are left as the weights have them. With `--write`, the chosen share is written as a new weights
file beside the reading model (the linear heads are unchanged). Reads no development or blind data.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.appraise import head_inputs  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.grader import LocalAppraiser  # noqa: E402
from simulator.grading.appraiser.training import (  # noqa: E402
    PERSUASION_ROWS,
    calibrate,
    calibrated_log_loss,
    heldout_files,
    targets,
    thresholds_for,
)
from simulator.grading.appraiser.weights import Weights, load_weights, save_weights, weights_file  # noqa: E402
from simulator.persona.consistency import check_offers  # noqa: E402
from simulator.persona.loader import load_persona, persona_files  # noqa: E402

SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def _logits(weights: Weights, cases: list[LabelledTurn]) -> tuple[np.ndarray, np.ndarray]:
    """The linear heads' and the reading model's logits for every case."""
    assert weights.encoder is not None, "these weights have no reading model"
    linear, read = [], []
    for case in cases:
        inputs = head_inputs(case.trainee_turn, case.context, case.scenario)
        lin, reading = weights.logit_parts(inputs.features, inputs.customer, inputs.read, inputs.scenario)
        linear.append(lin)
        read.append(reading)
    return np.array(linear), np.array(read)


def _subset(y: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in y.items()}


def with_share(weights: Weights, share: float, blend: np.ndarray, y: dict[str, np.ndarray]) -> Weights:
    """`weights` with the persuasion rows blended at `share`, thresholds and calibration fitted on `blend`."""
    rows = list(PERSUASION_ROWS)
    assert weights.blend is not None and weights.calib is not None
    shares, thresholds, calib = weights.blend.copy(), weights.thresholds.copy(), weights.calib.copy()
    shares[rows] = share
    thresholds[rows] = thresholds_for(blend, y)[rows]
    calib[rows] = calibrate(blend, y)[rows]
    return dataclasses.replace(weights, blend=shares, thresholds=thresholds, calib=calib)


def persona_failures(weights: Weights) -> list[str]:
    grader = LocalAppraiser.from_weights(weights)
    failures = []
    for path in persona_files():
        persona = load_persona(path)
        for check in asyncio.run(check_offers(persona, grader)):
            if check.problems:
                failures.append(f"{persona.id} {check.kind}")
    return failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("--write", type=Path, help="write the chosen share's weights here (beside the encoder)")
    args = parser.parse_args(argv)
    path = weights_file(args.weights)
    weights = load_weights(path)
    cases = load_many(heldout_files())
    authors = np.array([str(c.meta.get("author") or c.id.split("-")[0]) for c in cases])
    y = targets(cases)
    linear, read = _logits(weights, cases)
    rows = set(PERSUASION_ROWS)
    best: tuple[float, float] | None = None
    for share in SHARES:
        blend = (1.0 - share) * linear + share * read
        loss = 0.0
        for author in sorted(set(authors)):
            fit, held = authors != author, authors == author
            calib = calibrate(blend[fit], _subset(y, fit))
            loss += calibrated_log_loss(blend[held], calib, _subset(y, held), rows)
        failures = persona_failures(with_share(weights, share, blend, y))
        print(f"share {share:.1f}: leave-one-author-out log loss {loss:.1f}; persona check "
              f"{'passes' if not failures else 'fails: ' + ', '.join(failures)}", flush=True)  # fmt: skip
        if not failures and (best is None or loss < best[1]):
            best = (share, loss)
    if best is None:
        print("no share passes the persona check")
        return 1
    print(f"chosen share {best[0]:.1f}")
    if args.write:
        share = best[0]
        chosen = with_share(weights, share, (1.0 - share) * linear + share * read, y)
        meta = dict(weights.meta)
        meta["encoder"] = {**meta["encoder"], "blend": chosen.blend.tolist()}  # type: ignore[union-attr]
        W = np.ascontiguousarray(chosen.WT.T)
        version = save_weights(args.write, chosen.cols, W, chosen.b, chosen.thresholds, meta, chosen.calib)
        print(f"wrote {args.write} ({version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
