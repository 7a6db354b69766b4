"""The LLM seam. Import `ChatModel`/`Message` from here; build real models with `get_model`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.llm.base import ChatModel, Message, ModelInfo, ModelRole, PromptForm
from simulator.llm.fake import FakeChatModel, FakeRequest

if TYPE_CHECKING:
    from simulator.config import Settings


def get_model(role: ModelRole, settings: Settings, **kwargs: Any) -> ChatModel:
    """The real model for a role (see `simulator.llm.factory.get_model`); imported lazily."""
    from simulator.llm.factory import get_model as _get_model

    return _get_model(role, settings, **kwargs)


__all__ = [
    "ChatModel",
    "FakeChatModel",
    "FakeRequest",
    "Message",
    "ModelInfo",
    "ModelRole",
    "PromptForm",
    "get_model",
]
