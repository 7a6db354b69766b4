"""Cooldown's shared words: the names every part uses for speakers, modes, outcomes and events.

One home for vocabulary that crosses package lines (the call, the caller, storage, the UI, the CLI), so
a name is defined once and a type checker sees every use. Labels of the rubric live in
`simulator.grading.labels`; this module holds the rest, and `readable_reason`, which turns those ids into
the words a trainee reads. It imports nothing from Cooldown.
"""

from __future__ import annotations

import re
from typing import Literal

Speaker = Literal["agent", "customer"]
"""Who said an utterance: the trainee (`agent`) or the caller (`customer`)."""

Mode = Literal["coach", "exam"]
"""Coach mode shows feedback after every turn; exam mode hides it until the debrief."""

DifficultyName = Literal["easy", "normal", "hard"]

Outcome = Literal["resolved", "hung_up", "escalated", "out_of_turns"]
"""How the mood state machine ends a call."""

CallOutcome = Literal["resolved", "hung_up", "escalated", "out_of_turns", "abandoned"]
"""How a stored call ended: an `Outcome`, or `abandoned` when the trainee left before one."""

TurnStatus = Literal["received", "final", "interrupted"]

GuardKind = Literal[
    "empty",
    "canary_leak",
    "hidden_leak",
    "structured_output",
    "agent_speak",
    "ai_self_reference",
]
"""What the in-character guard found wrong with a caller reply."""

GuardEventKind = Literal[
    "empty",
    "canary_leak",
    "hidden_leak",
    "structured_output",
    "agent_speak",
    "ai_self_reference",
    "truncated",
    "fallback",
    "input_rejected",
    "reply_failed",
    "reply_interrupted",
    "mood_regraded",
]
"""Everything stored as a guard event: the guard's findings and what the call did about them."""


_UNSURE = re.compile(r"\[grader unsure: (\d+%) of the effect\]")


def readable_reason(reason: str) -> str:
    """A label id or a stored mood rule as a trainee reads it: words, not ids ("fact confrontation: anger +10",
    "(the grader was unsure: 91% of the effect)"). For the page, the debrief and the Markdown exports; JSON
    keeps the ids."""
    return _UNSURE.sub(r"(the grader was unsure: \1 of the effect)", reason).replace("_", " ")
