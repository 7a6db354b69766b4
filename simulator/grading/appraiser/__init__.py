"""The local appraiser: grades trainee turns with the labels of docs/rubric.md offline, with no LLM, deterministically.

A linear model over hashed n-grams and linguistic cues, trained by `scripts/train_appraiser.py` on our own
labelled turns (`data/train_extra.jsonl`) and the gold suites' train split; weights ship in
`data/appraiser_weights.npz` and measured quality in `data/metrics.json`. `appraise` is the fast sync
call the mood state machine uses on every turn; `LocalAppraiser` is the `TurnGrader` used when no capable
LLM is configured and as a second opinion beside the LLM grader.
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
