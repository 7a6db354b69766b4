"""`cooldown evals`: run grading suites, report, compare runs, export the suite schema.

The main CLI loads it lazily (`FriendlyGroup.LAZY` in `simulator/cli/main.py`); also runs as `python -m evals.cli`.

Exit codes of `run` and `report`: 0 passed; 3 a suite failed (more than 2% ungraded); 4 the run was
aborted by its token budget (resume it with `--resume`); 6 a metric missed its threshold (see
`evals.thresholds`); 1 an error (bad suite file, missing grader...); 2 a usage error (e.g. an unknown
metric in `--min`). When several apply, the first of 4, 3, 6 wins.
`compare` exits 5 when a metric regressed outside run A's confidence interval, and 2 when the runs
cover different suites or items (they cannot be compared).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from evals.cases import SCHEMA_PATH, schema_text
from evals.compare import NotComparable, compare_lines, compare_runs
from evals.external import ADAPTERS
from evals.graders import GraderChoice, GraderSet, make_graders
from evals.html_report import render_html
from evals.metering import Estimate, Usage
from evals.report import build_report
from evals.runner import check_budget, estimate, execute
from evals.runstore import GraderInfo, Manifest, RunStore, default_run_dir
from evals.suites import SUITES_DIR, Suite, load_specs
from evals.terminal import summary_lines
from evals.thresholds import Threshold, merge, parse_option
from simulator.errors import CooldownError

EXIT_NOT_COMPARABLE = 2
EXIT_SUITE_FAILED = 3
EXIT_ABORTED = 4
EXIT_REGRESSION = 5
EXIT_THRESHOLD_MISSED = 6


class _EvalsGroup(click.Group):
    """Friendly one-line errors when run on its own (under `cooldown` the main group does this)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CooldownError as exc:
            if os.environ.get("COOLDOWN_RAISE_ERRORS"):
                raise
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_EvalsGroup)
def evals() -> None:
    """Offline grading suites: measure graders against gold and proxy labels.

    \b
    SUITE is a shipped suite name (gold_listening), a .jsonl/.yaml path, or NAME:PATH for an
    external dataset: esconv:, annomi:, mentalmanip:, mentalmanip-consensus:, darkpatterns:.
    """


def _default_cache_dir() -> Path:
    try:
        from simulator.config import load_settings

        return load_settings().data_dir / "eval-cache"
    except Exception:  # settings unreadable: still cache, under the user's cache folder
        return Path.home() / ".cache" / "cooldown" / "eval-cache"


def _usage_dict(usage: Usage, price: tuple[float, float] | None) -> dict[str, Any]:
    cost = usage.cost(price)
    return {"model_calls": usage.calls, "tokens_in": usage.tokens_in, "tokens_out": usage.tokens_out,
            "cost_usd": None if cost is None else round(cost, 4)}


def _echo_estimate(est: Estimate) -> None:
    cost = "unknown price (set --price-in/--price-out)" if est.cost is None else f"≈ ${est.cost:.4f}"
    click.echo(
        f"before: {est.requests} model calls to make ({est.cached} answered from cache); "
        f"≈ {est.tokens_in:,} tokens in + {est.tokens_out:,} out; {cost}", err=True)
    for note in est.notes:
        click.echo(f"        ({note})", err=True)


def _suite_info(suites: list[Suite]) -> dict[str, dict[str, str]]:
    return {
        s.name: {"kind": s.kind, "note": s.note, "description": s.description, "split": s.split} for s in suites
    }


def _thresholds(suites: list[Suite], min_options: list[str]) -> dict[str, list[Threshold]]:
    """Each suite's thresholds: those its file carries, then the `--min` options in the order given."""
    names = [s.name for s in suites]
    out = {s.name: list(s.thresholds) for s in suites}
    for text in min_options:
        try:
            suite, threshold = parse_option(text, names)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="'--min'") from None
        for name in [suite] if suite else names:
            out[name] = merge(out[name], [threshold])
    return {name: ts for name, ts in out.items() if ts}


def _exit_code(manifest: Manifest, report: dict[str, Any]) -> int:
    if manifest.status == "aborted":
        return EXIT_ABORTED
    if report["failed_suites"]:
        return EXIT_SUITE_FAILED
    if report["missed_thresholds"]:
        return EXIT_THRESHOLD_MISSED
    return 0


def write_reports(store: RunStore, *, html: bool = True) -> dict[str, Any]:
    """Rebuild `report.json` (and `report.html`) from the run's results; return the report."""
    manifest = store.read_manifest()
    report = build_report(manifest, store.read_results(), manifest.suite_info)
    store.write_json("report.json", report)
    if html:
        (store.dir / "report.html").write_text(render_html(report), encoding="utf-8")
    return report


async def _run(suites: list[Suite], graders: GraderSet, store: RunStore, manifest: Manifest, *,
               concurrency: int, budget: int | None, price: tuple[float, float] | None,
               progress: bool, retry_ungraded: bool) -> Manifest:
    try:
        est = estimate(suites, graders, store, price=price, retry_ungraded=retry_ungraded)
        _echo_estimate(est)
        check_budget(est, budget)
        outcome = await execute(suites, graders, store, concurrency=concurrency, budget_tokens=budget,
                                progress=progress, retry_ungraded=retry_ungraded)
    finally:
        await graders.aclose()
    price = est.price
    manifest.status = outcome.status
    manifest.status_reason = outcome.reason
    manifest.usage = {**_usage_dict(outcome.usage, price), "cache_hits": outcome.cache_hits,
                      "cache_misses": outcome.cache_misses, "items_graded_now": outcome.done_now,
                      "items_already_done": outcome.skipped_done, "seconds": round(outcome.elapsed_s, 2)}
    store.write_manifest(manifest)
    u = manifest.usage
    cost = "unknown price" if u["cost_usd"] is None else f"${u['cost_usd']:.4f}"
    click.echo(
        f"after: {outcome.done_now} items graded now, {outcome.skipped_done} already done; "
        f"{u['model_calls']} model calls, {u['tokens_in']:,} tokens in + {u['tokens_out']:,} out ({cost}); "
        f"cache {outcome.cache_hits} hits / {outcome.cache_misses} misses; {outcome.elapsed_s:.1f} s",
        err=True)
    return manifest


@evals.command("run")
@click.argument("suite_specs", metavar="SUITE...", nargs=-1)
@click.option("--grader", "grader_choice", type=click.Choice(["local", "llm", "both"]), default="local",
              show_default=True, help="Which grader(s) to measure.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Grading calls in flight at once.")
@click.option("--limit", type=click.IntRange(1), help="Grade only the first N cases of each suite.")
@click.option("--split", type=click.Choice(["test", "train", "all"]), default="test", show_default=True,
              help="Which split of the gold suites (cases without a split are always included).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default ./evals-runs/<timestamp>-<name>).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Continue a killed or aborted run in this directory (same suites and options).")
@click.option("--budget-tokens", type=click.IntRange(1), help="Refuse or stop when model tokens exceed this.")
@click.option("--price-in", type=float, help="USD per million input tokens (for the cost estimate).")
@click.option("--price-out", type=float, help="USD per million output tokens.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Grade cache folder (default <data dir>/eval-cache).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the grade cache.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--quiet", is_flag=True, help="Print only the pass/fail line, not the summary.")
@click.option("--no-html", is_flag=True, help="Write report.json only (no plots).")
@click.option("--retry-ungraded", is_flag=True, help="With --resume: grade ungraded items again.")
@click.option("--min", "min_options", metavar="[SUITE:]NAME=VALUE", multiple=True,
              help="A minimum a metric must reach (repeatable); adds to or overrides the suite file's "
                   "thresholds, for every suite or just SUITE. Exit 6 when one is missed. Names: score_qwk, "
                   "manipulative_f1, label.dismissal.recall, ... (see evals/README.md).")
def run_command(suite_specs: tuple[str, ...], grader_choice: GraderChoice, concurrency: int, limit: int | None,
                split: str, out_dir: Path | None, resume_dir: Path | None, budget_tokens: int | None,
                price_in: float | None, price_out: float | None, cache_dir: Path | None, no_cache: bool,
                no_progress: bool, quiet: bool, no_html: bool, retry_ungraded: bool,
                min_options: tuple[str, ...]) -> None:
    """Grade SUITE... with the chosen grader(s); write results, report.json and report.html.

    Exit codes: 0 passed, 3 a suite failed (over 2% ungraded), 4 aborted by the budget, 6 a threshold
    missed.
    """
    if resume_dir is not None:
        store = RunStore.open(resume_dir)
        manifest = store.read_manifest()
        if suite_specs:
            raise click.UsageError("--resume takes the suites from the run's manifest; give no SUITE")
        specs, split, limit, grader_choice = manifest.specs, manifest.split, manifest.limit, manifest.grader
        budget_tokens = budget_tokens or manifest.budget_tokens
        manifest.status, manifest.status_reason = "running", None
        mins = [*manifest.min_options, *min_options]
    else:
        if not suite_specs:
            raise click.UsageError("give at least one SUITE (see `cooldown evals list`)")
        specs = list(suite_specs)
        store = None
        mins = list(min_options)
    suites = load_specs(specs, split=split, limit=limit)  # type: ignore[arg-type]
    thresholds = _thresholds(suites, mins)
    graders = make_graders(grader_choice, cache_dir=None if no_cache else (cache_dir or _default_cache_dir()))
    if store is None:
        name = "+".join(s.name.replace(":", "-") for s in suites)[:50]
        manifest = Manifest(name=name, created=datetime.now(UTC).isoformat(timespec="seconds"), specs=specs,
                            split=split, limit=limit, grader=grader_choice, concurrency=concurrency,
                            budget_tokens=budget_tokens)
        store = RunStore.create(out_dir or default_run_dir(name), manifest)
    manifest.graders = [GraderInfo(name=g.name, version=g.version) for g in graders.graders]
    manifest.suite_info = _suite_info(suites)
    manifest.thresholds, manifest.min_options = thresholds, mins
    store.write_manifest(manifest)
    click.echo(f"run directory: {store.dir}", err=True)
    price = (price_in, price_out) if price_in is not None and price_out is not None else None
    manifest = asyncio.run(_run(suites, graders, store, manifest, concurrency=concurrency,
                                budget=budget_tokens, price=price, progress=not no_progress,
                                retry_ungraded=retry_ungraded))
    report = write_reports(store, html=not no_html)
    lines = summary_lines(report)
    click.echo("\n".join(lines[-1:] if quiet else lines))
    click.echo(f"report: {store.dir / ('report.json' if no_html else 'report.html')}", err=True)
    code = _exit_code(manifest, report)
    if code:
        raise SystemExit(code)


@evals.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--no-html", is_flag=True, help="Write only report.json.")
def report_command(run_dir: Path, no_html: bool) -> None:
    """Rebuild report.json / report.html of RUN_DIR from its results and print the summary.

    Exits like `run`: 3 a suite failed, 4 the run was aborted, 6 a threshold missed.
    """
    store = RunStore.open(run_dir)
    report = write_reports(store, html=not no_html)
    click.echo("\n".join(summary_lines(report)))
    code = _exit_code(store.read_manifest(), report)
    if code:
        raise SystemExit(code)


@evals.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("run_b", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(run_a: Path, run_b: Path, as_json: bool) -> None:
    """Show what changed from RUN_A to RUN_B; exit 5 if a metric regressed outside A's 95% CI.

    Runs over different suites or items are refused (exit 2). When the gold labels were edited between
    the runs, both are scored on B's gold, and the edits' own effect is shown apart from grader changes.
    """
    try:
        result = compare_runs(run_a, run_b)
    except NotComparable as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_NOT_COMPARABLE) from None
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(compare_lines(result)))
    if result["regressions"]:
        raise SystemExit(EXIT_REGRESSION)


@evals.command("selfplay")
@click.option("--grader", "grader_choice", type=click.Choice(["scripted", "local", "llm"]), default="local",
              show_default=True, help="Whose verdicts drive the mood (scripted = the strategies' own labels).")
@click.option("--persona", "persona_ids", multiple=True, help="Persona id to include (repeatable; default all).")
@click.option("--difficulty", type=click.Choice(["easy", "normal", "hard"]), default="normal", show_default=True,
              help="Difficulty level to play at.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write selfplay.json and selfplay.html (default ./evals-runs/<timestamp>-selfplay).")
@click.option("--no-cache", is_flag=True, help="Do not use the grade cache (llm grader).")
def selfplay_command(grader_choice: str, persona_ids: tuple[str, ...], difficulty: str, out_dir: Path | None,
                     no_cache: bool) -> None:
    """Play the scripted strategies against the personas; exit 3 if a caller softened unearned."""
    from evals.html_report import render_selfplay_html
    from evals.selfplay import run_selfplay, selfplay_lines

    graders = None
    if grader_choice != "scripted":
        graders = make_graders(grader_choice,  # type: ignore[arg-type]
                               cache_dir=None if no_cache else _default_cache_dir())

    async def go() -> dict[str, Any]:
        try:
            return await run_selfplay(graders.graders[0] if graders else None,
                                      personas=list(persona_ids) or None, difficulty=difficulty)
        finally:
            if graders is not None:
                await graders.aclose()

    result = asyncio.run(go())
    out = out_dir or default_run_dir("selfplay")
    out.mkdir(parents=True, exist_ok=True)
    (out / "selfplay.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "selfplay.html").write_text(render_selfplay_html(result), encoding="utf-8")
    click.echo("\n".join(selfplay_lines(result)))
    click.echo(f"report: {out / 'selfplay.html'}", err=True)
    if result["flagged"]:
        raise SystemExit(EXIT_SUITE_FAILED)


@evals.command("schema")
@click.option("--write", is_flag=True, help=f"Write {SCHEMA_PATH.name} next to the suites.")
def schema_command(write: bool) -> None:
    """Print (or write) the JSON Schema of a suite case."""
    if write:
        SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
        click.echo(f"wrote {SCHEMA_PATH}", err=True)
    else:
        click.echo(schema_text(), nl=False)


@evals.command("list")
def list_command() -> None:
    """List the shipped suites and the external dataset adapters."""
    click.echo("shipped suites (evals/suites/):")
    for path in sorted(SUITES_DIR.glob("*.jsonl")):
        click.echo(f"  {path.stem}")
    click.echo("external datasets (NAME:PATH; files are not shipped):")
    for name, adapter in sorted(ADAPTERS.items()):
        click.echo(f"  {name:<22} {adapter.description}")


if __name__ == "__main__":
    evals()
