"""`cooldown label`: human labelling of trainee turns with the RUBRIC labels.

`cooldown label agreement FILE...` compares two or more raters' suite-format files (`gold` per id):
Cohen's kappa per label, quadratic kappa on the score, and the disagreements to adjudicate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError


@click.group()
def label() -> None:
    """Label trainee turns and measure how far raters agree."""


def _rater_file(path: Path) -> dict[str, dict[str, Any]]:
    """id -> gold verdict (as JSON) of one rater's suite-format file."""
    from simulator.grading.labels import TurnVerdict

    out: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            verdict = TurnVerdict.model_validate(raw["gold"])
            item = str(raw["id"])
        except (json.JSONDecodeError, ValidationError, KeyError, TypeError) as exc:
            raise click.ClickException(
                f"{path}:{lineno}: not a labelled turn with `id` and `gold` ({exc}); fix or remove the line"
            ) from exc
        if item in out:
            raise click.ClickException(f"{path}:{lineno}: id {item!r} is labelled twice in this file")
        out[item] = verdict.model_dump(mode="json")
    return out


def _names(paths: tuple[Path, ...]) -> list[str]:
    stems = [p.stem for p in paths]
    return [s if stems.count(s) == 1 else f"{s}#{i + 1}" for i, s in enumerate(stems)]


@label.command("agreement")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the figures and disagreements to this JSON file.")
def agreement_command(files: tuple[Path, ...], json_out: Path | None) -> None:
    """Agreement of two or more raters' FILES (suite-format JSONL labelling the same ids).

    Prints Cohen's kappa per label and quadratic kappa on the 0-4 score for each pair of raters, each
    with a 95% bootstrap interval, then every disagreement for adjudication. A rater is named by its file.
    """
    from simulator.grading.agreement import all_pairs, disagreements

    if len(files) < 2:
        raise click.UsageError("give two or more rater files")
    raters = {name: _rater_file(path) for name, path in zip(_names(files), files, strict=True)}
    pairs = all_pairs(raters)
    if not any(p.items for p in pairs):
        raise click.ClickException(
            "the files share no ids: agreement needs the same turns labelled by each rater (match the `id`s)"
        )
    for p in pairs:
        click.echo(f"== {p.rater_a} vs {p.rater_b}: {p.items} items labelled by both")
        if not p.items:
            continue
        click.echo(f"{'label':34} {'kappa':>6}  95% CI          agree  {'a+':>4} {'b+':>4}")
        for r in p.rows:
            pos = f"{r['a_positives']:>4} {r['b_positives']:>4}" if r["a_positives"] is not None else ""
            ci = f"[{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
            click.echo(f"{r['label']:34} {r['kappa']:6.3f}  {ci:<14}  {r['agreement']:.2f}  {pos}")
    found = disagreements(raters)
    click.echo(f"\n== disagreements to adjudicate: {len(found)}")
    for d in found:
        values = ", ".join(f"{name}={value}" for name, value in d["values"].items())
        click.echo(f"{d['id']:<16} {d['label']:<34} {values}")
    if json_out is not None:
        data = {"pairs": [p.__dict__ for p in pairs], "disagreements": found}
        json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
