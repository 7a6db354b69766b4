"""The call transcript in the trainee's roles: the trainee is the `agent`, the persona the `customer`.

One vocabulary everywhere (storage, grading input, suites, `cooldown grade`). The caller model sees the
roles flipped; that flip happens in exactly one place, `for_caller_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from simulator.llm.base import Message

Speaker = Literal["agent", "customer"]


class Utterance(BaseModel):
    """One thing said on the call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Speaker
    text: str


def for_caller_model(transcript: Sequence[Utterance]) -> list[Message]:
    """The transcript as chat messages for the model playing the caller.

    The caller model *is* the customer, so its own lines are `assistant` and the trainee's are `user`.
    Unknown roles raise rather than being dropped.
    """
    flipped: list[Message] = []
    for u in transcript:
        if u.role == "customer":
            flipped.append(Message(role="assistant", content=u.text))
        elif u.role == "agent":
            flipped.append(Message(role="user", content=u.text))
        else:  # pragma: no cover - pydantic already forbids this
            raise ValueError(f"unexpected transcript role {u.role!r}")
    return flipped
