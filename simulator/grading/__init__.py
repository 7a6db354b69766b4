"""Grading trainee turns: the grader protocol, the LLM grading chain and the debrief.

The chain and the debrief are imported on first use, so importing the protocol stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from simulator.grading.base import GradeRequest, TurnGrader

_LAZY = {
    "LLMGrader": "simulator.grading.chain",
    "GraderOutput": "simulator.grading.schema",
    "SCHEMA_VERSION": "simulator.grading.schema",
    "build_debrief": "simulator.grading.debrief",
    "CallRecord": "simulator.grading.debrief",
    "CallTurn": "simulator.grading.debrief",
    "MoodPoint": "simulator.grading.debrief",
    "Debrief": "simulator.grading.debrief",
}

__all__ = ["GradeRequest", "TurnGrader", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simulator.grading' has no attribute {name!r}")
