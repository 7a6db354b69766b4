"""`cooldown doctor`: what serves each role, whether it answers, how tokens are counted, where data lives."""

from __future__ import annotations

import time
from collections.abc import Callable

from simulator.config import Settings, load_settings
from simulator.errors import CooldownError
from simulator.llm.base import Message, ModelRole


async def check_role(role: ModelRole, settings: Settings, call: bool, echo: Callable[[str], None]) -> bool:
    """Describe one role and (optionally) make a one-token call to it."""
    from simulator.llm.factory import describe_role, embedded_server_for, get_model
    from simulator.tokens import describe_counting

    try:
        info = describe_role(role, settings)
    except CooldownError as exc:
        echo(f"{role:<8}: NOT CONFIGURED — {exc}")
        return False
    echo(f"{role:<8}: {info.label}")
    echo(f"{'':<10}prompt form {info.prompt_form}; structured output via {info.structured_method}")
    try:
        echo(f"{'':<10}tokens: {describe_counting(info)}")
    except CooldownError as exc:
        echo(f"{'':<10}tokens: CANNOT COUNT — {exc}")
        return False
    if not call:
        return True
    model = get_model(role, settings)
    started = time.perf_counter()
    try:
        await model.generate([Message(role="user", content="Say OK.")], max_tokens=2)
    except CooldownError as exc:
        echo(f"{'':<10}answers: NO — {exc}")
        return False
    finally:
        await model.aclose()
    elapsed = time.perf_counter() - started
    server = embedded_server_for(role, settings)
    where = info.base_url or (server.base_url if server else "")
    extra = ""
    if server is not None and server.pid:
        rss = server.memory_rss_mb()
        extra = f" (embedded server pid {server.pid}" + (f", {rss:.0f} MiB" if rss else "") + ")"
    echo(f"{'':<10}answers: yes in {elapsed:.2f} s at {where}{extra}")
    return True


async def run_doctor(*, call: bool = True, echo: Callable[[str], None] = print) -> bool:
    """Print the report; True when every role is served and answers."""
    settings = load_settings()
    echo("Cooldown doctor")
    ok = True
    roles: tuple[ModelRole, ...] = ("caller", "grader")
    for role in roles:
        ok = await check_role(role, settings, call, echo) and ok
    if any(settings.role(r).resolved_provider() == "embedded" for r in roles):
        echo("note    : the embedded SmolLM2-135M model is for trying Cooldown offline; realistic callers and "
             "grades need a capable model (see README).")  # fmt: skip
    from simulator.tokens import install_offline_encodings

    try:
        cache = install_offline_encodings()
        echo(f"tiktoken: offline encodings cl100k_base and o200k_base ready in {cache}")
    except CooldownError as exc:
        echo(f"tiktoken: NOT AVAILABLE — {exc}")
        ok = False
    from simulator.runtime import llm_grading_enabled

    try:
        echo(f"grading : local appraiser on every turn; LLM grading {llm_grading_enabled(settings)[1]}")
    except CooldownError as exc:
        echo(f"grading : local appraiser on every turn; LLM grading unavailable — {exc}")
    from simulator.runtime import local_grader

    try:
        appraiser = local_grader(settings=settings)
        source = settings.appraiser_weights or "shipped"
        echo(f"appraiser: weights {appraiser.version} ({source})")
    except CooldownError as exc:
        echo(f"appraiser: NOT AVAILABLE — {exc}")
        ok = False
    url = settings.resolved_database_url()
    echo(f"storage : {_mask(url)}")
    echo(f"data dir: {settings.data_dir}")
    return ok


def _mask(url: str) -> str:
    """A database URL with any password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
