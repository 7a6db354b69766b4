"""`cooldown bench`: run the performance benchmarks (issue 8) and print a one-screen summary.

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


@click.command("bench")
@click.option("--quick", is_flag=True, help="Fewer trials, about 2 minutes; no cold-prompt or embedded-grader runs.")
@click.option("--no-embedded", is_flag=True, help="Scripted models only: never start the llama.cpp server.")
@click.option("--only", multiple=True, type=click.Choice(FIGURE_NAMES), help="Run only this figure (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write latest.json and the PNG plots (default benchmarks/results).")  # fmt: skip
def bench(quick: bool, no_embedded: bool, only: tuple[str, ...], out: Path | None) -> None:
    """Measure what a turn costs and how Cooldown scales; save figures as JSON and PNG.

    Figures are ratios and distributions measured within one run, with the machine's load average
    beside them; see docs/performance.md for what each one means and its target.
    """
    runner = _import_runner()
    kwargs: dict[str, object] = {"quick": quick, "embedded": not no_embedded, "only": list(only) or None,
                                 "echo": click.echo}  # fmt: skip
    if out is not None:
        kwargs["out_dir"] = out
    result = runner.run_benchmarks(**kwargs)  # type: ignore[attr-defined]
    if any(f.error for f in result.figures):
        sys.exit(1)
