"""`cooldown personas ...`: designer tools for persona files (list, show, lint, schema, new, test).

`test --with-caller --coherence` plays the coherence suite (`simulator.persona.coherence_suite`).

Loaded lazily by the main CLI (`FriendlyGroup.LAZY`). Library errors become friendly messages
here (`click.ClickException`); `lint` and `test` exit with status 1 when anything fails.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from simulator.call.mood import initial_state, mood_label
from simulator.errors import CooldownError
from simulator.persona.behaviour import CALLER_STRATEGIES
from simulator.persona.library import PersonaLibrary, default_library
from simulator.persona.lint import PROMPT_BUDGET_TOKENS, caller_prompt_parts, lint_paths
from simulator.persona.loader import load_persona, persona_files, persona_hash
from simulator.persona.schema import DIFFICULTIES, DifficultyName, persona_schema_text
from simulator.resources import personas_dir

if TYPE_CHECKING:
    from simulator.config import Settings
    from simulator.llm.base import ChatModel
    from simulator.persona.behaviour import CallerRun, StrategyBook
    from simulator.persona.coherence_suite import CoherenceRun
    from simulator.persona.schema import Persona

SCAFFOLD = personas_dir() / "_scaffold.yaml.in"
SCHEMA_FILE = personas_dir() / "schema.json"

_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Use only this persona folder (default: the built-in library plus COOLDOWN_PERSONAS).",
)


def _library(directory: Path | None) -> PersonaLibrary:
    """`--dir`, or the configured library; configuration errors become friendly messages."""
    try:
        return PersonaLibrary.of(directory) if directory is not None else default_library()
    except CooldownError as exc:
        raise click.ClickException(str(exc)) from exc
_difficulty_option = click.option("--difficulty", type=click.Choice(DIFFICULTIES), default="normal", show_default=True)


@click.group()
def personas() -> None:
    """Write, check and test caller personas."""


@personas.command("list")
@_dir_option
def list_command(directory: Path | None) -> None:
    """List the persona library: the built-in callers, then every folder in COOLDOWN_PERSONAS."""
    library = _library(directory)
    entries = library.listings()
    for folder in library.folders:
        mine = [e for e in entries if e.path.parent.resolve() == folder]
        tag = " (built-in)" if folder == library.builtin else ""
        click.echo(f"# {folder}{tag}: {len(mine)} persona(s)")
        for entry in mine:
            if entry.error:
                click.echo(f"{entry.id:<24} INVALID  {entry.error}")
                continue
            focus = f" [{entry.technique_focus}]" if entry.technique_focus else ""
            click.echo(f"{entry.id:<24} {entry.name} ({entry.temperament}){focus}: {entry.situation}")


@personas.command()
@click.argument("name")
@_dir_option
@_difficulty_option
def show(name: str, directory: Path | None, difficulty: DifficultyName) -> None:
    """Show a persona (an id or a path to its file): facts, emotional model, the rendered caller prompt."""
    from simulator.tokens import count_tokens

    try:
        persona = _library(directory).load(name)
    except CooldownError as exc:
        raise click.ClickException(str(exc)) from exc
    who, scenario, emotion = persona.identity, persona.scenario, persona.emotion
    click.echo(f"{persona.id}: {who.name} ({who.temperament})  {persona_hash(persona)}")
    click.echo(f"  {who.situation}")
    click.echo("\nFacts the caller knows:")
    for fact in scenario.knows:
        when = []
        if fact.reveal_after_turn:
            when.append(f"from turn {fact.reveal_after_turn}")
        if fact.reveal_when_asked:
            when.append("when asked about " + ", ".join(fact.reveal_when_asked))
        click.echo(f"  - {fact.text}" + (f"  ({'; '.join(when)})" if when else ""))
    click.echo("Ground truth (hidden from the caller):")
    for truth in scenario.ground_truth:
        click.echo(f"  - {truth.topic}: {truth.truth}")
    click.echo("Acceptable remedies: " + "; ".join(f"{r.id} {r.match}" for r in scenario.acceptable_remedies))
    click.echo("Will not accept: " + "; ".join(f"{r.description} {r.match}" for r in scenario.will_not_accept))
    state = initial_state(persona, difficulty)
    click.echo(
        f"\nEmotional model at {difficulty}: start {state.short()} ({mood_label(state)}), "
        f"cap ±{emotion.max_change_per_turn}/turn, {persona.turn_limit(difficulty)} turns"
    )
    for rule in emotion.rules:
        moves = ", ".join(f"{k} {v:+d}" for k, v in rule.change.model_dump().items() if v)
        click.echo(f"  {rule.when.label()}: {moves}" + (f"  ({rule.reason})" if rule.reason else ""))
    outcomes = emotion.outcomes
    for key in ("resolved", "hung_up", "escalated"):
        threshold = getattr(outcomes, key)
        if threshold is not None:
            bounds = ", ".join(f"{k}={v}" for k, v in threshold.model_dump().items() if v is not None)
            click.echo(f"  {key}: {bounds}" + (" + an acceptable remedy offered" if key == "resolved" else ""))
    system, core = caller_prompt_parts(persona, difficulty)
    click.echo("\n--- caller system prompt (opening turn) ---")
    click.echo(system)
    click.echo("--- end ---")
    click.echo(
        f"tokens: whole system prompt {count_tokens(system)}, "
        f"persona + state {count_tokens(core)} (budget {PROMPT_BUDGET_TOKENS})"
    )


@personas.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_dir_option
def lint(paths: tuple[Path, ...], directory: Path | None) -> None:
    """Check persona files, folders or ids (default: the whole library). Prints `file:line:col: field: message`.

    Expectations naming a strategy are checked against the folder's own `strategies.yaml`, or the
    built-in one when the folder has none.
    """
    library = _library(directory)
    if paths:
        expanded: list[Path] = []
        for target in paths:
            if target.is_dir():
                expanded += persona_files(target) + [f for f in [target / "strategies.yaml"] if f.is_file()]
            elif target.exists() or target.suffix in (".yaml", ".yml"):
                expanded.append(target)
            else:
                try:
                    expanded.append(library.find(str(target)))
                except CooldownError as exc:
                    raise click.ClickException(str(exc)) from exc
    else:
        own = [f / "strategies.yaml" for f in library.folders if (f / "strategies.yaml").is_file()]
        expanded = library.files() + own
    persona_count = sum(1 for p in expanded if p.name != "strategies.yaml")
    checked = list(expanded)
    if not any(p.name == "strategies.yaml" for p in checked):
        checked.append(library.strategies_file(expanded[0].parent if expanded else None))
    problems = lint_paths(checked)
    for problem in problems:
        click.echo(str(problem))
    other = len(checked) - persona_count
    what = f"{persona_count} persona file(s)" + (f" and {other} strategies file(s)" if other else "")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {what}", err=True)
        raise SystemExit(1)
    click.echo(f"{what} OK")


@personas.command()
@click.option("--write", is_flag=True, help=f"Write {SCHEMA_FILE.name} next to the personas.")
@click.option("--check", is_flag=True, help="Exit 1 if the committed schema.json is out of date.")
@_dir_option
def schema(write: bool, check: bool, directory: Path | None) -> None:
    """Print the persona JSON Schema (or write/check schema.json in --dir, default the built-in library)."""
    text = persona_schema_text()
    target = (directory or personas_dir()) / "schema.json"
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            raise click.ClickException(f"{target} is out of date; run `cooldown personas schema --write`")
        click.echo(f"{target} is up to date")
    elif write:
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}")
    else:
        click.echo(text, nl=False)


@personas.command()
@click.argument("name")
@click.option("--display-name", default=None, help="The caller's name (default: from NAME).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_dir_option
def new(name: str, display_name: str | None, force: bool, directory: Path | None) -> None:
    """Write a commented scaffold `NAME.yaml` that lints clean, in the current folder or --dir.

    A `schema.json` is written beside it when the folder has none, so editors that read the
    `yaml-language-server` header can check the file as you type.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,47}", name):
        raise click.ClickException("NAME must be lower_snake_case (letters, digits, _), e.g. 'sam_late_refund'")
    folder = directory if directory is not None else Path.cwd()
    if folder.resolve() == personas_dir().resolve():
        raise click.ClickException(
            f"{folder} is the built-in library, which an upgrade replaces; keep your personas in your own "
            "folder (cd there, or pass --dir) and add it to COOLDOWN_PERSONAS"
        )
    if folder.exists() and not folder.is_dir():
        raise click.ClickException(f"--dir {folder} is a file; give a folder")
    target = folder / f"{name}.yaml"
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pick another name or pass --force")
    caller = display_name or " ".join(part.capitalize() for part in name.split("_")[:2])
    text = SCAFFOLD.read_text(encoding="utf-8").replace("__ID__", name).replace("__NAME__", caller)
    text = text.replace("__PATH__", str(target))
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    if not (folder / "schema.json").exists():
        shutil.copyfile(SCHEMA_FILE, folder / "schema.json")
    click.echo(f"wrote {target}; fill in the TODOs, then `cooldown personas lint {target}`")
    click.echo(f"add {folder.resolve()} to COOLDOWN_PERSONAS so `chat` and the web page list it")


def caller_model(settings: Settings) -> ChatModel:
    """The caller-role model for `test --with-caller` (tests replace this with a `FakeChatModel`)."""
    from simulator.llm import get_model

    return get_model("caller", settings)


@personas.command("test")
@click.argument("name", required=False)
@_dir_option
@_difficulty_option
@click.option("--quiet", is_flag=True, help="Only print failures and the summary.")
@click.option(
    "--with-caller",
    is_flag=True,
    help="Also play strategies against the real caller model and report whether it stayed in character.",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    help=f"With --with-caller: strategy to play (repeatable; default: {', '.join(CALLER_STRATEGIES)}).",
)
@click.option(
    "--turns",
    type=click.IntRange(1, 30),
    default=4,
    show_default=True,
    help="With --with-caller: turns per strategy at most.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="With --with-caller: exit 1 if any caller line needed the fallback (with --coherence: if fewer "
    "than 95% of replies pass).",
)
@click.option(
    "--coherence",
    is_flag=True,
    help="With --with-caller: play the coherence suite (questions about facts, a data confrontation, offers, "
    "small talk) instead of the strategies, and check every reply against its plan.",
)
def test_command(
    name: str | None,
    directory: Path | None,
    difficulty: DifficultyName,
    quiet: bool,
    with_caller: bool,
    strategies: tuple[str, ...],
    turns: int,
    strict: bool,
    coherence: bool,
) -> None:
    """Play the scripted strategies against personas, check expectations, print mood trajectories.

    With --with-caller, then play a few strategies against the real caller model through the caller
    chain and its guard, and print each caller line with whether it stayed in character. That part
    reports only; with --strict a line that needed the persona's fallback line fails the command.
    With --coherence as well, play the coherence suite instead and report, per persona, the share of
    replies that pass their plan and the share the model voiced itself.
    """
    from simulator.persona.behaviour import format_trajectory, load_strategies, test_persona

    ctx = click.get_current_context()
    if not with_caller:
        flags = [("strategies", "--strategy"), ("turns", "--turns"), ("strict", "--strict")]
        flags.append(("coherence", "--coherence"))
        for param, flag in flags:
            if ctx.get_parameter_source(param) is not click.core.ParameterSource.DEFAULT:
                raise click.UsageError(f"{flag} only applies with --with-caller")
    if coherence:
        for param, flag in (("strategies", "--strategy"), ("turns", "--turns")):
            if ctx.get_parameter_source(param) is not click.core.ParameterSource.DEFAULT:
                raise click.UsageError(f"{flag} does not apply with --coherence")
    personas_library = _library(directory)
    try:
        paths = [personas_library.find(name)] if name else personas_library.files()
        book = load_strategies(personas_library.strategies_file(paths[0].parent if paths else None))
        library = [load_persona(p) for p in paths]
    except CooldownError as exc:
        raise click.ClickException(str(exc)) from exc
    chosen = list(strategies) or list(CALLER_STRATEGIES)
    unknown = [s for s in chosen if s not in book.strategies]
    if with_caller and unknown:
        raise click.UsageError(f"unknown strategy {unknown[0]!r}; known: {', '.join(sorted(book.strategies))}")
    failed = 0
    for persona in library:
        report = test_persona(persona, book, difficulty)
        click.echo(f"== {persona.id}: {'PASS' if report.passed else 'FAIL'}")
        for check in report.checks:
            if not check.passed:
                failed += 1
                click.echo(f"  FAIL {check.name}: {'; '.join(check.failures)}")
                if check.trajectory is not None:
                    click.echo(_indent(format_trajectory(check.trajectory)))
            elif not quiet:
                click.echo(f"  ok   {check.name}")
        if not quiet:
            for trajectory in report.trajectories:
                click.echo(_indent(format_trajectory(trajectory)))
    failed += _grading_report(library, quiet)
    click.echo(f"{len(library)} persona(s), {failed} failed check(s)")
    fallbacks = 0
    below_target = False
    if with_caller:
        try:
            if coherence:
                below_target = not asyncio.run(_coherence_report(library, difficulty, quiet))
            else:
                fallbacks = asyncio.run(_caller_report(library, book, chosen, difficulty, turns, quiet))
        except CooldownError as exc:
            raise click.ClickException(f"the caller check could not run: {exc}") from exc
    if failed or (strict and (fallbacks or below_target)):
        raise SystemExit(1)


def _grading_report(library: list[Persona], quiet: bool) -> int:
    """Grade every persona's example offers with the local appraiser; print and count disagreements."""
    from simulator.persona.consistency import check_offers
    from simulator.runtime import local_grader

    grader = local_grader()
    failed = 0
    for persona in library:
        checks = asyncio.run(check_offers(persona, grader))
        bad = [c for c in checks if not c.passed]
        failed += len(bad)
        click.echo(f"== {persona.id} example offers, graded by {grader.name}: {'PASS' if not bad else 'FAIL'}")
        for check in checks:
            if check.passed and quiet:
                continue
            mark = "ok  " if check.passed else "FAIL"
            click.echo(f"  {mark} {check.kind}: {check.summary}")
            for problem in check.problems:
                click.echo(f"       {problem}: {check.offer!r}")
    return failed


async def _caller_report(
    library: list[Persona],
    book: StrategyBook,
    strategies: list[str],
    difficulty: DifficultyName,
    turns: int,
    quiet: bool,
) -> int:
    """Play `strategies` against the real caller for every persona, print the report; the fallback count."""
    from simulator.config import load_settings
    from simulator.persona.behaviour import CallerSummary, play_with_caller

    settings = load_settings()
    model = caller_model(settings)
    click.echo(
        f"\n--- caller check: {model.info.label}, {model.info.prompt_form} prompts, "
        f"{', '.join(strategies)} for at most {turns} turn(s) each at {difficulty}"
    )
    runs: list[CallerRun] = []
    try:
        for persona in library:
            mine = []
            for strategy in strategies:
                run = await play_with_caller(
                    persona,
                    difficulty,
                    book.strategies[strategy].turns,
                    model,
                    count=turns,
                    strategy=strategy,
                    budget_tokens=settings.context_budget_tokens,
                    max_tokens=settings.caller.max_tokens,
                    temperature=settings.caller.temperature,
                )
                mine.append(run)
                click.echo(_format_caller_run(run, quiet))
            click.echo(f"== {persona.id} caller: {CallerSummary.of(mine).text()}")
            runs += mine
    finally:
        await model.aclose()
    total = CallerSummary.of(runs)
    click.echo(f"caller total over {len(library)} persona(s): {total.text()}")
    click.echo(total.pass_k_text())
    return total.fallbacks


async def _coherence_report(library: list[Persona], difficulty: DifficultyName, quiet: bool) -> bool:
    """Play the coherence suite against the caller for every persona and print it; True if on target."""
    from simulator.config import load_settings
    from simulator.persona.coherence_suite import TARGET, run_coherence, summary_text

    settings = load_settings()
    model = caller_model(settings)
    info = model.info
    enforced = info.demo_grade or info.provider == "scripted"
    how = "plans enforced: a reply that misses its plan is replaced by the persona's own line" if enforced else (
        "plans checked and recorded (not enforced for this model)"
    )
    form = "" if info.provider == "scripted" else f"{info.prompt_form} prompts, "
    click.echo(f"\n--- coherence: {info.label}, {form}{how}, at {difficulty}")
    passed = voiced = total = 0
    try:
        for persona in library:
            run = await run_coherence(
                persona,
                model,
                difficulty=difficulty,
                budget_tokens=settings.context_budget_tokens,
                max_tokens=settings.caller.max_tokens,
                temperature=settings.caller.temperature,
            )
            click.echo(_format_coherence(run, quiet))
            click.echo(f"== {persona.id} coherence: {run.text()}")
            passed, voiced, total = passed + run.passed, voiced + run.voiced, total + len(run.lines)
    finally:
        await model.aclose()
    share = passed / total if total else 1.0
    verdict = "met" if share >= TARGET else "NOT met"
    click.echo(
        f"coherence total over {len(library)} persona(s): {summary_text(passed, voiced, total)}; "
        f"target >= {TARGET:.0%} passing: {verdict}"
    )
    return share >= TARGET


def _format_coherence(run: CoherenceRun, quiet: bool) -> str:
    out = []
    for line in run.lines:
        if quiet and line.passed:
            continue
        act = line.plan.act + (f"({line.plan.fact})" if line.plan.fact else "")
        out.append(f"  {run.persona} / {line.scene} t{line.turn:<2} {line.plan.mood:<8} {act:<24} {line.voice:<8} "
                   f"agent: {_clip(line.agent_text, 60)}")
        out.append(f"        said: {line.text}")
        problems = ([line.planning] if line.planning else []) + [f"{f.kind}: {f.detail}" for f in line.failures]
        note = "ok" if not problems else "FAIL " + "; ".join(problems)
        if line.model_failures:
            note += "  (model reply replaced: " + "; ".join(f.detail for f in line.model_failures) + ")"
        out.append(f"        -> {note}")
    return "\n".join(out)


_VERDICT_TEXT = {
    "in_character": "in character",
    "regenerated": "regenerated",
    "cut_short": "cut short to its clean first part",
    "fallback": "FALLBACK line",
}


def _format_caller_run(run: CallerRun, quiet: bool) -> str:
    trajectory = run.trajectory
    start = trajectory.start
    out = [f"  {run.persona} / {run.strategy} @ {run.difficulty}: start {start.short()} ({mood_label(start)})"]
    for line, point in zip(run.lines, trajectory.points, strict=True):
        if quiet and line.verdict == "in_character":
            continue
        state = point.step.state
        verdict = _VERDICT_TEXT[line.verdict]
        if line.attempts > 1:
            verdict += f" after {line.attempts} attempts"
        if line.violations:
            verdict += ": " + "; ".join(f"attempt {v.attempt} {v.kind} ({v.detail})" for v in line.violations)
        out.append(f"    t{line.turn:<2} {state.short()} {mood_label(state):<8} agent: {_clip(line.agent_text)}")
        out.append(f"        caller: {line.line}")
        out.append(f"        -> {verdict}")
    out.append(f"    -> {trajectory.outcome or 'still on the line'} after turn {trajectory.final.turn}")
    return "\n".join(out)


def _clip(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
