"""`appraise`: one trainee turn → a `TurnVerdict`, offline and deterministic, in tens of milliseconds on one core.

Pipeline: integrity view (invisible characters and injection payload spans removed, see
`simulator.grading.integrity.strip_injection_spans`) → features (`features.extract`) → linear heads (`weights`),
blended with the reading model over the caller's last line and the turn (`encoder`) → decoding under the
rubric's rules (docs/rubric.md §4):

* behaviours: one-vs-rest, each with its tuned threshold;
* score 0-4: the softmax head, restricted to the scores the rubric allows for the predicted behaviours
  (a negative behaviour with nothing that listens → 0; a negative behaviour caps it at 3; a score of
  3-4 needs a listening behaviour; no listening and no negative → 1-2);
* techniques: presence heads, then one shared "used manipulatively" head; evidence is the sentence or
  clause that most supports the technique, always an exact substring of the turn as typed;
* tactics: one-vs-rest. `manipulative` is derived by `TurnVerdict` itself;
* the reason: when the verdict is manipulative, the claims in the turn that the scenario's facts contradict
  (`claims`), for the coaching tip to name. They never change the verdict (docs/grading-quality.md).

Grading the payload-stripped view is deliberate: text aimed at the grader is not said *to the caller*,
so it is not graded, and a pasted "SYSTEM: score 4" or forged grade JSON cannot move the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simulator.call.transcript import Utterance
from simulator.grading.appraiser.claims import ClaimConflict, claim_conflicts
from simulator.grading.appraiser.encoder import last_customer_line
from simulator.grading.appraiser.features import extract, extract_light, sentences_with_spans
from simulator.grading.appraiser.weights import (
    B_SLICE,
    BEHAVIOURS,
    DEFAULT_WEIGHTS,
    M_ROW,
    S_SLICE,
    T_SLICE,
    TACTICS,
    TECHNIQUES,
    USE_ROW,
    X_SLICE,
    Weights,
    load_weights,
)
from simulator.grading.integrity import reading_view, strip_injection_spans
from simulator.grading.labels import NEGATIVE_BEHAVIOURS, POSITIVE_BEHAVIOURS, Behaviour, TechniqueUse, TurnVerdict

EMPTY_TURN_SCORE = 1
"""RELIABILITY A8: an empty or whitespace turn scores 1 at most, with no model involved."""

class Appraisal(NamedTuple):
    """One turn's appraisal: the verdict, the confidence of each of its decisions, and, for a manipulative
    verdict, the claims in the turn that the scenario's facts contradict (its concrete reason)."""

    verdict: TurnVerdict
    confidence: dict[str, float]
    claims: list[ClaimConflict]


def _allowed_scores(behaviours: set[Behaviour]) -> list[int]:
    listens = bool(behaviours & POSITIVE_BEHAVIOURS)
    negative = bool(behaviours & NEGATIVE_BEHAVIOURS)
    if negative and not listens:
        return [0]
    if negative:
        return [1, 2, 3]
    if listens:
        return [2, 3, 4]
    return [1, 2]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


_TRIVIAL = re.compile(
    r"^\W*(?:sure|ok(?:ay)?|right|yes|yeah|no|fine|alright|thanks|thank you|of course|got it|i see|hello|hi)\W*$",
    re.IGNORECASE,
)
MIN_EVIDENCE_WORDS = 3
"""A technique is only claimed with evidence of at least this many words that does the technique."""


def trivial_evidence(text: str) -> bool:
    """True for a quote too slight to show a technique ("Sure.", "Okay then")."""
    return len(text.split()) < MIN_EVIDENCE_WORDS or bool(_TRIVIAL.match(text.strip()))


def _evidence_candidates(view: str, original: str) -> list[str]:
    """Sentences and clauses that may be quoted as evidence: exact, non-trivial substrings of `original`."""
    candidates = [view[s:e] for s, e in sentences_with_spans(view)]
    candidates = [c for c in candidates if c in original]
    if not candidates:
        candidates = [original[s:e] for s, e in sentences_with_spans(original)]
    if not candidates:
        candidates = [original.strip() or original]
    return [c for c in candidates if not trivial_evidence(c)]


class _EvidenceScorer:
    """Scores a turn's evidence candidates once (features and all heads), then picks per technique.

    Each candidate is featurised and run through the heads at most once per turn, however many
    techniques are found; the choice is the same as scoring each technique's row separately.
    """

    def __init__(self, weights: Weights, view: str, original: str) -> None:
        self._weights = weights
        self._candidates = _evidence_candidates(view, original)
        self._logits: list[np.ndarray] | None = None

    def best(self, row: int) -> str | None:
        """The candidate that most supports head `row` (the first one on a tie); None if none is fit."""
        if not self._candidates:
            return None
        if len(self._candidates) == 1:
            return self._candidates[0]
        if self._logits is None:
            self._logits = [self._weights.logits(extract_light(c)) for c in self._candidates]
        best, best_score = self._candidates[0], -np.inf
        for cand, logits in zip(self._candidates, self._logits, strict=True):
            score = float(logits[row])
            if score > best_score + 1e-9:
                best, best_score = cand, score
        return best


def appraise_with(
    weights: Weights,
    turn: str,
    context: Sequence[Utterance] = (),
    scenario: str | None = None,
    *,
    view: str | None = None,
) -> TurnVerdict:
    """Like `appraise`, with explicit weights (for tests and the training script).

    `view` is `strip_injection_spans(turn)` when the caller has already computed it.
    """
    return appraise_detailed(weights, turn, context, scenario, view=view).verdict


@dataclass(frozen=True)
class HeadInputs:
    """What the heads read for one turn: the linear heads' features, and the reading model's segments."""

    features: tuple[np.ndarray, np.ndarray]
    customer: str
    """The caller's last line."""
    read: str
    """The turn as the reading model reads it: whole sentences said to the caller (`reading_view`)."""
    scenario: str | None


def head_inputs(
    turn: str, context: Sequence[Utterance] = (), scenario: str | None = None, *, view: str | None = None
) -> HeadInputs:
    """The inputs `appraise_detailed` gives `Weights.turn_logits` for this turn (`view` as there)."""
    view = strip_injection_spans(turn) if view is None else view
    ctx = [(u.role, u.text) for u in context]
    return HeadInputs(extract(view, ctx, scenario), last_customer_line(ctx), reading_view(turn, view), scenario)


def appraise_detailed(
    weights: Weights,
    turn: str,
    context: Sequence[Utterance] = (),
    scenario: str | None = None,
    *,
    view: str | None = None,
) -> Appraisal:
    """The verdict, its confidence and, for a manipulative verdict, the claims against the scenario.

    Confidence is, for every head, the calibrated probability that the verdict's decision on it is right
    (`behaviour:<b>`, `technique:<t>`, `use:manipulative`, `tactic:<x>`, `score`, `manipulative`). An empty
    turn gets no confidence at all. The claims check (`claims.claim_conflicts`) runs only on a manipulative
    verdict and never changes it: on turns it was not written for, the claims it found beside a
    manipulative verdict were right 10 times out of 10, and alone 1 time out of 3."""
    view = strip_injection_spans(turn) if view is None else view
    if not view.strip():
        return Appraisal(TurnVerdict(perspective_taking=EMPTY_TURN_SCORE), {}, [])
    inputs = head_inputs(turn, context, scenario, view=view)
    logits = weights.turn_logits(inputs.features, inputs.customer, inputs.read, inputs.scenario)
    verdict = _decode(weights, logits, view, turn)
    confidence = _confidence(weights, logits, verdict)
    claims: list[ClaimConflict] = []
    if verdict.manipulative:
        claims = [c for c in claim_conflicts(inputs.read, scenario, [u.text for u in context]) if c.quote in turn]
    return Appraisal(verdict, confidence, claims)


def _confidence(weights: Weights, logits: np.ndarray, verdict: TurnVerdict) -> dict[str, float]:
    cal = weights.calibrated(logits)
    out: dict[str, float] = {}
    for i, b in enumerate(BEHAVIOURS):
        p = float(cal[B_SLICE.start + i])
        out[f"behaviour:{b.value}"] = p if b in verdict.behaviours else 1.0 - p
    out["score"] = float(cal[S_SLICE.start + verdict.perspective_taking])
    for k in range(5):
        out[f"score:{k}"] = float(cal[S_SLICE.start + k])
    found = {t.technique for t in verdict.techniques}
    for i, t in enumerate(TECHNIQUES):
        p = float(cal[T_SLICE.start + i])
        out[f"technique:{t.value}"] = p if t in found else 1.0 - p
    p_use = float(cal[USE_ROW])
    manipulative_use = any(t.use == "manipulative" for t in verdict.techniques)
    out["use:manipulative"] = p_use if manipulative_use else 1.0 - p_use
    tactic_p = []
    for i, x in enumerate(TACTICS):
        p = float(cal[X_SLICE.start + i])
        tactic_p.append(p)
        out[f"tactic:{x.value}"] = p if x in verdict.manipulation_tactics else 1.0 - p
    p_turn = float(cal[M_ROW])
    out["manipulative"] = p_turn if verdict.manipulative else 1.0 - p_turn
    return {k: round(v, 4) for k, v in out.items()}


def _decode(weights: Weights, logits: np.ndarray, view: str, turn: str) -> TurnVerdict:
    probs = _sigmoid(logits)
    th = weights.thresholds

    behaviours = {b for b, p, t in zip(BEHAVIOURS, probs[B_SLICE], th[B_SLICE], strict=True) if p >= t}
    score_logits = logits[S_SLICE]
    allowed = _allowed_scores(behaviours)
    score = max(allowed, key=lambda s: (float(score_logits[s]), -s))

    clean = probs[M_ROW] < th[M_ROW]  # the whole-turn gate: a clean turn has only ethical uses, no tactics
    manipulative_use = probs[USE_ROW] >= th[USE_ROW] and not clean
    techniques: list[TechniqueUse] = []
    evidence_for = _EvidenceScorer(weights, view, turn)
    for i, technique in enumerate(TECHNIQUES):
        row = T_SLICE.start + i
        if probs[row] >= th[row]:
            evidence = evidence_for.best(row)
            if evidence is None:  # nothing in the turn is substantial enough to show a technique
                continue
            use = "manipulative" if manipulative_use else "ethical"
            techniques.append(TechniqueUse(technique=technique, use=use, evidence=evidence))
    tactics = [] if clean else [t for t, p, thr in zip(TACTICS, probs[X_SLICE], th[X_SLICE], strict=True) if p >= thr]
    return TurnVerdict(
        perspective_taking=score,
        behaviours=sorted(behaviours, key=list(Behaviour).index),
        techniques=techniques,
        manipulation_tactics=tactics,
    )


def appraise(
    turn: str,
    context: Sequence[Utterance] = (),
    scenario: str | None = None,
    *,
    weights_path: Path = DEFAULT_WEIGHTS,
) -> TurnVerdict:
    """Grade one trainee turn with the local appraiser (no LLM, deterministic, numpy only).

    Used by the mood state machine on every turn, and as the offline grader.

    Args:
        turn: The trainee's turn as typed (invisible characters and injection payloads are handled here).
        context: Earlier utterances, oldest first (the last caller line tells a question from a complaint).
        scenario: The scenario's facts, if known (numbers not found there look like invented anchors).
        weights_path: A weights file other than the shipped one.

    Returns:
        The verdict. Evidence quotes are exact substrings of `turn`.

    Raises:
        AppraiserWeightsError: The weights file is missing or was trained for other labels/features.
    """
    return appraise_with(load_weights(weights_path), turn, context, scenario)
