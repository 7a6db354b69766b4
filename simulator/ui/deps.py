"""What the page runs on: the caller model, the graders and the store; auth; trainee names.

`default_deps(settings)` builds the real ones through `simulator.runtime`, the one place every entry
point builds them. Tests pass their own `AppDeps` (a `FakeChatModel` caller) to `app.build(settings, deps=...)`.
"""

from __future__ import annotations

import re
import unicodedata

from simulator.config import Settings
from simulator.errors import ConfigError, InputRejected
from simulator.runtime import Runtime, build_runtime, local_grader

__all__ = ["AppDeps", "auth_from", "clean_name", "default_deps", "local_grader", "parse_auth"]

AUTH_ENV = "COOLDOWN_AUTH"
MAX_NAME = 40
_NAME_OK = re.compile(r"[\w .'\-]+")


AppDeps = Runtime
"""What the page runs on: the caller model, the graders and the store (`simulator.runtime.Runtime`)."""


def default_deps(settings: Settings) -> Runtime:
    """The configured models (embedded SmolLM2-135M when nothing is set), graders and store."""
    return build_runtime(settings)


def parse_auth(spec: str | None) -> list[tuple[str, str]] | None:
    """`user:pass,user2:pass2` as Gradio's auth list; None when unset.

    Raises:
        ConfigError: A pair is malformed (the message never contains a password).
    """
    if spec is None or not spec.strip():
        return None
    pairs = []
    for n, item in enumerate(spec.split(","), start=1):
        user, sep, password = item.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{AUTH_ENV}: entry {n} is not 'user:password'; write it as user:pass,user2:pass2")
        pairs.append((clean_name(user), password))
    return pairs


def auth_from(settings: Settings) -> list[tuple[str, str]] | None:
    """The auth list from `settings.auth` (COOLDOWN_AUTH)."""
    return parse_auth(settings.auth.get_secret_value() if settings.auth is not None else None)


def clean_name(name: object) -> str:
    """A trainee name made safe to store, or `InputRejected` saying what to change."""
    if not isinstance(name, str):
        raise InputRejected("Type your name so your calls are kept.")
    text = unicodedata.normalize("NFKC", name).strip()
    text = " ".join(text.split())
    if not text:
        raise InputRejected("Type your name so your calls are kept.")
    if len(text) > MAX_NAME:
        raise InputRejected(f"Your name is {len(text)} characters; use at most {MAX_NAME}.")
    if not _NAME_OK.fullmatch(text):
        raise InputRejected("Use letters, digits, spaces, '.', ''' or '-' in your name.")
    return text
