"""Build the `ChatModel` for a role from settings: OpenAI, an OpenAI-compatible URL, or the embedded server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import httpx

from simulator.config import EMBEDDED_MODEL_NAME, SMOLLM2_FILE, RoleSettings, Settings, embedded_gguf
from simulator.errors import ConfigError
from simulator.llm.base import ChatModel, ModelInfo, ModelRole, PromptForm
from simulator.llm.embedded import POOL, EmbeddedServer
from simulator.llm.openai_compat import OpenAICompatModel
from simulator.llm.scripted import ScriptedCallerModel, scripted_info, scripted_seed

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


def describe_role(role: ModelRole, settings: Settings) -> ModelInfo:
    """Who will serve `role`, without starting or calling anything."""
    rs: RoleSettings = settings.role(role)
    seed = _scripted_seed(role, rs)
    if seed is not None:
        return scripted_info(seed)
    provider = rs.resolved_provider()
    gguf_path: str | None = None
    if provider == "embedded":
        gguf = embedded_gguf(settings)
        gguf_path = str(gguf)
        model = EMBEDDED_MODEL_NAME if gguf.name == SMOLLM2_FILE else gguf.stem
        base_url = None
    elif provider == "openai":
        if not rs.model:
            raise ConfigError(f"set COOLDOWN_{role.upper()}__MODEL to an OpenAI model name, e.g. gpt-4o-mini")
        if settings.api_key_for(role) is None:
            raise ConfigError(
                f"the {role} role uses OpenAI model '{rs.model}' but no key is set: set OPENAI_API_KEY "
                f"(or COOLDOWN_{role.upper()}__API_KEY), or set COOLDOWN_{role.upper()}__BASE_URL for a local server."
            )
        model, base_url = rs.model, rs.base_url
    else:
        if not rs.base_url:
            raise ConfigError(f"set COOLDOWN_{role.upper()}__BASE_URL for an OpenAI-compatible server")
        if not rs.model:
            raise ConfigError(
                f"set COOLDOWN_{role.upper()}__MODEL to the model name the server at {rs.base_url} serves"
            )
        model, base_url = rs.model, rs.base_url
    prompt_form: PromptForm
    if rs.prompt_form != "auto":
        prompt_form = rs.prompt_form
    else:
        prompt_form = "completion" if provider == "embedded" and role == "caller" else "chat"
    method: StructuredMethod
    if rs.structured_method != "auto":
        method = rs.structured_method
    else:
        method = "json_schema" if provider == "openai" else "function_calling"
    return ModelInfo(
        role=role,
        provider=provider,
        model=model,
        base_url=base_url,
        prompt_form=prompt_form,
        structured_method=method,
        demo_grade=provider == "embedded" and gguf_path is not None and gguf_path.endswith(SMOLLM2_FILE),
        gguf_path=gguf_path,
    )


def get_model(
    role: ModelRole, settings: Settings, *, http_async_client: httpx.AsyncClient | None = None
) -> ChatModel:
    """The model serving `role`. The embedded server starts on the first call, not here."""
    rs = settings.role(role)
    info = describe_role(role, settings)
    if info.provider == "scripted":
        return ScriptedCallerModel(_scripted_seed(role, rs) or 0)
    common = dict(
        temperature=rs.temperature,
        max_tokens=rs.max_tokens,
        timeout_s=rs.timeout_s,
        max_retries=rs.max_retries,
        budget_s=rs.budget_s,
        max_concurrency=rs.max_concurrency,
        http_async_client=http_async_client,
    )
    server = _embedded_server(info, settings)
    if server is not None:

        def start() -> str:
            return server.start(timeout_s=settings.embedded_start_timeout_s)

        return OpenAICompatModel(info, base_url_factory=start, **common)  # type: ignore[arg-type]
    return OpenAICompatModel(
        info, base_url=info.base_url, api_key=settings.api_key_for(role), **common  # type: ignore[arg-type]
    )


def _scripted_seed(role: ModelRole, rs: RoleSettings) -> int | None:
    """The seed when the role is the scripted caller (`COOLDOWN_CALLER__MODEL=scripted[:SEED]`), else None."""
    if rs.base_url or rs.provider not in ("auto", "openai"):
        return None
    seed = scripted_seed(rs.model)
    if seed is not None and role != "caller":
        raise ConfigError(f"only the caller can be scripted; set COOLDOWN_{role.upper()}__MODEL to a real model")
    return seed


def embedded_server_for(role: ModelRole, settings: Settings) -> EmbeddedServer | None:
    """The embedded server object behind a role (None for other providers); for doctor and benchmarks."""
    return _embedded_server(describe_role(role, settings), settings)


def _embedded_server(info: ModelInfo, settings: Settings) -> EmbeddedServer | None:
    """The pooled server for an embedded role, serving under the role's model name; None otherwise."""
    if info.provider != "embedded" or info.gguf_path is None:
        return None
    server = POOL.get(
        Path(info.gguf_path), info.role, n_ctx=settings.embedded_n_ctx, n_threads=settings.embedded_threads,
        log_dir=settings.data_dir / "logs",
    )  # fmt: skip
    server.alias = info.model
    return server
