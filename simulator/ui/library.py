"""The callers the page offers: every valid persona of the persona library, read afresh on demand.

The library is the built-in personas plus the folders in `COOLDOWN_PERSONAS` (`default_library`). The page
re-reads it on every page load, so a persona file added or edited while the server runs shows after a
reload; a call already running keeps its own snapshot of its persona.
"""

from __future__ import annotations

from pathlib import Path

from simulator.errors import CooldownError
from simulator.persona.library import PersonaLibrary
from simulator.persona.loader import load_persona
from simulator.persona.schema import Persona

DEFAULT_CALLER = "backfire_brian"
"""Picked when the page opens (the first persona when a library has no such caller)."""


class CallerLibrary:
    """The valid personas of a `PersonaLibrary`, by id, as the page last read them (shared by all tabs)."""

    def __init__(self, source: PersonaLibrary) -> None:
        self.source = source
        self._found: dict[str, tuple[Path, Persona]] = {}
        self.reload()

    def reload(self) -> None:
        """Read the library again: files added or edited since the last read show, removed ones go."""
        found = {}
        for entry in self.source.valid():
            try:
                found[entry.id] = (entry.path, load_persona(entry.path))
            except CooldownError:  # edited between the listing and the load: skip it this time
                continue
        self._found = found

    def __contains__(self, persona_id: object) -> bool:
        return isinstance(persona_id, str) and persona_id in self._found

    def __bool__(self) -> bool:
        return bool(self._found)

    def path(self, persona_id: str) -> Path:
        """The persona's file (`KeyError` if the id is not in the library)."""
        return self._found[persona_id][0]

    def personas(self) -> list[Persona]:
        return [persona for _, persona in self._found.values()]

    def choices(self) -> list[tuple[str, str]]:
        """(label, id) pairs for a radio or dropdown: "Brian Keller — convinced"."""
        return [(f"{p.identity.name} — {p.identity.temperament}", pid) for pid, (_, p) in self._found.items()]

    def pick(self, current: object = None) -> str | None:
        """`current` while the library still has it, else the default caller, else the first one."""
        if current in self:
            return str(current)
        if DEFAULT_CALLER in self._found:
            return DEFAULT_CALLER
        return next(iter(self._found), None)
