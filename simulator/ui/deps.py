"""What the page runs on: the caller model, the graders and the store; auth; trainee names.

`default_deps(settings)` builds the real ones through `simulator.runtime`, the one place every entry
point builds them. Tests pass their own `AppDeps` (a `FakeChatModel` caller) to `app.build(settings, deps=...)`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from simulator.config import Settings
from simulator.errors import ConfigError, InputRejected
from simulator.runtime import Runtime, build_runtime, local_grader

__all__ = [
    "Account", "AppDeps", "auth_from", "clean_name", "default_deps", "local_grader", "parse_accounts", "parse_auth",
    "trainers_from",
]  # fmt: skip

AUTH_ENV = "COOLDOWN_AUTH"
MAX_NAME = 40
_NAME_OK = re.compile(r"[\w .'\-]+")
ROLES = ("trainee", "trainer", "rater")
"""Roles a sign-in can have: `trainee` (the default), `trainer` (also sees the Trainer tab and the Label
tab) and `rater` (an evaluator: also sees the Label tab, not the cohort)."""


class Account(NamedTuple):
    """One sign-in from COOLDOWN_AUTH: the name typed at sign-in, its password and its role."""

    name: str
    password: str
    role: str


AppDeps = Runtime
"""What the page runs on: the caller model, the graders and the store (`simulator.runtime.Runtime`)."""


def default_deps(settings: Settings) -> Runtime:
    """The configured models (embedded SmolLM2-135M when nothing is set), graders and store."""
    return build_runtime(settings)


def parse_accounts(spec: str | None) -> list[Account] | None:
    """`user:pass,tom@trainer:pass2` as accounts; None when unset.

    A user name may end in `@<role>`: `tom@trainer` signs in as `tom` with the trainer role. Without a
    suffix the role is `trainee`, so every COOLDOWN_AUTH written before roles existed means what it meant
    (a name could not contain '@' before, so no old value changes meaning).

    Raises:
        ConfigError: An entry is malformed or a role is unknown (the message never contains a password).
    """
    if spec is None or not spec.strip():
        return None
    accounts: list[Account] = []
    for n, item in enumerate(spec.split(","), start=1):
        user, sep, password = item.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(
                f"{AUTH_ENV}: entry {n} is not 'user:password'; write it as user:pass,user2:pass2 "
                "(add @trainer to a user name for the trainer role: tom@trainer:pass)"
            )
        name, at, role = user.partition("@")
        role = role.strip().lower() if at else "trainee"
        if role not in ROLES:
            raise ConfigError(
                f"{AUTH_ENV}: entry {n} asks for role {role!r}; roles are {', '.join(ROLES)} "
                "(write tom@trainer:pass, or no @role for a trainee)"
            )
        try:
            clean = clean_name(name)
        except InputRejected as exc:
            raise ConfigError(f"{AUTH_ENV}: entry {n}'s user name is not usable: {exc}") from None
        accounts.append(Account(clean, password, role))
    return accounts


def parse_auth(spec: str | None) -> list[tuple[str, str]] | None:
    """`user:pass,user2:pass2` (roles allowed, see `parse_accounts`) as Gradio's auth list; None when unset.

    Raises:
        ConfigError: An entry is malformed (the message never contains a password).
    """
    accounts = parse_accounts(spec)
    return None if accounts is None else [(a.name, a.password) for a in accounts]


def _spec(settings: Settings) -> str | None:
    return settings.auth.get_secret_value() if settings.auth is not None else None


def auth_from(settings: Settings) -> list[tuple[str, str]] | None:
    """The auth list from `settings.auth` (COOLDOWN_AUTH)."""
    return parse_auth(_spec(settings))


def trainers_from(settings: Settings) -> frozenset[str]:
    """The users with the trainer role in COOLDOWN_AUTH (none when sign-in is off)."""
    return frozenset(a.name for a in parse_accounts(_spec(settings)) or [] if a.role == "trainer")


def raters_from(settings: Settings) -> frozenset[str]:
    """The users who may label turns (the Label tab): trainers and raters in COOLDOWN_AUTH (none when off)."""
    return frozenset(a.name for a in parse_accounts(_spec(settings)) or [] if a.role in ("trainer", "rater"))


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
