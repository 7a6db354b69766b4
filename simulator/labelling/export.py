"""Labels out as a suite file for `cooldown evals run`: one rater's, or the adjudicated labels of several.

Adjudication: a turn's gold is the adjudicator's label when there is one, else the label the raters
gave when they all labelled it and agree on every label (`simulator.grading.agreement.label_values`:
score, behaviours, techniques and their use, tactics). A turn the raters disagree on, or that some
rater has not labelled, waits for the adjudicator (`cooldown label adjudicate`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.grading.agreement import disagreements, label_values
from simulator.grading.labels import TurnVerdict
from simulator.labelling.items import LabelItem
from simulator.labelling.records import LabelError, LabelRecord
from simulator.labelling.store import LabelStore


def suite_line(item: LabelItem, verdict: TurnVerdict, labelled_by: Sequence[str]) -> dict[str, Any]:
    """One case of the suite format (`evals.cases.EvalCase`) with `verdict` as its gold."""
    line: dict[str, Any] = {"id": item.id}
    if item.scenario is not None:
        line["scenario"] = item.scenario
    if item.persona is not None:
        line["persona"] = item.persona
    line["context"] = [u.model_dump(mode="json") for u in item.context]
    line["trainee_turn"] = item.trainee_turn
    line["gold"] = verdict.model_dump(mode="json")
    line["meta"] = {**item.meta, "labelled_by": list(labelled_by)}
    if item.split is not None:
        line["split"] = item.split
    return line


def rater_suite(items: Sequence[LabelItem], store: LabelStore, rater: str) -> list[dict[str, Any]]:
    """The turns `rater` labelled (latest version, on the current text), as suite lines in file order."""
    labels = store.current(rater, items)
    return [suite_line(item, labels[item.id].verdict, [rater]) for item in items if item.id in labels]


@dataclass
class Adjudication:
    """Where each turn stands across raters: agreed, adjudicated, waiting, or unlabelled."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    agreed: list[str] = field(default_factory=list)
    adjudicated: list[str] = field(default_factory=list)
    disputed: list[str] = field(default_factory=list)
    """Labelled by every rater, who disagree: the adjudicator decides."""
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Item id -> the raters who have not labelled it yet."""


def adjudicate(
    items: Sequence[LabelItem], store: LabelStore, raters: Sequence[str], adjudicator: str | None = None
) -> Adjudication:
    """Combine `raters`' labels, with `adjudicator`'s labels deciding where they are given."""
    current = {r: store.current(r, items) for r in raters}
    final = store.current(adjudicator, items) if adjudicator else {}
    out = Adjudication()
    for item in items:
        if item.id in final:
            out.lines.append(suite_line(item, final[item.id].verdict, [*raters, str(adjudicator)]))
            out.adjudicated.append(item.id)
            continue
        missing = [r for r in raters if item.id not in current[r]]
        if missing:
            out.missing[item.id] = missing
            continue
        verdicts = [current[r][item.id].verdict for r in raters]
        if all(label_values(_json(v)) == label_values(_json(verdicts[0])) for v in verdicts):
            out.lines.append(suite_line(item, verdicts[0], list(raters)))
            out.agreed.append(item.id)
        else:
            out.disputed.append(item.id)
    return out


def _json(verdict: TurnVerdict) -> dict[str, Any]:
    return verdict.model_dump(mode="json")


def item_disagreements(item_id: str, labels: dict[str, LabelRecord]) -> list[dict[str, Any]]:
    """The labels the raters in `labels` (rater -> their record of this item) disagree on."""
    return disagreements({rater: {item_id: _json(r.verdict)} for rater, r in labels.items()})


def check_complete(result: Adjudication, items_path: Path, raters: Sequence[str], adjudicator: str | None) -> None:
    """Raise `LabelError` naming what is left when some turn has no gold yet."""
    problems = []
    if result.disputed:
        who = f"--rater {adjudicator}" if adjudicator else "--rater ADJUDICATOR"
        sources = " ".join(f"--from {r}" for r in raters)
        problems.append(
            f"{len(result.disputed)} turn(s) the raters disagree on: {', '.join(result.disputed[:10])}"
            + (" …" if len(result.disputed) > 10 else "")
            + f"; decide them with `cooldown label adjudicate {items_path} {who} {sources}`"
        )
    if result.missing:
        ids = list(result.missing)
        problems.append(
            f"{len(ids)} turn(s) not labelled by every rater: "
            + ", ".join(f"{i} ({', '.join(result.missing[i])})" for i in ids[:10]) + (" …" if len(ids) > 10 else "")
            + "; label them, or have the adjudicator label them"
        )
    if problems:
        raise LabelError(problems)


def write_suite(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    """Write suite lines to `path` atomically (a temporary file, fsync, rename): never a half file."""
    if not lines:
        raise LabelError([f"nothing to write to {path}: no turn has labels yet"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
