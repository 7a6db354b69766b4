"""`cooldown appraiser train`: the local appraiser retrained on the shipped data plus an organisation's labels.

The new weights go to a folder of their own (never over the shipped ones); select them with
`COOLDOWN_APPRAISER_WEIGHTS=DIR`. The report measures new against shipped weights, in the evals suite
report format, on the held-out share of the new labels and on the blind suite.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from simulator.errors import CooldownError

BLIND_SUITE = "blind"


@click.group()
def appraiser() -> None:
    """The local appraiser's weights: train your own from your labels."""


def _refuse_package_folder(out: Path) -> None:
    from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, WEIGHTS_FILE

    shipped = DEFAULT_WEIGHTS.parent.resolve()
    target = out.expanduser().resolve()
    if target == shipped or shipped in target.parents:
        raise click.BadParameter(
            f"{out} is the package's data folder, which holds the shipped weights; choose another folder",
            param_hint="'--out'",
        )
    if (target / WEIGHTS_FILE).exists():
        raise click.BadParameter(
            f"{target / WEIGHTS_FILE} exists already; choose a new folder so weights in use are never replaced",
            param_hint="'--out'",
        )


def _suite_line(case: object) -> str:
    """A held-out label as a suite-format line (split `test`)."""
    data = case.model_dump(mode="json", exclude_none=True)  # type: ignore[attr-defined]
    data["split"] = "test"
    return json.dumps(data, ensure_ascii=False)


@appraiser.command("train")
@click.option("--labels", "label_files", multiple=True, required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Suite-format JSONL with `gold` labels (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the new weights and report (default <data dir>/appraiser/<timestamp>).")
@click.option("--no-tune", is_flag=True, help="Keep every decision threshold at 0.5 (faster; usually a little worse).")
def train_command(label_files: tuple[Path, ...], out_dir: Path | None, no_tune: bool) -> None:
    """Train appraiser weights from the shipped training data plus your labels, and compare them with the shipped ones.

    A deterministic share of your labels (by `meta.group`, else id) is held out and never trained on.
    Needs at least 50 labelled turns with a positive example of every rubric label.
    """
    from evals.suites import SUITES_DIR
    from evals.terminal import summary_lines
    from evals.weights_compare import compare_graders
    from simulator.config import load_settings
    from simulator.grading.appraiser.dataset import load_many
    from simulator.grading.appraiser.org_labels import check_enough, hold_out, load_labels
    from simulator.grading.appraiser.training import shipped_training_files, train_weights
    from simulator.grading.appraiser.weights import DEFAULT_WEIGHTS, WEIGHTS_FILE
    from simulator.runtime import local_grader

    if out_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = load_settings().data_dir / "appraiser" / stamp
    _refuse_package_folder(out_dir)
    labels = load_labels(list(label_files))
    check_enough(labels)
    own_train, held = hold_out(labels)
    base_files = shipped_training_files()
    base = [c for c in load_many(base_files) if c.split == "train"]
    clash = sorted({c.id for c in base} & {c.id for c in labels})
    if clash:
        raise CooldownError(
            f"{len(clash)} label id(s) are already used by the shipped training data (e.g. {clash[0]!r}); "
            "give your labels ids of their own"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    click.echo(
        f"training on {len(base)} shipped + {len(own_train)} of your turns; holding out {len(held)} of yours "
        f"({len({str(c.meta.get('group') or c.id) for c in held})} groups) for measuring...", err=True
    )
    started = time.perf_counter()
    weights = out_dir / WEIGHTS_FILE
    meta = {
        "train_files": [p.name for p in base_files],
        "label_files": [str(p) for p in label_files],
        "own_train_items": len(own_train),
        "held_out_ids": [c.id for c in held],
        "tuned": not no_tune,
    }
    version = train_weights([*base, *own_train], weights, meta, tune=not no_tune)
    click.echo(f"weights {version} written to {weights} ({time.perf_counter() - started:.0f} s)", err=True)
    heldout_suite = out_dir / "heldout.jsonl"
    heldout_suite.write_text("".join(_suite_line(c) + "\n" for c in held), encoding="utf-8")
    report = compare_graders(
        {"shipped": local_grader(DEFAULT_WEIGHTS), "new": local_grader(weights)},
        [str(heldout_suite), str(SUITES_DIR / f"{BLIND_SUITE}.jsonl")],
        out_dir / "comparison",
        name="appraiser-train",
    )
    click.echo("\n".join(summary_lines(report)))
    click.echo(f"\nreport: {out_dir / 'comparison' / 'report.html'}", err=True)
    click.echo(f"use the new weights: COOLDOWN_APPRAISER_WEIGHTS={out_dir}")
