"""Grading trainee turns: the grader protocol, the LLM grading chain and the debrief."""

from simulator.grading.base import GradeRequest, TurnGrader

__all__ = ["GradeRequest", "TurnGrader"]
