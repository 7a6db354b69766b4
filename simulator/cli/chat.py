"""Terminal play: `cooldown chat` runs a whole call; `cooldown sessions` lists, shows and exports calls.

    cooldown chat --persona backfire_brian [--difficulty hard] [--trainee sam]
    printf 'Hello\\nWhat happened?\\n' | cooldown chat --persona backfire_brian   # scripted, EOF ends
    cooldown sessions list | show ID | export ID --format md|json [--out FILE] [--redact] | sweep

Turns are read from the terminal, or line by line from stdin when it is not a terminal (EOF ends the
call). In coach mode the caller's mood (with the rules that fired) and the grades are shown after each
turn; in exam mode they stay hidden, as on the page, and everything comes out in the debrief at the end.
Errors are shown as one friendly line (no tracebacks) unless COOLDOWN_RAISE_ERRORS is set.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import click

from simulator.errors import CooldownError, InputRejected

if TYPE_CHECKING:
    from simulator.runtime import Runtime
    from simulator.storage import Store

MAX_AUTO_RETRIES = 2
GRADE_WAIT_S = 120.0

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Show Cooldown's own errors as one line (exit 1) at this edge; COOLDOWN_RAISE_ERRORS re-raises."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CooldownError as exc:
            if os.environ.get("COOLDOWN_RAISE_ERRORS"):
                raise
            raise click.ClickException(str(exc)) from exc

    return cast(F, wrapper)


# --- dependencies ---------------------------------------------------------------------------------


def build_runtime(llm_grading: bool | None) -> Runtime:
    """The configured caller model, graders and store (`simulator.runtime`; tests replace this function)."""
    from simulator.config import load_settings
    from simulator.runtime import build_runtime as build

    return build(load_settings(), llm_grading=llm_grading)


def _open_store() -> Store:
    from simulator.config import load_settings
    from simulator.runtime import open_store

    return open_store(load_settings())


# --- cooldown chat --------------------------------------------------------------------------------


def _grade_line(grade: Any, source: str) -> str:
    if grade.status != "graded" or grade.verdict is None:
        return f"  [{source} grade: ungraded — {grade.reason or 'no reason given'}]"
    v = grade.verdict
    parts = [f"perspective {v.perspective_taking}/4"]
    if v.behaviours:
        parts.append(", ".join(str(b) for b in v.behaviours))
    for t in v.techniques:
        parts.append(f"{t.technique} ({t.use})")
    if v.manipulative:
        parts.append("MANIPULATIVE")
    line = f"  [{source} grade: " + " · ".join(parts) + "]"
    if grade.tip:
        line += f"\n  tip: {grade.tip}"
    return line


def _mood_line(event: Any) -> str:
    s = event.state
    line = f"  [mood: {event.label} — anger {s.anger}, trust {s.trust}, entrenchment {s.entrenchment}]"
    if event.fired_rules:
        line += "\n  [" + "; ".join(event.fired_rules) + "]"
    return line


def _reader() -> Callable[[], str | None]:
    interactive = sys.stdin.isatty()

    def read() -> str | None:
        try:
            if interactive:
                return input("You: ")
            line = sys.stdin.readline()
            return line.rstrip("\n") if line else None
        except EOFError:
            return None

    return read


async def _play(
    persona: str,
    difficulty: Literal["easy", "normal", "hard"],
    trainee: str,
    mode: Literal["coach", "exam"],
    llm_grading: bool | None,
) -> None:
    from simulator.call.session import (
        CallEnded,
        CallerDone,
        CallerText,
        CallSession,
        GradeReady,
        MoodUpdate,
        TurnFailed,
    )
    from simulator.config import load_settings
    from simulator.persona.library import default_library

    settings = load_settings()
    path = default_library(settings).find(persona)
    runtime = build_runtime(llm_grading)
    caller_model, local, llm, store = runtime.caller, runtime.local_grader, runtime.llm_grader, runtime.store
    session = None
    try:
        session = CallSession.start(
            store, path, caller_model=caller_model, local_grader=local, llm_grader=llm,
            difficulty=difficulty, trainee=trainee, mode=mode, settings=settings,
        )  # fmt: skip
        who = session.persona.identity.name.split()[0]
        click.echo(f"Call with {session.persona.identity.name} ({session.persona.identity.temperament}), "
                   f"difficulty {difficulty}. Caller model: {caller_model.info.label}.")  # fmt: skip
        if caller_model.info.demo_grade:
            click.echo("  (demo-grade model: fine for trying Cooldown, not for realistic callers)")
        coach = mode == "coach"
        if not coach:  # as on the page: no mood, labels or grades until the call is over
            click.echo("Exam mode: the caller's mood and your grades stay hidden until the debrief.")
        click.echo(f"Session {session.id}. Type your replies; Ctrl-D (end of input) ends the call.\n")
        click.echo(f"{who}: {session.opening}")
        read = _reader()
        while not session.ended:
            text = await asyncio.to_thread(read)
            if text is None:
                break
            if not text.strip():
                continue
            if not sys.stdin.isatty():
                click.echo(f"You: {text}")
            events = session.take_turn(text)
            retries = 0
            while True:
                failed = None
                started = False
                mood = None
                try:
                    async for ev in events:
                        if isinstance(ev, CallerText):
                            if ev.replace and started:  # a terminal can't unprint: say the line changed
                                click.echo("")
                                click.echo("  (that reply missed what the caller meant to say; the persona's "
                                           "own line stands in)", err=True)  # fmt: skip
                                started = False
                            piece = ev.text if started else f"{who}: {ev.text.lstrip()}"
                            started = True
                            click.echo(piece, nl=False)
                        elif isinstance(ev, CallerDone):
                            click.echo("")
                        elif isinstance(ev, MoodUpdate):
                            mood = ev
                        elif isinstance(ev, GradeReady) and coach:
                            click.echo(_grade_line(ev.grade, ev.source))
                        elif isinstance(ev, TurnFailed):
                            failed = ev
                        elif isinstance(ev, CallEnded):  # the reason names the rules that fired
                            why = f" ({ev.reason})" if coach else "; the debrief says why"
                            click.echo(f"\n*** The call ended: {ev.outcome.replace('_', ' ')}{why}")
                except InputRejected as exc:
                    click.echo(f"  ! {exc}", err=True)
                    break
                if mood is not None and coach:
                    click.echo(_mood_line(mood))
                if failed is None:
                    break
                if started:
                    click.echo("")
                click.echo(f"  ! {failed.message}", err=True)
                if not failed.retryable or retries >= MAX_AUTO_RETRIES:
                    click.echo("  ! Type your next message to carry on.", err=True)
                    break
                retries += 1
                click.echo(f"  (retrying, attempt {retries + 1})", err=True)
                events = session.retry()
        if session.abandon():
            click.echo("\n*** You ended the call before it was resolved.")
        if llm is not None:
            click.echo("\nWaiting for the grader to finish...", err=True)
            for ready in await session.wait_for_grades(timeout=GRADE_WAIT_S):
                if coach:
                    click.echo(_grade_line(ready.grade, ready.source))
        click.echo("\n" + _debrief_markdown(store, session))
        click.echo(f"Saved as session {session.id}.  Export: cooldown sessions export {session.id[:8]} --format md")
    finally:
        if session is not None:
            await session.aclose()
        await runtime.aclose()


def _debrief_markdown(store: Any, session: Any) -> str:
    from simulator.call.mood import initial_state, mood_label
    from simulator.grading.debrief import CallRecord, MoodPoint, build_debrief

    start = initial_state(session.persona, session.difficulty)
    initial = MoodPoint(anger=start.anger, trust=start.trust, entrenchment=start.entrenchment, label=mood_label(start))
    record = CallRecord.from_session(store.load_session(session.id), initial_mood=initial)
    return str(build_debrief(record).to_markdown())


@click.command()
@click.option("--persona", required=True, help="Persona name (see `cooldown personas list`) or a YAML file.")
@click.option("--difficulty", type=click.Choice(["easy", "normal", "hard"]), default="normal", show_default=True)
@click.option("--trainee", default=None, help="Your name, stored with the session (default: your login).")
@click.option(
    "--mode", type=click.Choice(["coach", "exam"]), default="coach", show_default=True,
    help="coach: mood and grades after every turn; exam: hidden until the debrief at the end.",
)  # fmt: skip
@click.option("--llm-grading/--no-llm-grading", default=None, help="Also grade with the grader model.")
@friendly
def chat(
    persona: str,
    difficulty: Literal["easy", "normal", "hard"],
    trainee: str | None,
    mode: Literal["coach", "exam"],
    llm_grading: bool | None,
) -> None:
    """Play a whole call in the terminal, from the caller's first line to the outcome and debrief."""
    if trainee is None:
        import getpass

        try:
            trainee = getpass.getuser()
        except (KeyError, OSError):
            trainee = "trainee"
    try:
        asyncio.run(_play(persona, difficulty, trainee, mode, llm_grading))
    except KeyboardInterrupt:
        click.echo("\nCall interrupted; everything said so far is saved.", err=True)
        sys.exit(130)


# --- cooldown sessions ----------------------------------------------------------------------------


def _resolve_id(store: Any, session_id: str) -> str:
    session_id = session_id.strip().lower()
    if len(session_id) == 36:
        return session_id
    matches = [s.id for s in store.list_sessions() if s.id.startswith(session_id)]
    if not matches:
        raise click.ClickException(f"no session starts with {session_id!r}; see `cooldown sessions list`")
    if len(matches) > 1:
        raise click.ClickException(f"{len(matches)} sessions start with {session_id!r}; give more characters")
    return str(matches[0])


@click.group()
def sessions() -> None:
    """Recorded practice calls: list, show, export, sweep."""


@sessions.command("list")
@click.option("--trainee", default=None, help="Only this trainee's calls.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@friendly
def sessions_list(trainee: str | None, limit: int) -> None:
    """Recorded calls, newest first; `turns` counts the trainee's turns."""
    store = _open_store()
    try:
        rows = store.list_sessions(trainee, limit=limit)
    finally:
        store.close()
    if not rows:
        click.echo("No calls recorded yet. Start one with `cooldown chat --persona NAME`.")
        return
    click.echo(f"{'id':8}  {'started':16}  {'trainee':12}  {'persona':24}  {'level':6}  turns  outcome")
    for s in rows:
        started = s.created_at.strftime("%Y-%m-%d %H:%M")
        outcome = s.outcome or ("in progress" if s.ended_at is None else "ended")
        click.echo(
            f"{s.id[:8]}  {started:16}  {s.trainee[:12]:12}  {s.persona_name[:24]:24}  "
            f"{s.difficulty[:6]:6}  {s.trainee_turns:5}  {outcome}"
        )


@sessions.command("sweep")
@click.option(
    "--idle-timeout", "idle_timeout_s", type=click.FloatRange(min=60), default=None,
    help="Seconds without a stored turn after which a call is idle (default COOLDOWN_IDLE_TIMEOUT_S, 1800).",
)  # fmt: skip
@friendly
def sessions_sweep(idle_timeout_s: float | None) -> None:
    """End calls that have been idle too long as `abandoned` (a running app does this every minute).

    Safe to run while the app is serving calls: only calls idle longer than the timeout are touched.
    """
    from simulator.config import load_settings
    from simulator.runtime import db_pool
    from simulator.storage import Store

    settings = load_settings()
    timeout = idle_timeout_s if idle_timeout_s is not None else settings.idle_timeout_s
    store = Store.open(settings.database_url, settings.data_dir, sweep_stale_after=None, pool=db_pool(settings))
    try:
        report = store.abandon_idle(timeout)
    finally:
        store.close()
    if not report.abandoned:
        click.echo(f"No call has been idle for {timeout:g} s; nothing to do.")
        return
    click.echo(f"Ended {len(report.abandoned)} call(s) idle for {timeout:g} s or more as abandoned:")
    for sid in report.abandoned:
        click.echo(f"  {sid}")


@sessions.command("show")
@click.argument("session_id")
@friendly
def sessions_show(session_id: str) -> None:
    """The transcript with moods and grades, then the debrief. SESSION_ID may be a unique prefix."""
    store = _open_store()
    try:
        sid = _resolve_id(store, session_id)
        click.echo(store.export_session(sid, "md"))
        record = store.load_session(sid)
        from simulator.grading.debrief import CallRecord, build_debrief

        click.echo(build_debrief(CallRecord.from_session(record)).to_markdown())
    finally:
        store.close()


@sessions.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None, help="Write to FILE.")
@click.option(
    "--redact", is_flag=True, default=False,
    help="Replace emails, phone and card numbers, account numbers, postcodes and names with [KIND] placeholders.",
)  # fmt: skip
@friendly
def sessions_export(session_id: str, fmt: Literal["md", "json"], out: str | None, redact: bool) -> None:
    """Export one call as Markdown or round-trippable JSON (to stdout, or atomically to --out).

    With --redact, personal data is replaced in every free-text field first (simple rules, not a
    guarantee: names the rules miss stay; see docs/reliability.md E7).
    """
    from simulator.storage import write_export_file

    store = _open_store()
    try:
        text = store.export_session(_resolve_id(store, session_id), fmt, redact=redact)
    finally:
        store.close()
    if out is None:
        click.echo(text, nl=False)
        return
    write_export_file(Path(out), text)
    click.echo(f"Wrote {out}", err=True)

