"""What the page runs on: the caller model, the graders and the store; auth; trainee names.

`default_deps(settings)` builds the real ones (the same models `cooldown chat` uses). Tests pass their
own `AppDeps` (a `FakeChatModel` caller) to `app.build(settings, deps=...)`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from simulator.config import Settings
from simulator.errors import ConfigError, InputRejected
from simulator.grading.base import TurnGrader
from simulator.llm.base import ChatModel, ModelInfo
from simulator.storage import Store

AUTH_ENV = "COOLDOWN_AUTH"
MAX_NAME = 40
_NAME_OK = re.compile(r"[\w .'\-]+")


@dataclass
class AppDeps:
    """Shared, stateless-per-trainee resources of one running page.

    Attributes:
        caller: The model playing the caller.
        local_grader: The local appraiser (grades every turn; drives the mood).
        llm_grader: The LLM grading chain, or None.
        store: Where calls are kept.
        grader_info: The LLM grader's model, for the banner.
    """

    caller: ChatModel
    local_grader: TurnGrader
    llm_grader: TurnGrader | None
    store: Store
    grader_info: ModelInfo | None = None

    def grader_names(self) -> list[str]:
        """Every grader's name, local first."""
        return [self.local_grader.name] + ([self.llm_grader.name] if self.llm_grader else [])


def local_grader() -> TurnGrader:
    """The shipped local appraiser as a `TurnGrader`."""
    from simulator.grading.appraiser import LocalAppraiser

    grader: TurnGrader = LocalAppraiser()
    return grader


def default_deps(settings: Settings) -> AppDeps:
    """The configured models (embedded SmolLM2-135M when nothing is set), graders and store."""
    from simulator.grading.setup import build_llm_grader, llm_grading_enabled
    from simulator.llm import get_model

    caller = get_model("caller", settings)
    llm_grader: TurnGrader | None = None
    grader_info = None
    if llm_grading_enabled(settings)[0]:
        grader_model = get_model("grader", settings)
        grader_info = grader_model.info
        llm_grader = build_llm_grader(settings, model=grader_model)
    store = Store.open(settings.database_url, settings.data_dir)
    return AppDeps(caller, local_grader(), llm_grader, store, grader_info)


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
