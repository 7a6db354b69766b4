"""What a call runs on, built from settings in one place: the caller model, the graders and the store.

The CLI (`chat`, `grade`), the web page, the grading suites and the benchmarks all build their models,
graders and store here, so a setting means the same thing everywhere. Tests build a `Runtime` of fakes
directly; nothing here reads a test hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.config import Settings
from simulator.errors import ConfigError
from simulator.grading.base import TurnGrader
from simulator.llm.base import ChatModel, ModelInfo

if TYPE_CHECKING:
    from simulator.grading.chain import LLMGrader
    from simulator.storage import Store
    from simulator.storage.engine import PoolSettings
    from simulator.storage.idle import IdleSweeper


@dataclass
class Runtime:
    """Shared, stateless-per-trainee resources: one of these serves every call of a process.

    Attributes:
        caller: The model playing the caller.
        local_grader: The local appraiser (grades every turn; drives the mood).
        llm_grader: The LLM grading chain, or None.
        store: Where calls are kept.
        grader_info: The LLM grader's model, for banners.
    """

    caller: ChatModel
    local_grader: TurnGrader
    llm_grader: TurnGrader | None
    store: Store
    grader_info: ModelInfo | None = None

    def grader_names(self) -> list[str]:
        """Every grader's name, local first."""
        return [self.local_grader.name] + ([self.llm_grader.name] if self.llm_grader else [])

    async def aclose(self) -> None:
        """Close the models (each once) and the store."""
        models = (self.caller, getattr(self.llm_grader, "model", None))
        for model in {id(m): m for m in models if m is not None}.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        self.store.close()


def appraiser_weights_path(settings: Settings | None = None) -> Path:
    """The weights file the local appraiser uses: COOLDOWN_APPRAISER_WEIGHTS, else the shipped one.

    Raises:
        AppraiserWeightsError: COOLDOWN_APPRAISER_WEIGHTS names nothing usable.
    """
    from simulator.config import load_settings
    from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, weights_file

    chosen = (settings or load_settings()).appraiser_weights
    return DEFAULT_WEIGHTS if chosen is None else weights_file(chosen)


def local_grader(weights: Path | None = None, settings: Settings | None = None) -> TurnGrader:
    """The local appraiser as a `TurnGrader` (`weights`, else COOLDOWN_APPRAISER_WEIGHTS, else the shipped ones).

    Its `version` is the weights file's hash, stored with every grade it gives.
    """
    try:
        from simulator.grading.appraiser import LocalAppraiser
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(f"the local appraiser cannot be loaded ({exc}); reinstall Cooldown") from exc
    grader: TurnGrader = LocalAppraiser(weights if weights is not None else appraiser_weights_path(settings))
    return grader


def llm_grading_enabled(settings: Settings) -> tuple[bool, str]:
    """(on?, why) for grading every turn with the grader model as well as the local appraiser."""
    if settings.llm_grading == "on":
        return True, "on (COOLDOWN_LLM_GRADING=on)"
    if settings.llm_grading == "off":
        return False, "off (COOLDOWN_LLM_GRADING=off)"
    from simulator.llm.factory import describe_role

    if describe_role("grader", settings).demo_grade:
        return False, (
            "off: the grader role is the embedded demo model, which cannot grade usefully; the local "
            "appraiser grades every turn. Point the grader at a capable model (COOLDOWN_GRADER__MODEL / "
            "__BASE_URL) or force it with COOLDOWN_LLM_GRADING=on"
        )
    return True, "on"


def build_llm_grader(
    settings: Settings,
    *,
    model: ChatModel | None = None,
    persona_summary: Callable[[str], str | None] | None = None,
) -> LLMGrader:
    """The LLM grading chain over the grader role's model, with the role's token limit."""
    from simulator.grading.chain import LLMGrader
    from simulator.llm import get_model

    return LLMGrader(
        model if model is not None else get_model("grader", settings),
        max_tokens=settings.grader.max_tokens,
        persona_summary=persona_summary,
    )


def open_store(settings: Settings) -> Store:
    """The configured store (COOLDOWN_DATABASE_URL, or SQLite under COOLDOWN_DATA_DIR), migrated; turns
    dead instances left `received` in calls quiet for COOLDOWN_STALE_TURN_S are settled."""
    from simulator.storage import Store

    return Store.open(
        settings.database_url, settings.data_dir, sweep_stale_after=settings.stale_turn_s, pool=db_pool(settings)
    )


def db_pool(settings: Settings) -> PoolSettings:
    """The PostgreSQL pool settings (COOLDOWN_DB_POOL_SIZE, _MAX_OVERFLOW, _POOL_TIMEOUT_S)."""
    from simulator.storage.engine import PoolSettings

    return PoolSettings(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s)


def start_idle_sweeper(settings: Settings, store: Store) -> IdleSweeper:
    """End calls idle longer than COOLDOWN_IDLE_TIMEOUT_S now, then every COOLDOWN_IDLE_SWEEP_INTERVAL_S.

    Raises:
        StorageError: The start-up sweep failed (later sweeps only log their failures).
    """
    from simulator.storage.idle import IdleSweeper

    sweeper = IdleSweeper(
        store, settings.idle_timeout_s, settings.idle_sweep_interval_s, stale_turn_s=settings.stale_turn_s
    )
    sweeper.start()
    return sweeper


def build_runtime(settings: Settings, *, llm_grading: bool | None = None) -> Runtime:
    """The configured caller model (embedded SmolLM2-135M when nothing is set), graders and store.

    Args:
        settings: The settings to build from.
        llm_grading: Force the LLM grader on or off; None follows `COOLDOWN_LLM_GRADING`.
    """
    from simulator.llm import get_model

    store = open_store(settings)  # first: an unreachable database fails fast, before any model starts
    try:
        caller = get_model("caller", settings)
        llm: TurnGrader | None = None
        grader_info = None
        if llm_grading_enabled(settings)[0] if llm_grading is None else llm_grading:
            grader_model = get_model("grader", settings)
            grader_info = grader_model.info
            llm = build_llm_grader(settings, model=grader_model)
        return Runtime(caller, local_grader(settings=settings), llm, store, grader_info)
    except BaseException:
        store.close()
        raise
