"""`cooldown personas test` on other wordings of the same offers: how robust the persona check's pass is.

usage: python scripts/persona_paraphrases.py [--file F.jsonl]... [--per-offer] [WEIGHTS_DIR_OR_FILE ...]

The persona check grades each persona's example offers once, in one wording, so a grader can pass it by a
thin margin (or by the seed of its reading model, `data/dev2/README.md`) and still punish a trainee who makes
the same offer in other words. Helper authors wrote four paraphrases of every example offer, each making the
same move with the same facts (`data/persona_paraphrases/`, with their brief). This grades every paraphrase as
the check grades the original (`consistency.check_offer`: an acceptable remedy must not be manipulative, an
offer the caller refuses must not be a good turn, evidence never trivial) and prints, per weights, the share
that pass with a 95% Wilson interval, for acceptable remedies and refused offers apart. With no weights
argument it scores the shipped weights. A diagnostic: it decides nothing by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.grader import LocalAppraiser  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights, weights_file  # noqa: E402
from simulator.persona.consistency import check_offer  # noqa: E402
from simulator.persona.loader import load_persona, persona_files  # noqa: E402
from simulator.persona.schema import Persona  # noqa: E402

DATA = ROOT / "simulator" / "grading" / "appraiser" / "data" / "persona_paraphrases"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_items(files: list[Path]) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            items += [json.loads(line) for line in fh if line.strip()]
    return items


async def score(grader: LocalAppraiser, personas: dict[str, Persona], items: list[dict[str, str]]) -> list[bool]:
    passed = []
    for it in items:
        check = await check_offer(personas[it["persona"]], it["kind"], it["paraphrase"], grader)
        passed.append(check.passed)
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, action="append", dest="files",
                        help="a paraphrase file (repeatable; default: every file in data/persona_paraphrases/)")
    parser.add_argument("--per-offer", action="store_true", help="also print the pass count for every offer")
    parser.add_argument("weights", nargs="*")
    args = parser.parse_args(argv)
    files = args.files or sorted(DATA.glob("*.jsonl"))
    if not files:
        print(f"no paraphrase files in {DATA}", file=sys.stderr)
        return 2
    items = load_items(files)
    personas = {p.id: p for p in (load_persona(f) for f in persona_files())}
    unknown = sorted({it["persona"] for it in items} - set(personas))
    if unknown:
        print(f"paraphrases name personas that are not shipped: {unknown}", file=sys.stderr)
        return 2
    print(f"{len(items)} paraphrases of {len({(i['persona'], i['kind']) for i in items})} offers")
    for w in args.weights or [str(DEFAULT_WEIGHTS)]:
        weights = load_weights(weights_file(Path(w)))
        passed = asyncio.run(score(LocalAppraiser.from_weights(weights), personas, items))
        line = [f"{weights.version}"]
        for label, prefix in (("acceptable remedies", "acceptable_remedies."), ("refused offers", "will_not_accept.")):
            ks = [p for p, it in zip(passed, items, strict=True) if it["kind"].startswith(prefix)]
            lo, hi = wilson(sum(ks), len(ks))
            line.append(f"{label} {sum(ks)}/{len(ks)} pass [{lo:.2f}, {hi:.2f}]")
        lo, hi = wilson(sum(passed), len(passed))
        line.append(f"all {sum(passed)}/{len(passed)} [{lo:.2f}, {hi:.2f}]")
        print("  ".join(line))
        if args.per_offer:
            by: dict[tuple[str, str], list[bool]] = defaultdict(list)
            for p, it in zip(passed, items, strict=True):
                by[(it["persona"], it["kind"])].append(p)
            for (persona, kind), ps in sorted(by.items()):
                print(f"    {persona:24} {kind:36} {sum(ps)}/{len(ps)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
