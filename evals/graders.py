"""Resolve `--grader local|llm|both` into graders: the one place suites import grader implementations.

Imports are lazy, so the suites run with whichever grader exists. The LLM grader is wrapped twice:
its model in a `MeteredChatModel` (calls and tokens), the grader in a `CachedGrader` (disk cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evals.cache import CachedGrader, GradeCache
from evals.metering import MeteredChatModel, Usage
from simulator.grading.base import TurnGrader
from simulator.llm.base import ChatModel, ModelInfo
from simulator.runtime import build_llm_grader, local_grader

GraderChoice = Literal["local", "llm", "both"]


@dataclass
class GraderSet:
    """The graders of one run, and what they cost."""

    graders: list[TurnGrader]
    usage: Usage = field(default_factory=Usage)
    model_info: ModelInfo | None = None
    cache: GradeCache | None = None
    _model: ChatModel | None = None

    paid: list[TurnGrader] = field(default_factory=list)
    """The graders that call a model (built here, so known by construction, not guessed from a name)."""

    def is_free(self, grader: TurnGrader) -> bool:
        """True for graders that make no model calls (the local appraiser). A cached grader wraps a model."""
        return not isinstance(grader, CachedGrader) and not any(grader is paid for paid in self.paid)

    async def aclose(self) -> None:
        """Close the model and the cache."""
        if self._model is not None:
            await self._model.aclose()
        if self.cache is not None:
            self.cache.close()


def llm_grader(model: ChatModel) -> TurnGrader:
    """The LLM grading chain (`simulator.grading.chain.LLMGrader`) over `model`."""
    from simulator.config import load_settings

    grader: TurnGrader = build_llm_grader(load_settings(), model=model)
    return grader


def grader_model() -> ChatModel:
    """The model configured for the `grader` role."""
    from simulator.config import load_settings
    from simulator.llm import get_model

    model: ChatModel = get_model("grader", load_settings())
    return model


def make_graders(
    choice: GraderChoice,
    *,
    model: ChatModel | None = None,
    cache_dir: Path | None = None,
    extra: list[TurnGrader] | None = None,
) -> GraderSet:
    """Build the graders for a run.

    Args:
        choice: `local`, `llm` or `both` (local first).
        model: the grader model to use instead of the configured one (tests pass a fake).
        cache_dir: where the grade cache lives; None disables the cache.
        extra: graders to add as they are (tests).
    """
    out = GraderSet(graders=[])
    if choice in ("local", "both"):
        out.graders.append(local_grader())
    if choice in ("llm", "both"):
        inner_model = model if model is not None else grader_model()
        metered = MeteredChatModel(inner_model, out.usage)
        out._model = metered
        out.model_info = inner_model.info
        grader = llm_grader(metered)
        if cache_dir is not None:
            out.cache = GradeCache(cache_dir / "grades.sqlite")
            grader = CachedGrader(grader, out.cache)
        out.graders.append(grader)
        out.paid.append(grader)
    out.graders.extend(extra or [])
    return out
