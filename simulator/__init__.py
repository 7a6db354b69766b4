"""Cooldown's simulator: the call and its grading.

The public API, imported on first use so `import simulator` stays cheap:

* personas — `Persona`, `load_persona`, `list_personas` (`simulator.persona`, `simulator.persona_loader`)
* the call — `CallSession` and its events (`simulator.call`), `MoodState`, `step` (`simulator.mood`)
* grading — `TurnVerdict`, `TurnGrade` (`simulator.labels`), `LocalAppraiser` (`simulator.appraiser`),
  `LLMGrader`, `build_debrief` (`simulator.grading`)
* models and settings — `get_model`, `FakeChatModel` (`simulator.llm`), `Settings`, `load_settings`
* storage — `Store` (`simulator.storage`)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Persona": "simulator.persona",
    "load_persona": "simulator.persona_loader",
    "list_personas": "simulator.persona_loader",
    "CallSession": "simulator.call",
    "MoodState": "simulator.mood",
    "step": "simulator.mood",
    "TurnVerdict": "simulator.labels",
    "TurnGrade": "simulator.labels",
    "LocalAppraiser": "simulator.appraiser",
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
