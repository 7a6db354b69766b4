"""Cooldown's simulator: the call and its grading.

The public API, imported on first use so `import simulator` stays cheap:

* personas — `Persona`, `load_persona`, `list_personas` (`simulator.persona.schema`, `simulator.persona.loader`)
* the call — `CallSession` and its events (`simulator.call.session`), `MoodState`, `step` (`simulator.call.mood`)
* grading — `TurnVerdict`, `TurnGrade` (`simulator.grading.labels`), `LocalAppraiser` (`simulator.grading.appraiser`),
  `LLMGrader`, `build_debrief` (`simulator.grading`)
* models and settings — `get_model`, `FakeChatModel` (`simulator.llm`), `Settings`, `load_settings`
* storage — `Store` (`simulator.storage`)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Persona": "simulator.persona.schema",
    "load_persona": "simulator.persona.loader",
    "list_personas": "simulator.persona.loader",
    "CallSession": "simulator.call.session",
    "MoodState": "simulator.call.mood",
    "step": "simulator.call.mood",
    "TurnVerdict": "simulator.grading.labels",
    "TurnGrade": "simulator.grading.labels",
    "LocalAppraiser": "simulator.grading.appraiser",
    "LLMGrader": "simulator.grading",
    "build_debrief": "simulator.grading",
    "get_model": "simulator.llm",
    "FakeChatModel": "simulator.llm",
    "Settings": "simulator.config",
    "load_settings": "simulator.config",
    "Store": "simulator.storage",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
