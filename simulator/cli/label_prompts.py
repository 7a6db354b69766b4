"""The terminal labelling dialogue of `cooldown label`: one turn shown, its labels asked for, checked.

Every answer is checked as it is typed (an unknown name, a score outside 0-4, evidence that is not in the
turn are asked again with the reason), so a rater never loses an item to a typo. Scriptable: the
answers are read from standard input, one per line (tests drive it with click's `CliRunner(input=...)`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

import click

from simulator.grading.labels import SCORE_MEANINGS, Behaviour, Tactic, Technique, TurnVerdict
from simulator.labelling import LabelDraft, LabelItem, TechniqueMark
from simulator.labelling.records import USES, verbatim

POLARITY = {**{b: "+" for b in ("open_question", "reflection", "validation", "perspective_taking", "needs_check")},
            **{b: "-" for b in ("fact_confrontation", "dismissal", "blame")}}


class Skip(Exception):
    """The rater skipped this turn (`s`)."""


class Quit(Exception):
    """The rater stopped (`q`); everything saved so far is kept."""


def show_item(item: LabelItem, position: str) -> None:
    """The turn with its scenario, persona and the call so far."""
    click.echo("")
    click.secho(f"── {position} · {item.id} ──", bold=True)
    if item.scenario:
        click.echo(f"Scenario: {item.scenario}")
    if item.persona:
        click.echo(f"Persona:  {item.persona}")
    for u in item.context:
        who = "customer" if u.role == "customer" else "agent"
        click.echo(f"  {who:>8}: {u.text}")
    click.secho("Trainee turn:", bold=True)
    for line in item.trainee_turn.splitlines() or [""]:
        click.echo(f"  │ {line}")


def verdict_line(verdict: TurnVerdict) -> str:
    """A verdict on one line: score, behaviours, techniques with their use, tactics."""
    parts = [f"score {verdict.perspective_taking}"]
    parts.append("behaviours: " + (", ".join(b.value for b in verdict.behaviours) or "none"))
    if verdict.techniques:
        uses = (f"{t.technique.value}={t.use} ({t.evidence!r})" for t in verdict.techniques)
        parts.append("techniques: " + ", ".join(uses))
    if verdict.manipulation_tactics:
        parts.append("tactics: " + ", ".join(t.value for t in verdict.manipulation_tactics))
    return "; ".join(parts)


def _menu(names: Sequence[str], marks: dict[str, str] | None = None) -> str:
    marks = marks or {}
    return "  ".join(f"{i}) {n}{marks.get(n, '')}" for i, n in enumerate(names, start=1))


def _pick_names(kind: str, names: list[str], *, controls: bool = False) -> Callable[[str], list[str]]:
    """A value_proc turning '1,3' or 'reflection, apology' into names; re-asks with the valid ones."""

    def proc(text: str) -> list[str]:
        raw = text.strip()
        if controls and raw.lower() in ("q", "quit"):
            raise Quit
        if controls and raw.lower() in ("s", "skip"):
            raise Skip
        out: list[str] = []
        for token in [t.strip() for t in raw.replace(";", ",").split(",") if t.strip()]:
            if token.isdigit() and 1 <= int(token) <= len(names):
                name = names[int(token) - 1]
            elif token in names:
                name = token
            else:
                raise click.BadParameter(
                    f"unknown {kind} {token!r}; give numbers 1-{len(names)} or names from: {', '.join(names)}"
                )
            if name not in out:
                out.append(name)
        return out

    return proc


def _score(text: str) -> int:
    raw = text.strip()
    if not raw.lstrip("-").isdigit():
        raise click.BadParameter(f"{raw!r} is not a score; type a whole number from 0 to 4")
    value = int(raw)
    if not 0 <= value <= 4:
        raise click.BadParameter(f"score {value} is out of range; the score is 0 to 4")
    return value


def _use(text: str) -> str:
    raw = text.strip().lower()
    for use in USES:
        if raw and use.startswith(raw):
            return use
    raise click.BadParameter("type ethical (e) or manipulative (m)")


def ask_label(item: LabelItem, previous: TurnVerdict | None = None) -> LabelDraft:
    """Ask for the labels of one turn; `previous` (an earlier version) gives the defaults.

    Raises:
        Skip: The rater typed `s` at the first question.
        Quit: The rater typed `q` at the first question.
    """
    behaviours = [b.value for b in Behaviour]
    techniques = [t.value for t in Technique]
    tactics = [t.value for t in Tactic]

    def default(values: Sequence[StrEnum] | None) -> str:
        return ", ".join(v.value for v in values) if values else ""

    click.echo("Behaviours: " + _menu(behaviours, {k: f"({v})" for k, v in POLARITY.items()}))
    chosen = click.prompt(
        "Behaviours (numbers or names, comma-separated; blank: none; s: skip turn; q: quit)",
        default=default(previous.behaviours if previous else None), show_default=bool(previous),
        value_proc=_pick_names("behaviour", behaviours, controls=True),
    )  # fmt: skip
    for score, meaning in SCORE_MEANINGS.items():
        click.echo(f"  {score}: {meaning}")
    score = click.prompt(
        "Score 0-4", default=str(previous.perspective_taking) if previous else None, value_proc=_score
    )
    click.echo("Techniques: " + _menu(techniques))
    used = click.prompt(
        "Techniques (numbers or names; blank: none)", default=default([t.technique for t in previous.techniques])
        if previous else "", show_default=bool(previous and previous.techniques),
        value_proc=_pick_names("technique", techniques),
    )  # fmt: skip
    marks = []
    for name in used:
        before = next((t for t in previous.techniques if t.technique.value == name), None) if previous else None
        use = click.prompt(f"  {name}: use (ethical/manipulative)", default=before.use if before else None,
                           value_proc=_use)
        evidence = click.prompt(
            f"  {name}: evidence (exact words from the turn)", default=before.evidence if before else None,
            value_proc=_evidence(item.trainee_turn),
        )  # fmt: skip
        marks.append(TechniqueMark(technique=name, use=use, evidence=evidence))
    click.echo("Tactics: " + _menu(tactics))
    found = click.prompt(
        "Tactics (numbers or names; blank: none)", default=default(previous.manipulation_tactics if previous else None),
        show_default=bool(previous and previous.manipulation_tactics), value_proc=_pick_names("tactic", tactics),
    )  # fmt: skip
    return LabelDraft(behaviours=chosen, score=score, techniques=marks, tactics=found)


def _evidence(turn: str) -> Callable[[str], str]:
    def proc(text: str) -> str:
        quote = verbatim(turn, text)
        if not quote:
            raise click.BadParameter("type the words of the turn that show the technique")
        if quote not in turn:
            raise click.BadParameter(f"{quote!r} is not in the turn word for word; copy it exactly from the turn")
        return quote

    return proc
