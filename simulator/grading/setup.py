"""Whether the LLM grader runs, and how it is built from settings: one place for the CLI, app and suites."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.config import Settings
from simulator.llm.base import ChatModel

if TYPE_CHECKING:
    from simulator.grading.chain import LLMGrader


def llm_grading_enabled(settings: Settings) -> tuple[bool, str]:
    """(on?, why) for grading every turn with the grader model as well as the local appraiser."""
    if settings.llm_grading == "on":
        return True, "on (COOLDOWN_LLM_GRADING=on)"
    if settings.llm_grading == "off":
        return False, "off (COOLDOWN_LLM_GRADING=off)"
    from simulator.llm.factory import describe_role

    if describe_role("grader", settings).demo_grade:
        return False, (
            "off: the grader role is the embedded demo model, which cannot grade usefully; the local "
            "appraiser grades every turn. Point the grader at a capable model (COOLDOWN_GRADER__MODEL / "
            "__BASE_URL) or force it with COOLDOWN_LLM_GRADING=on"
        )
    return True, "on"


def build_llm_grader(
    settings: Settings,
    *,
    model: ChatModel | None = None,
    persona_summary: Callable[[str], str | None] | None = None,
) -> LLMGrader:
    """The LLM grading chain over the grader role's model, with the role's token limit."""
    from simulator.grading.chain import LLMGrader
    from simulator.llm import get_model

    return LLMGrader(
        model if model is not None else get_model("grader", settings),
        max_tokens=settings.grader.max_tokens,
        persona_summary=persona_summary,
    )
