"""`LocalAppraiser`: the appraiser as a `TurnGrader` (offline fallback grader and second opinion)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from simulator.grading.appraiser.appraise import appraise_detailed
from simulator.grading.appraiser.tips import coaching_tip
from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, Weights, load_weights
from simulator.grading.base import GradeRequest
from simulator.grading.integrity import check_integrity, strip_injection_spans
from simulator.grading.labels import TurnGrade

GRADER_NAME = "local:appraiser"


class LocalAppraiser:
    """Grades turns with the local appraiser: no LLM, deterministic, numpy only.

    Holds only the immutable weights, so one instance can serve every session. Integrity flags are
    computed on the original text and stored with the grade; the verdict is made on the turn with
    invisible characters and injection payload spans removed (`simulator.grading.integrity`).
    """

    def __init__(self, weights_path: Path = DEFAULT_WEIGHTS, *, max_chars: int = 4000) -> None:
        """Load the weights (cached per process).

        Raises:
            AppraiserWeightsError: The weights file is missing or does not match this code.
        """
        self._weights: Weights = load_weights(weights_path)
        self._max_chars = max_chars

    @classmethod
    def from_weights(cls, weights: Weights, *, max_chars: int = 4000) -> LocalAppraiser:
        """An appraiser over weights already in memory (for scripts that compare variants of one file)."""
        grader = cls.__new__(cls)
        grader._weights = weights
        grader._max_chars = max_chars
        return grader

    @property
    def name(self) -> str:
        """Stored with every grade."""
        return GRADER_NAME

    @property
    def version(self) -> str:
        """A hash of the weights file, so grades from different weights are distinguishable."""
        return self._weights.version

    def prepare(self, scenario: str) -> None:
        """Read the scenario before the first turn (the reading model's cached scenario prefix), so the
        first turn of a call costs what the others do. Never raises: a failure here only means the first
        turn computes it."""
        encoder = self._weights.encoder
        if encoder is None:
            return
        try:
            encoder.prefix(scenario)
        except Exception:  # the first grade computes it again and reports any error
            pass

    def grade_sync(self, request: GradeRequest) -> TurnGrade:
        """Grade one turn synchronously (the same result as `grade`)."""
        try:
            flags = check_integrity(request.trainee_turn, max_chars=self._max_chars)
            view = strip_injection_spans(request.trainee_turn)
            verdict, confidence, claims = appraise_detailed(
                self._weights, request.trainee_turn, request.context, request.scenario, view=view
            )
            empty = not view.strip()
            return TurnGrade(
                status="graded",
                verdict=verdict,
                tip=coaching_tip(verdict, empty=empty, claims=claims),
                integrity_flags=flags,
                confidence=confidence or None,
                grader=self.name,
                grader_version=self.version,
            )
        except Exception as exc:  # fail closed: a grader never raises into the call pipeline
            return TurnGrade.ungraded(
                self.name, f"local appraiser failed: {type(exc).__name__}: {exc}", grader_version=self.version
            )

    async def grade(self, request: GradeRequest) -> TurnGrade:
        """Grade one turn (`TurnGrader` protocol). Never raises; failures come back `ungraded`.

        Runs in a worker thread: the reading model takes tens of milliseconds of numpy (which releases the
        GIL), and other calls served by this process must not wait on it."""
        return await asyncio.to_thread(self.grade_sync, request)
