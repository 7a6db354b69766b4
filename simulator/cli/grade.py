"""`cooldown grade FILE.jsonl --grader local|llm [--out OUT.jsonl] [--strict]`: grade a file of trainee turns.

The main CLI loads it lazily (`FriendlyGroup.LAZY`). The logic lives in
`simulator.grading.grade_file`; this module only parses options and reports at the edge. With
`--grader llm` on the embedded demo model it warns first, and says how to set a capable grader.

Exit codes:
    0  every line was read and graded.
    1  at least one input line was invalid (reported with its line number and skipped; with --strict, a
       line repeating an earlier line's id counts as invalid); the others were graded.
    2  usage error (bad option, missing file).
    3  every line was read, but the grader left at least one `ungraded` (its output line has nulls).
    4  the grader could not be started (settings, model or appraiser weights); nothing was graded.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from simulator.errors import CooldownError
from simulator.grading.grade_file import GradeFileSummary, LineProblem, grade_lines, make_grader

EXIT_SETUP = 4


class GraderSetupError(click.ClickException):
    """The grader could not be built; exits with code 4."""

    exit_code = EXIT_SETUP


@click.command("grade")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--grader",
    "kind",
    type=click.Choice(["local", "llm"]),
    default="local",
    show_default=True,
    help="local: the offline appraiser. llm: the grading chain with the configured grader model.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write output lines here instead of standard output.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Turns graded at once (matters for --grader llm).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse a line whose id an earlier line used (reported and skipped, exit 1); by default it is graded "
    "with a warning.",
)
def grade(file: Path, kind: str, out: Path | None, concurrency: int, strict: bool) -> None:
    """Grade each trainee turn in FILE (JSONL; '-' reads standard input).

    Input lines: {"id", "context": [{"role": "customer"|"agent", "text"}], "trainee_turn"}, optionally
    "scenario" and "persona". Output lines: id, perspective_taking, behaviours, techniques,
    manipulation_tactics, manipulative, status, integrity_flags, grader. Ungraded lines carry nulls.
    Ids should be unique: a repeated id is graded with a warning, or refused with --strict.

    Exit codes: 0 all graded; 1 some input lines invalid (skipped); 2 usage error; 3 some lines ungraded;
    4 the grader could not be started.
    """
    if kind == "llm":
        warning = demo_grader_warning()
        if warning:
            click.echo(warning, err=True)
    try:
        grader = make_grader("llm" if kind == "llm" else "local")
    except (CooldownError, ImportError) as exc:
        if os.environ.get("COOLDOWN_RAISE_ERRORS"):
            raise
        raise GraderSetupError(f"cannot start the {kind} grader: {exc}") from exc

    source = "<stdin>" if str(file) == "-" else str(file)

    def report(problem: LineProblem) -> None:
        where = f"{source}:{problem.line}"
        ident = f" (id {problem.id!r})" if problem.id is not None else ""
        click.echo(f"{where}{ident}: {problem.message}", err=True)

    summary = asyncio.run(_run(file, out, grader, concurrency, report, strict))
    target = str(out) if out else "standard output"
    repeated = f"; {len(summary.repeated_ids)} repeated id(s)" if summary.repeated_ids else ""
    click.echo(
        f"graded {summary.graded}, ungraded {len(summary.ungraded)}, skipped {len(summary.bad_lines)} "
        f"bad input line(s){repeated}; output in {target}",
        err=True,
    )
    sys.exit(summary.exit_code)


def demo_grader_warning() -> str | None:
    """A warning when the grader role is the embedded demo model, which cannot grade (as `doctor` notes)."""
    from simulator.config import load_settings
    from simulator.llm.factory import describe_role

    try:
        info = describe_role("grader", load_settings())
    except CooldownError:  # misconfigured: building the grader reports it (exit 4)
        return None
    if not info.demo_grade:
        return None
    return (
        f"warning: the grader role is the {info.label} model, which cannot produce a structured grade: "
        "expect tens of seconds per line and every line ungraded (exit 3).\n"
        "  Set a capable grader model: COOLDOWN_GRADER__MODEL=gpt-4o (with OPENAI_API_KEY), or an "
        "OpenAI-compatible server with COOLDOWN_GRADER__BASE_URL=http://127.0.0.1:11434/v1 and "
        "COOLDOWN_GRADER__MODEL=llama3.1:8b (see README, 'Models'); or grade offline with --grader local."
    )


async def _run(
    file: Path, out: Path | None, grader: Any, concurrency: int, report: Any, strict: bool = False
) -> GradeFileSummary:
    stream: IO[str] = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        with _open_input(file) as lines:

            def write(text: str) -> None:
                stream.write(text)
                stream.flush()

            return await grade_lines(
                lines, grader, write, concurrency=concurrency, on_problem=report, strict_ids=strict
            )
    finally:
        if out:
            stream.close()
        aclose = getattr(grader, "aclose", None)
        if aclose is not None:
            await aclose()


@contextmanager
def _open_input(file: Path) -> Iterator[Iterable[bytes]]:
    if str(file) == "-":
        yield sys.stdin.buffer
        return
    with file.open("rb") as handle:
        yield handle
