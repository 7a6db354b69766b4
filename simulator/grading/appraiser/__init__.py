"""The local appraiser: grades trainee turns with the labels of docs/rubric.md offline, with no LLM, deterministically.

Linear heads over hashed n-grams, cues and decision features, blended with a reading model (`encoder`: a small
transformer fine-tuned here, run with numpy) that reads the caller's last line and the turn together. Both are
trained on our own labelled turns (`data/*.jsonl`) and the gold suites' train split; the blend, thresholds and
calibration are fitted on held-out authors (`data/heldout/`). For a manipulative verdict, a rule (`claims`)
finds the turn's figures, fees and deadlines that the scenario's facts contradict, for the tip to name.
Weights ship in `data/appraiser_weights.npz` and `data/encoder.npz`, measured quality in `data/metrics.json`
and docs/grading-quality.md. `appraise` is the fast sync call the mood state machine uses on every turn;
`LocalAppraiser` is the `TurnGrader` used when no capable LLM is configured and as a second opinion beside
the LLM grader.
"""

from simulator.grading.appraiser.appraise import appraise, appraise_with
from simulator.grading.appraiser.grader import GRADER_NAME, LocalAppraiser
from simulator.grading.appraiser.tips import coaching_tip
from simulator.grading.appraiser.weights import AppraiserWeightsError, load_weights

__all__ = [
    "GRADER_NAME",
    "AppraiserWeightsError",
    "LocalAppraiser",
    "appraise",
    "appraise_with",
    "coaching_tip",
    "load_weights",
]
