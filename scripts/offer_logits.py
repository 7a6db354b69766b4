"""Why a persona's example offer passes or fails: each deciding head's logits on the offer and its paraphrases.

usage: .venv/bin/python scripts/offer_logits.py [--offer PERSONA:KIND]... [--wording TEXT]... [WEIGHTS_DIR_OR_FILE ...]

For every wording of the offer (the persona file's own, then each paraphrase in `data/persona_paraphrases/`)
and every weights file, this prints whether the persona check passes and, for the heads that decide the
verdict, the linear heads' logit, the reading model's logit, the blended logit and the decision threshold (as
a logit). The heads shown: the whole-turn gate (`manipulative`), the "used manipulatively" head, every
technique, tactic and behaviour head whose blended logit is within 2 of its threshold or above it, and the
score logits. So a failure can be traced to the part of the model that moved, before anything is retrained.
Default offers: the three that retrains of the reading model keep failing (Ruth's credit, Victor's Gold
switch, Omar's refused voucher). `--wording TEXT` (repeatable) adds wordings of your own after the paraphrases,
for example the offer with one phrase removed, to find which words move a head.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.call.transcript import Utterance  # noqa: E402
from simulator.grading.appraiser.appraise import head_inputs  # noqa: E402
from simulator.grading.appraiser.grader import LocalAppraiser  # noqa: E402
from simulator.grading.appraiser.weights import (  # noqa: E402
    DEFAULT_WEIGHTS,
    HEAD_NAMES,
    M_ROW,
    S_SLICE,
    USE_ROW,
    Weights,
    load_weights,
    weights_file,
)
from simulator.persona.consistency import check_offer, example_offers  # noqa: E402
from simulator.persona.loader import load_persona, persona_files  # noqa: E402
from simulator.persona.schema import Persona  # noqa: E402

PARAPHRASES = ROOT / "simulator" / "grading" / "appraiser" / "data" / "persona_paraphrases"
DEFAULT_OFFERS = (
    "ruth_service_risk:acceptable_remedies.outage_credit",
    "victor_vip_renewal:acceptable_remedies.switch_gold",
    "omar_out_of_stock:will_not_accept.0",
)
NEAR = 2.0  # show a head whose blended logit is within this of its threshold


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def head_logits(weights: Weights, persona: Persona, turn: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The linear heads' logits and the reading model's (None without one), as `appraise_detailed` computes
    them for this turn said in answer to the persona's opening line."""
    context = [Utterance(role="customer", text=persona.opening_lines[0])]
    inputs = head_inputs(turn, context, persona.grader_brief())
    return weights.logit_parts(inputs.features, inputs.customer, inputs.read, inputs.scenario)


def describe(weights: Weights, linear: np.ndarray, reading: np.ndarray | None) -> list[str]:
    blended = weights.blended(linear, reading)
    lines = []
    for row, name in enumerate(HEAD_NAMES):
        if S_SLICE.start <= row < S_SLICE.stop:
            continue
        threshold = _logit(float(weights.thresholds[row]))
        if row not in (M_ROW, USE_ROW) and blended[row] < threshold - NEAR:
            continue
        read = "" if reading is None else f" reading {reading[row]:+.2f}"
        mark = ">=" if blended[row] >= threshold else "< "
        lines.append(f"{name:32} linear {linear[row]:+.2f}{read} -> {blended[row]:+.2f} {mark} {threshold:+.2f}")
    scores = " ".join(f"{s}:{blended[S_SLICE.start + s]:+.2f}" for s in range(5))
    lines.append(f"{'score logits':32} {scores}")
    return lines


def wordings(persona: Persona, kind: str, extra: Sequence[str] = ()) -> list[str]:
    own = [offer for k, offer in example_offers(persona) if k == kind]
    if not own:
        raise SystemExit(f"{persona.id} has no example offer {kind!r}; see `cooldown personas test` for the kinds")
    others = []
    for f in sorted(PARAPHRASES.glob("*.jsonl")):
        with f.open(encoding="utf-8") as fh:
            items = [json.loads(line) for line in fh if line.strip()]
        others += [it["paraphrase"] for it in items if it["persona"] == persona.id and it["kind"] == kind]
    return own + others + list(extra)


async def report(weights: Weights, persona: Persona, kind: str, extra: Sequence[str] = ()) -> None:
    grader = LocalAppraiser.from_weights(weights)
    texts = wordings(persona, kind, extra)
    first_extra = len(texts) - len(extra)
    for n, turn in enumerate(texts):
        check = await check_offer(persona, kind, turn, grader)
        label = f"paraphrase {n}" if n < first_extra else f"your wording {n - first_extra + 1}"
        label = "persona file" if n == 0 else label
        print(f"  [{'pass' if check.passed else 'FAIL'}] {label}: {turn}")
        for line in describe(weights, *head_logits(weights, persona, turn)):
            print(f"        {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offer", action="append", dest="offers", help="PERSONA_ID:KIND (repeatable)")
    parser.add_argument("--wording", action="append", default=[], help="another wording to score (repeatable)")
    parser.add_argument("weights", nargs="*")
    args = parser.parse_args(argv)
    personas = {p.id: p for p in (load_persona(f) for f in persona_files())}
    offers = [spec.partition(":") for spec in args.offers or DEFAULT_OFFERS]
    for persona_id, _, kind in offers:
        if persona_id not in personas or not kind:
            print(f"--offer {persona_id}:{kind}: expected PERSONA_ID:KIND with a shipped persona id", file=sys.stderr)
            return 2
    loaded = [load_weights(weights_file(Path(w))) for w in args.weights or [str(DEFAULT_WEIGHTS)]]
    for persona_id, _, kind in offers:
        for weights in loaded:
            print(f"{persona_id} {kind}, weights {weights.version}")
            asyncio.run(report(weights, personas[persona_id], kind, args.wording))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
