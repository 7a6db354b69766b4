"""The persona libraries: the built-in callers plus the folders a designer or an organisation keeps.

`COOLDOWN_PERSONAS` lists folders (separated by `:` on Linux and macOS, `;` on Windows) searched after
the built-in library; `COOLDOWN_BUILTIN_PERSONAS=off` leaves the built-in library out. Every reader of
personas (the CLI, the web page, `chat`, behaviour tests) goes through `PersonaLibrary`, so they all see
the same callers. The library is read afresh on each `listings()` call: added or edited files show up
without a restart (a running call keeps its own snapshot).

Configuration problems (a missing folder, a file where a folder belongs, an unreadable folder) raise
`PersonaLibraryError` naming the setting and the fix. Problems inside one file never hide the others:
the file is listed with its error. Two files with the same persona id are both listed as errors, each
naming the other, so neither silently wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.errors import PersonaError
from simulator.persona.loader import (
    RESERVED_FILES,
    PersonaListing,
    listing_of,
    load_persona,
    persona_files,
)
from simulator.persona.schema import Persona
from simulator.resources import personas_dir

if TYPE_CHECKING:
    from simulator.config import Settings

PERSONAS_SETTING = "COOLDOWN_PERSONAS"
BUILTIN_SETTING = "COOLDOWN_BUILTIN_PERSONAS"
STRATEGIES_FILE = "strategies.yaml"
_ID = re.compile(r"[a-z][a-z0-9_]{1,47}")


class PersonaLibraryError(PersonaError):
    """The persona library is configured wrongly (the message names the setting and the fix)."""


def _check_folder(folder: Path, source: str) -> Path:
    if not folder.exists():
        raise PersonaLibraryError(
            f"persona folder {folder} does not exist ({source}); create it, e.g. "
            f"`mkdir -p {folder}`, or remove it from {PERSONAS_SETTING}"
        )
    if not folder.is_dir():
        raise PersonaLibraryError(
            f"{folder} is a file, but {source} takes folders; give the folder that holds it "
            f"({folder.parent}), or use the file's path directly where a persona name is asked for"
        )
    if not os.access(folder, os.R_OK | os.X_OK):
        raise PersonaLibraryError(f"persona folder {folder} is not readable ({source}); fix its permissions")
    return folder


def parse_folders(value: str | None) -> list[Path]:
    """The folders in a `COOLDOWN_PERSONAS` value (empty parts ignored, `~` expanded)."""
    if not value:
        return []
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


@dataclass(frozen=True)
class PersonaLibrary:
    """An ordered list of persona folders: the built-in library first, then the user's folders."""

    folders: tuple[Path, ...]

    @classmethod
    def from_settings(
        cls, extra: Sequence[Path] | str | None = None, *, builtin: bool = True, check: bool = True
    ) -> PersonaLibrary:
        """The library from `COOLDOWN_PERSONAS` (a string) or explicit folders, after the built-in one."""
        folders = parse_folders(extra) if isinstance(extra, str) or extra is None else [Path(p) for p in extra]
        if check:
            folders = [_check_folder(f, PERSONAS_SETTING) for f in folders]
        ordered = ([personas_dir()] if builtin else []) + folders
        if not ordered:
            raise PersonaLibraryError(
                f"no persona folders: {BUILTIN_SETTING}=off needs at least one folder in {PERSONAS_SETTING}"
            )
        unique = tuple(dict.fromkeys(p.resolve() for p in ordered))
        return cls(unique)

    @classmethod
    def of(cls, folder: Path) -> PersonaLibrary:
        """A library of one folder (`--dir`)."""
        return cls((_check_folder(Path(folder), "--dir").resolve(),))

    @property
    def builtin(self) -> Path:
        return personas_dir().resolve()

    def files(self) -> list[Path]:
        """Every persona file, folder by folder."""
        return [path for folder in self.folders for path in persona_files(folder)]

    def listings(self) -> list[PersonaListing]:
        """Every persona file; a file that does not load, or shares an id with another, carries its error."""
        entries = [listing_of(path) for path in self.files()]
        by_id: dict[str, list[int]] = {}
        for index, entry in enumerate(entries):
            by_id.setdefault(entry.id, []).append(index)
        for pid, indexes in by_id.items():
            if len(indexes) < 2:
                continue
            paths = [str(entries[i].path) for i in indexes]
            for i in indexes:
                others = ", ".join(p for p in paths if p != str(entries[i].path))
                entries[i] = entries[i].model_copy(
                    update={
                        "error": f"persona id {pid!r} is defined twice: {entries[i].path} and {others}; "
                        "rename one file and its id"
                    }
                )
        return entries

    def valid(self) -> list[PersonaListing]:
        return [entry for entry in self.listings() if entry.error is None]

    def find(self, name: str) -> Path:
        """The file for a persona id or a path to a persona file, with a helpful error if there is none."""
        candidate = Path(name).expanduser()
        if candidate.suffix in (".yaml", ".yml") or os.sep in name:
            if candidate.is_file():
                return candidate
            raise PersonaError(f"no persona file at {candidate}; check the path, or give a persona id")
        if not _ID.fullmatch(name):
            raise PersonaError(f"{name!r} is not a persona id (lower_snake_case) or a path to a .yaml file")
        matches = [entry for entry in self.listings() if entry.id == name or entry.path.stem == name]
        if not matches:
            known = ", ".join(sorted({entry.id for entry in self.listings()})) or "none"
            where = ", ".join(str(f) for f in self.folders)
            raise PersonaError(
                f"no persona named {name!r} in {where}; known personas: {known}. "
                f"Add your folder to {PERSONAS_SETTING}, or give the file's path"
            )
        if len(matches) > 1 or (matches[0].error and "defined twice" in matches[0].error):
            raise PersonaLibraryError(matches[0].error or f"persona id {name!r} is defined twice")
        return matches[0].path

    def load(self, name: str) -> Persona:
        return load_persona(self.find(name))

    def strategies_file(self, folder: Path | None = None) -> Path:
        """The strategies for behaviour tests: the folder's own `strategies.yaml`, else the built-in one."""
        for candidate in ([folder] if folder else []) + list(reversed(self.folders)):
            if candidate is not None and (Path(candidate) / STRATEGIES_FILE).is_file():
                return Path(candidate) / STRATEGIES_FILE
        return personas_dir() / STRATEGIES_FILE


def default_library(settings: Settings | None = None) -> PersonaLibrary:
    """The library the settings configure (`COOLDOWN_PERSONAS`, `COOLDOWN_BUILTIN_PERSONAS`, or `.env`)."""
    if settings is None:
        from simulator.config import load_settings

        settings = load_settings()
    return PersonaLibrary.from_settings(settings.personas, builtin=settings.builtin_personas)


__all__ = [
    "BUILTIN_SETTING",
    "PERSONAS_SETTING",
    "RESERVED_FILES",
    "PersonaLibrary",
    "PersonaLibraryError",
    "default_library",
]
