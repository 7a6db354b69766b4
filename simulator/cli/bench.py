"""`cooldown bench`: run the performance benchmarks (issue 8) and print a one-screen summary.

`cooldown bench capacity` measures how many simulated trainees one and two `cooldown app` instances on
one PostgreSQL hold (issue 16); it starts its own processes and is not part of the default run.

The benchmark code lives in the top-level `benchmarks/` folder of a source checkout; it is found next to
the `simulator` package when it is not importable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from simulator.resources import checkout_root

FIGURE_NAMES = ("overhead", "grading", "appraiser", "suites", "prompt_growth", "progress", "memory")


def _import_runner() -> object:
    try:
        from benchmarks import run as runner
    except ImportError:
        root = checkout_root()
        if root is None:
            raise click.ClickException(
                "the benchmarks are not installed: run `cooldown bench` from a source checkout of Cooldown"
            ) from None
        sys.path.insert(0, str(root))
        from benchmarks import run as runner
    return runner


@click.group("bench", invoke_without_command=True)
@click.option("--quick", is_flag=True, help="Fewer trials, about 2 minutes; no cold-prompt or embedded-grader runs.")
@click.option("--no-embedded", is_flag=True, help="Scripted models only: never start the llama.cpp server.")
@click.option("--only", multiple=True, type=click.Choice(FIGURE_NAMES), help="Run only this figure (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write latest.json and the PNG plots (default benchmarks/results).")  # fmt: skip
@click.pass_context
def bench(ctx: click.Context, quick: bool, no_embedded: bool, only: tuple[str, ...], out: Path | None) -> None:
    """Measure what a turn costs and how Cooldown scales; save figures as JSON and PNG.

    Figures are ratios and distributions measured within one run, with the machine's load average
    beside them; see docs/performance.md for what each one means and its target. `cooldown bench
    capacity` runs the multi-instance capacity sweep instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    runner = _import_runner()
    kwargs: dict[str, object] = {"quick": quick, "embedded": not no_embedded, "only": list(only) or None,
                                 "echo": click.echo}  # fmt: skip
    if out is not None:
        kwargs["out_dir"] = out
    result = runner.run_benchmarks(**kwargs)  # type: ignore[attr-defined]
    if any(f.error for f in result.figures):
        sys.exit(1)


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {value!r}") from None
    if not numbers or min(numbers) < 1 or max(numbers) > 32:
        raise click.BadParameter("give 1 to 32 trainees per instance, e.g. 1,2,4,8")
    return numbers


@bench.command("capacity")
@click.option("--per-instance", default="1,2,4,8,16", show_default=True, callback=_int_list,
              help="Simulated trainees per instance at each step (2 instances get twice as many).")
@click.option("--step-s", type=click.FloatRange(1, 60), default=8.0, show_default=True,
              help="Measured seconds per step (after a 1.5 s ramp).")
@click.option("--turns", type=click.IntRange(1, 14), default=6, show_default=True, help="Turns per call.")
@click.option("--think-s", type=click.FloatRange(0, 30), default=0.2, show_default=True,
              help="Pause between the caller's reply and the trainee's next turn.")
@click.option("--latency", type=click.FloatRange(0, 10), default=0.3, show_default=True,
              help="Scripted model: seconds to the first token.")
@click.option("--tokens-per-s", type=click.FloatRange(1, 100_000), default=50.0, show_default=True,
              help="Scripted model: output tokens per second.")
@click.option("--budget-s", type=click.FloatRange(1, 900), default=150.0, show_default=True,
              help="No new step starts this long after the first.")
@click.option("--database-url", default=None,
              help="PostgreSQL to use (it gets 'bench*' trainees' calls); default: a throwaway local server.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write capacity.json (default benchmarks/results).")  # fmt: skip
def capacity(per_instance: tuple[int, ...], step_s: float, turns: int, think_s: float, latency: float,
             tokens_per_s: float, budget_s: float, database_url: str | None, out: Path | None) -> None:  # fmt: skip
    """Simulated trainees against 1 and 2 `cooldown app` instances on one PostgreSQL, on loopback.

    A scripted caller and grader server with a fixed latency and token rate stands in for the model.
    Prints turns/s, p50/p95 time to first caller text, errors, CPU and memory per instance, database
    connections, the K at which p95 doubles and the 2-instance/1-instance ratio, all from this run.
    """
    _import_runner()  # puts a source checkout's benchmarks/ on the path
    from benchmarks import capacity as cap
    from benchmarks.common import RESULTS_DIR

    cfg = cap.CapacityConfig(per_instance=per_instance, step_s=step_s, turns_per_call=turns, think_s=think_s,
                             latency_s=latency, tokens_per_s=tokens_per_s, budget_s=budget_s,
                             database_url=database_url)  # fmt: skip
    click.echo(f"… capacity: {len(per_instance)} loads x 2 instance counts, {step_s:g} s each")
    try:
        fig = cap.run(cfg, echo=click.echo)
    except (RuntimeError, OSError) as exc:
        raise click.ClickException(f"the capacity run could not start: {exc}") from exc
    folder = out or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "capacity.json").write_text(fig.model_dump_json(indent=1) + "\n", encoding="utf-8")
    click.echo(cap.summary(fig))
    click.echo(f"Saved {folder / 'capacity.json'}")
    if fig.error:
        sys.exit(1)
