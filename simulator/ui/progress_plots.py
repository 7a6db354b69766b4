"""The progress plots' data: perspective-taking and manipulative moves per call, outcomes, behaviours.

The progress views use Gradio's native plots (`gr.LinePlot`, `gr.BarPlot`): the server sends a few
hundred numbers and the browser draws them. Drawing them as matplotlib PNGs, as the debrief does
(`simulator.ui.plots`), cost 150-550 ms per plot on a loaded machine, more than the whole page's budget
(< 1 s at 100k stored turns; see docs/performance.md). Each function here turns a
`simulator.storage.Progress` (already aggregated in SQL) into the small DataFrame one plot shows.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from simulator.grading.labels import NEGATIVE_BEHAVIOURS, POSITIVE_BEHAVIOURS
from simulator.storage import Progress
from simulator.storage.progress import IN_PROGRESS

CALL, SCORE, MANIP, CALLS = "call", "perspective-taking", "manipulative moves", "calls"
GROUP, OUTCOME, BEHAVIOUR, SHARE, KIND = "caller · difficulty", "outcome", "behaviour", "% of graded turns", "kind"
OUTCOME_COLOURS = {
    "resolved": "#16a34a",
    "escalated": "#d97706",
    "hung up": "#dc2626",
    "out of turns": "#6b7280",
    "abandoned": "#9ca3af",
    IN_PROGRESS: "#93c5fd",
}
KIND_COLOURS = {"listening": "#16a34a", "confronting": "#dc2626", "neutral": "#6b7280"}


class ProgressFrames(NamedTuple):
    """The data of the four plots of a progress view."""

    scores: pd.DataFrame
    manipulative: pd.DataFrame
    outcomes: pd.DataFrame
    behaviours: pd.DataFrame


def per_call(progress: Progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean perspective-taking per call, and manipulative moves per call, numbered from 1.

    A trainee's calls in order (calls with no graded turn have no score point); for the cohort, the mean
    over trainees of their n-th call.
    """
    if progress.trainee is None:
        points = [(p.call_number, p.mean_score, p.manipulative_per_call) for p in progress.curve]
    else:
        points = [(n, c.mean_score, float(c.manipulative_turns)) for n, c in enumerate(progress.calls, start=1)]
    scores = pd.DataFrame(
        {CALL: [n for n, s, _ in points if s is not None], SCORE: [round(s, 2) for _, s, _ in points if s is not None]}
    )
    manipulative = pd.DataFrame({CALL: [n for n, _, _ in points], MANIP: [round(m, 2) for _, _, m in points]})
    return scores.astype({CALL: "int64", SCORE: "float64"}), manipulative.astype({CALL: "int64", MANIP: "float64"})


def outcomes(progress: Progress) -> pd.DataFrame:
    """Calls per persona and difficulty, split by how they ended (a stacked bar per group)."""
    return pd.DataFrame(
        {
            GROUP: [f"{o.persona} · {o.difficulty}" for o in progress.outcomes],
            OUTCOME: [o.outcome.replace("_", " ") for o in progress.outcomes],
            CALLS: [o.calls for o in progress.outcomes],
        }
    ).astype({GROUP: "str", OUTCOME: "str", CALLS: "int64"})


def _kind(behaviour: object) -> str:
    if behaviour in POSITIVE_BEHAVIOURS:
        return "listening"
    return "confronting" if behaviour in NEGATIVE_BEHAVIOURS else "neutral"


def behaviours(progress: Progress) -> pd.DataFrame:
    """Each rubric behaviour's share of graded turns, most used first."""
    items = progress.behaviours if progress.graded_turns else []
    return pd.DataFrame(
        {
            BEHAVIOUR: [b.behaviour.value.replace("_", " ") for b in items],
            SHARE: [round(100 * b.share, 1) for b in items],
            KIND: [_kind(b.behaviour) for b in items],
        }
    ).astype({BEHAVIOUR: "str", SHARE: "float64", KIND: "str"})


def progress_frames(progress: Progress) -> ProgressFrames:
    """The data of every plot of a progress view."""
    scores, manipulative = per_call(progress)
    return ProgressFrames(scores, manipulative, outcomes(progress), behaviours(progress))
