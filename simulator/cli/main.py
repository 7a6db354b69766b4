"""`cooldown`: the one command-line entry point.

Errors raised as `CooldownError` are shown as one friendly line (exit 1) here at the edge; set
COOLDOWN_RAISE_ERRORS=1 to see the traceback instead (tests do).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any, ClassVar

import click

from simulator.errors import CooldownError


class FriendlyGroup(click.Group):
    """A click group that turns Cooldown's own errors into short messages at the edge.

    Subcommands that live in other modules are imported only when used (`LAZY`), so `cooldown --help`
    stays fast and one area's heavy imports (plots, Gradio) never slow another's.
    """

    LAZY: ClassVar[dict[str, str]] = {
        "grade": "simulator.cli.grade:grade",
        "evals": "evals.cli:evals",
        "personas": "simulator.cli.personas:personas",
        "chat": "simulator.cli.chat:chat",
        "sessions": "simulator.cli.chat:sessions",
        "bench": "simulator.cli.bench:bench",
        "appraiser": "simulator.cli.appraiser:appraiser",
        "label": "simulator.cli.label:label",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            import importlib

            module, _, attr = self.LAZY[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CooldownError as exc:
            if os.environ.get("COOLDOWN_RAISE_ERRORS"):
                raise
            raise click.ClickException(str(exc)) from exc


_ROLE_FLAGS = {
    "caller_model": "COOLDOWN_CALLER__MODEL",
    "caller_url": "COOLDOWN_CALLER__BASE_URL",
    "caller_provider": "COOLDOWN_CALLER__PROVIDER",
    "grader_model": "COOLDOWN_GRADER__MODEL",
    "grader_url": "COOLDOWN_GRADER__BASE_URL",
    "grader_provider": "COOLDOWN_GRADER__PROVIDER",
    "gguf": "COOLDOWN_GGUF",
    "data_dir": "COOLDOWN_DATA_DIR",
    "database_url": "COOLDOWN_DATABASE_URL",
}
_PROVIDERS = click.Choice(["auto", "embedded", "openai", "openai-compatible"])


@click.group(cls=FriendlyGroup)
@click.option("--caller-model", help="Model name for the caller role (OpenAI, or with --caller-url).")
@click.option("--caller-url", help="OpenAI-compatible base URL for the caller, e.g. http://127.0.0.1:11434/v1")
@click.option("--caller-provider", type=_PROVIDERS, help="Force the caller's provider.")
@click.option("--grader-model", help="Model name for the grader role.")
@click.option("--grader-url", help="OpenAI-compatible base URL for the grader.")
@click.option("--grader-provider", type=_PROVIDERS, help="Force the grader's provider.")
@click.option("--gguf", type=click.Path(dir_okay=False), help="GGUF file for the embedded server.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where sessions and logs are kept.")
@click.option("--database-url", help="SQLAlchemy URL for storage (default SQLite under the data dir).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug). Keys are always redacted.")
@click.version_option(package_name="cooldown")
def main(verbose: int, **flags: str | None) -> None:
    """Cooldown: practise turning angry callers around.

    Keys come from the environment or .env only (OPENAI_API_KEY, COOLDOWN_CALLER__API_KEY,
    COOLDOWN_GRADER__API_KEY), never from flags, so they stay out of shell history and process lists.
    """
    for name, env in _ROLE_FLAGS.items():
        value = flags.get(name)
        if value:
            os.environ[env] = value
    from simulator.config import load_settings
    from simulator.logs import configure_logging

    level = logging.WARNING - 10 * min(verbose, 2)
    try:
        secrets = load_settings().secrets()
    except CooldownError:
        secrets = []
    configure_logging(level, secrets)


@main.command()
@click.option("--no-call", is_flag=True, help="Only show the configuration; do not start or call models.")
def doctor(no_call: bool) -> None:
    """Which model serves each role, whether it answers, how tokens are counted, where data is kept."""
    from simulator.cli.doctor import run_doctor

    ok = asyncio.run(run_doctor(call=not no_call, echo=click.echo))
    sys.exit(0 if ok else 1)


@main.group()
def model() -> None:
    """The embedded model server."""


@model.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0 = any free port).")
@click.option("--n-ctx", type=int, default=None, help="Context size (default from settings, 4096).")
def model_serve(host: str, port: int, n_ctx: int | None) -> None:
    """Run the embedded llama.cpp model server in the foreground (Ctrl-C stops it)."""
    from simulator.config import embedded_gguf, load_settings
    from simulator.llm.embedded import EmbeddedServer, free_port

    settings = load_settings()
    gguf = embedded_gguf(settings)
    server = EmbeddedServer(
        gguf, n_ctx=n_ctx or settings.embedded_n_ctx, n_threads=settings.embedded_threads, host=host,
        port=port or free_port(host), alias=gguf.stem,
    )  # fmt: skip
    url = server.start(timeout_s=settings.embedded_start_timeout_s)
    click.echo(f"Serving {gguf.name} at {url} (model name '{server.alias}'). Ctrl-C stops it.")
    click.echo(f"Point a role at it:  COOLDOWN_CALLER__BASE_URL={url} COOLDOWN_CALLER__MODEL={server.alias}")
    try:
        while server.pid is not None:
            time.sleep(0.5)
        click.echo("The server stopped.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command()
@click.option("--host", default=None, help="Interface (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 7860).")
def app(host: str | None, port: int | None) -> None:
    """Run the trainee's web page (Gradio) on the configured models."""
    from simulator.ui.app import launch

    launch(host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    main()
