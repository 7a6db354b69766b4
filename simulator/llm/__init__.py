"""The LLM seam. Import `ChatModel`/`Message` from here; build real models with `get_model`."""

from simulator.llm.base import ChatModel, Message, ModelInfo, ModelRole, PromptForm
from simulator.llm.fake import FakeChatModel, FakeRequest

__all__ = ["ChatModel", "FakeChatModel", "FakeRequest", "Message", "ModelInfo", "ModelRole", "PromptForm"]
