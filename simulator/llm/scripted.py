"""The scripted caller: no model at all, the persona's own lines for every planned reply.

    COOLDOWN_CALLER__MODEL=scripted          # seed 0
    COOLDOWN_CALLER__MODEL=scripted:7        # another seed: ties between equally fitting lines break differently

The caller chain (`simulator.caller.chain.Caller`) sees the `scripted` provider and never asks this
model for text: it plans each reply (`simulator.caller.plan`) and plays the persona's best-fitting
unused line for the plan (`simulator.caller.lines`), so a whole call is deterministic for a seed and
runs without a model server. The banner and the session record name it (`ModelInfo.label`, e.g.
"scripted caller, seed 0"). Only the caller role can be scripted.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.errors import ConfigError, ModelOutputError
from simulator.llm.base import ModelInfo
from simulator.llm.canned import CannedModel, Request

SCRIPTED = "scripted"
_NAME = re.compile(r"^scripted(?::(\d{1,9}))?$")


def scripted_seed(model: str | None) -> int | None:
    """The seed named by a model setting of `scripted` / `scripted:SEED`; None for any other model.

    Raises:
        ConfigError: The setting starts with `scripted` but is not of that form.
    """
    if model is None or not model.strip().lower().startswith(SCRIPTED):
        return None
    found = _NAME.match(model.strip().lower())
    if found is None:
        raise ConfigError(f"caller model {model!r}: write `scripted` or `scripted:SEED` (SEED a whole number)")
    return int(found.group(1) or 0)


def scripted_info(seed: int) -> ModelInfo:
    """The `ModelInfo` of the scripted caller with this seed."""
    return ModelInfo(role="caller", provider="scripted", model=f"seed {seed}")


class ScriptedCallerModel(CannedModel):
    """Implements `ChatModel` for the scripted caller; the caller chain never asks it for text.

    Direct calls answer with a fixed acknowledgement, "OK" (so `cooldown doctor` can check the role) or,
    for structured output, fail: there is no model behind it.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._info = scripted_info(seed)

    def _reply(self, request: Request) -> Any:
        if request.kind == "structured":
            raise ModelOutputError(
                "the scripted caller plays persona lines; it cannot produce structured output", raw=""
            )
        return "OK"
