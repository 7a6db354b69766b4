"""`cooldown label`: human labelling of trainee turns with the RUBRIC labels.

The workflow (docs/labelling.md): each rater labels a turns file, `cooldown label FILE.jsonl --rater NAME`
(or the page's Label tab); `cooldown label export FILE --rater NAME --out ann.jsonl` writes one rater's
labels as a suite; `cooldown label agreement ann.jsonl bo.jsonl` compares raters (Cohen's kappa per
label, quadratic kappa on the score, the disagreements); `cooldown label adjudicate FILE --rater ADJ
--from ann --from bo` settles the disagreements; `cooldown label export FILE --from ann --from bo
--adjudicator ADJ --out gold.jsonl` writes the adjudicated suite for `cooldown evals run gold.jsonl`.
Labels are saved through `simulator.labelling.LabelStore` after every turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

if TYPE_CHECKING:
    from simulator.labelling import LabelItem, LabelStore


class LabelGroup(click.Group):
    """`cooldown label FILE --rater NAME` labels; `cooldown label COMMAND ...` runs a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["turns", *args]
        return super().parse_args(ctx, args)


@click.group(cls=LabelGroup)
def label() -> None:
    """Label trainee turns: `cooldown label FILE.jsonl --rater NAME`, then agreement, adjudicate, export.

    FILE holds one turn per line in the suite format (`id`, `trainee_turn`, and optionally `scenario`,
    `persona`, `context`, `meta`, `split`; a `gold` is never shown). Labels are saved after every turn
    beside FILE (`turns.jsonl` -> `turns.labels/NAME.jsonl`); run the command again to carry on where you left off.
    """


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


def _load(file: Path) -> tuple[list[LabelItem], LabelStore]:
    from simulator.labelling import LabelStore, load_items

    return load_items(file), LabelStore(file)


def _write_checked(out: Path, lines: list[dict[str, Any]], source: Path) -> int:
    """Check suite lines as `cooldown evals run` will load them, then write them to `out`; how many.

    Raises:
        SuiteError: A line would not load (e.g. a `meta` field the suite format refuses), named by the
            turns file's id; nothing is written.
    """
    from evals.cases import case_problems
    from evals.problems import raise_if_any
    from simulator.labelling.export import write_suite

    problems = []
    for line in lines:
        problems += case_problems(line, f"{source} (id {line['id']})", None)[1]
    raise_if_any(problems)
    write_suite(out, lines)
    return len(lines)


_FILE = click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
_RATER = click.option("--rater", required=True, envvar="COOLDOWN_RATER",
                      help="Your rater name (letters, digits, '_', '-', '.'); your labels are kept under it.")


@label.command("turns", hidden=True)
@_FILE
@_RATER
@click.option("--redo", "redo", multiple=True, metavar="ID", help="Label this turn again (a new version).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="At the end, write your labels as a suite file for `cooldown evals run`.")
def turns_command(file: Path, rater: str, redo: tuple[str, ...], out: Path | None) -> None:
    """Label the turns of FILE you have not labelled yet, saving after each one."""
    from simulator.cli.label_prompts import Quit, Skip, ask_label, show_item
    from simulator.labelling import LabelError, check_rater

    rater = check_rater(rater)
    items, store = _load(file)
    done = store.current(rater, items)
    unknown = [i for i in redo if i not in {item.id for item in items}]
    if unknown:
        raise click.BadParameter(f"no turn with id {', '.join(unknown)} in {file}", param_hint="--redo")
    todo = [item for item in items if item.id in redo or item.id not in done]
    click.echo(f"{file}: {len(items)} turns, {len(done)} labelled by {rater}, {len(todo)} to do. "
               f"Saved after each turn in {store.rater_path(rater)}.")
    for n, item in enumerate(todo, start=1):
        where = "again" if item.id in done else f"{len(done) + 1} of {len(items)}"
        show_item(item, f"[{where}] ({n} of {len(todo)} this time)")
        previous = done[item.id].verdict if item.id in done else None
        while True:
            try:
                draft = ask_label(item, previous)
            except Skip:
                click.echo(f"Skipped {item.id}.")
                break
            except Quit:
                click.echo(f"Stopped. {len(done)} of {len(items)} labelled; run the same command to carry on.")
                _maybe_export(items, store, rater, out)
                return
            try:
                record = store.save(rater, item, draft)
            except LabelError as exc:
                click.secho(f"Not saved: {exc}", fg="red", err=True)
                continue
            done[item.id] = record
            click.echo(f"Saved {item.id} (version {record.version}). {len(done)} of {len(items)} labelled.")
            break
    click.echo(f"Done: {len(done)} of {len(items)} turns labelled by {rater}.")
    _maybe_export(items, store, rater, out)


def _maybe_export(items: list[LabelItem], store: LabelStore, rater: str, out: Path | None) -> None:
    from simulator.labelling.export import rater_suite

    if out is None:
        return
    lines = rater_suite(items, store, rater)
    if not lines:
        click.echo(f"No labels by {rater} yet: {out} not written.")
        return
    n = _write_checked(out, lines, store.items_path)
    click.echo(f"Wrote {n} labelled turns to {out} (suite format: cooldown evals run {out} --split all).")


@label.command("export")
@_FILE
@click.option("--rater", help="Export this one rater's labels.")
@click.option("--from", "raters", multiple=True, metavar="RATER",
              help="Combine these raters' labels (repeat; with --adjudicator for their disagreements).")
@click.option("--adjudicator", help="Whose labels decide the turns the --from raters disagree on.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The suite file to write.")
def export_command(file: Path, rater: str | None, raters: tuple[str, ...], adjudicator: str | None, out: Path) -> None:
    """Write labels of FILE as a suite file for `cooldown evals run`.

    With --rater: that rater's labelled turns. With --from A --from B [--adjudicator C]: the turns every
    rater labelled alike, and C's label where they differ; refused while a disagreement is undecided.
    """
    from simulator.labelling import check_rater
    from simulator.labelling.export import adjudicate, check_complete, rater_suite

    if bool(rater) == bool(raters):
        raise click.UsageError("give either --rater NAME (one rater) or --from A --from B (adjudicated)")
    if adjudicator and not raters:
        raise click.UsageError("--adjudicator settles the disagreements of the --from raters; give --from A --from B")
    items, store = _load(file)
    if rater:
        lines = rater_suite(items, store, check_rater(rater))
    else:
        names = [check_rater(r) for r in raters]
        judge = check_rater(adjudicator) if adjudicator else None
        result = adjudicate(items, store, names, judge)
        check_complete(result, file, names, judge)
        lines = result.lines
        click.echo(f"{len(result.agreed)} turns agreed, {len(result.adjudicated)} adjudicated.")
    if not lines:
        raise click.ClickException(f"nothing to write to {out}: no turn has labels yet")
    n = _write_checked(out, lines, file)
    click.echo(f"Wrote {n} of {len(items)} turns to {out}. Run it: cooldown evals run {out} --split all")


@label.command("adjudicate")
@_FILE
@_RATER
@click.option("--from", "raters", multiple=True, required=True, metavar="RATER",
              help="The raters whose disagreements to settle (repeat: --from ann --from bo).")
def adjudicate_command(file: Path, rater: str, raters: tuple[str, ...]) -> None:
    """Settle the turns the --from raters disagree on: each rater's labels are shown, yours decide."""
    from simulator.cli.label_prompts import Quit, Skip, ask_label, show_item, verdict_line
    from simulator.labelling import LabelError, check_rater
    from simulator.labelling.export import adjudicate, item_disagreements

    judge = check_rater(rater)
    names = [check_rater(r) for r in raters]
    if len(names) < 2:
        raise click.UsageError("adjudication needs two or more raters: --from A --from B")
    items, store = _load(file)
    result = adjudicate(items, store, names, judge)
    by_id = {item.id: item for item in items}
    click.echo(f"{len(result.agreed)} turns agreed, {len(result.adjudicated)} already adjudicated, "
               f"{len(result.disputed)} to settle, {len(result.missing)} not labelled by every rater.")
    labels = {r: store.current(r, items) for r in names}
    for n, item_id in enumerate(result.disputed, start=1):
        item = by_id[item_id]
        show_item(item, f"dispute {n} of {len(result.disputed)}")
        records = {r: labels[r][item_id] for r in names}
        for r, record in records.items():
            click.echo(f"  {r:>12}: {verdict_line(record.verdict)}")
        for d in item_disagreements(item_id, records):
            click.echo(f"  differs on {d['label']}: " + ", ".join(f"{k}={v}" for k, v in d["values"].items()))
        while True:
            try:
                draft = ask_label(item)
            except Skip:
                break
            except Quit:
                click.echo("Stopped; run the same command to carry on.")
                return
            try:
                record = store.save(judge, item, draft)
            except LabelError as exc:
                click.secho(f"Not saved: {exc}", fg="red", err=True)
                continue
            click.echo(f"Saved {item_id} ({judge}, version {record.version}).")
            break
    left = adjudicate(items, store, names, judge)
    click.echo(f"{len(left.disputed)} disagreement(s) left. Export: cooldown label export {file} "
               + " ".join(f"--from {r}" for r in names) + f" --adjudicator {judge} --out gold.jsonl")


@label.command("history")
@_FILE
@_RATER
@click.option("--id", "item_id", help="Only this turn.")
def history_command(file: Path, rater: str, item_id: str | None) -> None:
    """Every saved version of a rater's labels (the latest of each turn is the one that counts)."""
    from simulator.cli.label_prompts import verdict_line
    from simulator.labelling import LabelStore, check_rater

    store = LabelStore(file)
    records = store.records(check_rater(rater))
    latest = store.latest(rater)
    for r in records:
        if item_id and r.item_id != item_id:
            continue
        mark = "*" if latest[r.item_id].version == r.version else " "
        click.echo(f"{mark} {r.item_id:<16} v{r.version:<3} {r.saved_at:%Y-%m-%d %H:%M:%S} {verdict_line(r.verdict)}")
    click.echo(f"{len(latest)} turns, {len(records)} saved versions (* latest).")
