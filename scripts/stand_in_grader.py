"""The LLM grading chain measured with a stand-in for the capable model we cannot call from here.

usage:
    python scripts/stand_in_grader.py export OUT_DIR [--chunk 50]
    python scripts/stand_in_grader.py score ANSWERS.jsonl [ANSWERS.jsonl ...]
    python scripts/stand_in_grader.py score evals/stand_in_grader/answers.jsonl   # the committed answers

`export` renders, for every turn of the blind suites (`evals/suites/blind.jsonl`, `blind2.jsonl`), the exact
messages the product's LLM grader sends (`evals.graders.llm_grader`, the same chain `cooldown evals run
--grader llm` uses), captured from the project's fake model: `system.md` (the grader's instructions, the same
for every turn), `schema.json` (the structured answer the chain asks for) and, per chunk folder, `items.jsonl`
with each turn's user message. A stand-in model (a helper session) answers each item with one JSON object.

`score` feeds every answer back through the same chain, as the model's reply to that turn's request: the
chain validates it (schema, evidence quoted exactly from the turn) and either grades the turn or leaves it
`ungraded`, exactly as with a real model, with no repair (a stand-in cannot be re-asked). It prints the issue's
target figures (`training.target_metrics`) on the graded turns, with 95% bootstrap CIs, per suite, beside the
shipped appraiser's figures on the same turns.

What this measures, and what it does not: how a capable LLM of the helpers' kind grades through our prompt,
schema and validation. It is not an API call (no sampling settings, no structured-output mode), and the blind
suites' turns and labels were written by helper sessions of the same kind, so shared habits may flatter it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evals.graders import llm_grader  # noqa: E402
from evals.suites import SUITES_DIR  # noqa: E402
from simulator.grading.appraiser.appraise import appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.training import target_metrics, target_metrics_with_ci  # noqa: E402
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, load_weights  # noqa: E402
from simulator.grading.base import GradeRequest, TurnGrade  # noqa: E402
from simulator.grading.labels import TurnVerdict  # noqa: E402
from simulator.grading.schema import GraderOutput  # noqa: E402
from simulator.llm.fake import FakeChatModel  # noqa: E402

SUITES = {"blind": "blind.jsonl", "blind2": "blind2.jsonl"}
FIGURES = ("score_qwk", "manipulative_f1", "ethical_called_manipulative", "negative_recall", "negative_precision",
           "surface_cue_scored_le1", "fact_confrontation_f1", "dismissal_f1", "blame_f1")  # fmt: skip


def cases_of(suite: str) -> list[LabelledTurn]:
    """The suite's test turns (every blind turn is `split: test`)."""
    return [c for c in load_many([SUITES_DIR / SUITES[suite]]) if c.split == "test"]


async def _grade(case: LabelledTurn, reply: Any) -> tuple[TurnGrade, FakeChatModel]:
    """The chain's grade of `case` when the model answers `reply` once (None: no answer, to capture the request);
    as `EvalCase.request` builds it for the suite runner."""
    # The answer is queued twice: a repair or an integrity cross-check gets the same answer again, so an invalid
    # answer stays invalid (no repair) and a flagged turn is graded as the stand-in graded it once.
    fake = FakeChatModel(replies=[reply, reply] if reply is not None else [], role="grader", default_reply="")
    request = GradeRequest(trainee_turn=case.trainee_turn, context=list(case.context), scenario=case.scenario,
                           persona=case.persona)
    grade = await llm_grader(fake).grade(request)
    return grade, fake


def export(out: Path, chunk: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    items: list[dict[str, str]] = []
    system = None
    for suite in SUITES:
        for case in cases_of(suite):
            _, fake = asyncio.run(_grade(case, None))
            sent = fake.requests[0].messages
            if system is None:
                system = sent[0].content
            elif sent[0].content != system:
                raise SystemExit("the grader's system message differs between turns; export it per item")
            items.append({"item": case.id, "message": sent[1].content})
    assert system is not None
    (out / "system.md").write_text(system, encoding="utf-8")
    (out / "schema.json").write_text(json.dumps(GraderOutput.model_json_schema(), indent=1), encoding="utf-8")
    for k in range(0, len(items), chunk):
        folder = out / f"part{k // chunk + 1:02d}"
        folder.mkdir(exist_ok=True)
        with open(folder / "items.jsonl", "w", encoding="utf-8") as f:
            for item in items[k:k + chunk]:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(items)} items in {(len(items) + chunk - 1) // chunk} folders under {out}")
    return 0


def _with_ci(cases: list[LabelledTurn], preds: list[TurnVerdict]) -> dict[str, str]:
    figures = target_metrics_with_ci(cases, preds, FIGURES)
    out = {k: f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for k, (p, lo, hi) in figures.items()}
    out["pairs_right"] = str(target_metrics(cases, preds)["pairs_right"])
    return out


def score(paths: list[Path]) -> int:
    answers: dict[str, Any] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                answers[row["item"]] = row["output"]
    weights = load_weights(DEFAULT_WEIGHTS)
    for suite in SUITES:
        cases = cases_of(suite)
        missing = [c.id for c in cases if c.id not in answers]
        if missing:
            raise SystemExit(f"{suite}: {len(missing)} turns have no answer (first: {missing[0]})")
        graded: list[tuple[LabelledTurn, TurnVerdict]] = []
        ungraded: list[str] = []
        flagged = 0
        for case in cases:
            grade, _ = asyncio.run(_grade(case, answers[case.id]))
            flagged += bool(grade.integrity_flags)
            if grade.verdict is None:
                ungraded.append(f"{case.id}: {grade.reason}")
            else:
                graded.append((case, grade.verdict))
        turns = [t for t, _ in graded]
        stand_in = _with_ci(turns, [v for _, v in graded])
        appraiser = _with_ci(turns, [appraise_with(weights, t.trainee_turn, t.context, t.scenario) for t in turns])
        print(f"\n{suite}: {len(cases)} turns, {len(graded)} graded by the chain, {len(ungraded)} ungraded, "
              f"{flagged} flagged by the integrity check (their cross-check got the same answer again)")
        for reason in ungraded:
            print(f"  ungraded {reason[:300]}")
        print(f"  {'figure':30s} {'LLM chain, stand-in model':34s} appraiser {weights.version}, same turns")
        for k in (*FIGURES, "pairs_right"):
            print(f"  {k:30s} {stand_in[k]:34s} {appraiser[k]}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("out", type=Path)
    ex.add_argument("--chunk", type=int, default=50)
    sc = sub.add_parser("score")
    sc.add_argument("answers", type=Path, nargs="+")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # every captured request ends `ungraded` on purpose: 500 warnings
    if args.command == "export":
        return export(args.out, args.chunk)
    return score(args.answers)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
