"""Session exports: a Markdown transcript with moods and grades, and round-trippable JSON.

The Markdown is read by people: rules and labels show in words ("fact confrontation"); the JSON keeps the ids.

`write_export_file` writes either atomically (temp file, fsync, rename, fsync the directory), so a crash
never leaves a half-written export behind. `render(record, fmt, redact=True)` (and `redact_record`) first
replace personal data in every free-text field with `[KIND]` placeholders (`simulator.redact`), for exports
that leave the team or feed offline datasets.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from simulator.grading.labels import TurnGrade
from simulator.storage.records import SessionRecord, TurnRecord
from simulator.storage.text import persona_content_hash
from simulator.vocabulary import readable_reason as words

ExportFormat = Literal["md", "json"]


def to_json(record: SessionRecord) -> str:
    """The session as JSON; `SessionRecord.model_validate_json` reads it back unchanged."""
    return record.model_dump_json(indent=2) + "\n"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def _grade_lines(grade: TurnGrade) -> list[str]:
    head = f"- **Grade** ({grade.grader} {grade.grader_version}".rstrip() + ")"
    if grade.status == "ungraded" or grade.verdict is None:
        return [f"{head}: ungraded — {grade.reason or 'no reason given'}"]
    v = grade.verdict
    lines = [f"{head}: perspective-taking {v.perspective_taking}/4"]
    if v.behaviours:
        lines.append("  - behaviours: " + ", ".join(words(b.value) for b in v.behaviours))
    for t in v.techniques:
        lines.append(f"  - {words(t.technique.value)} ({t.use}): “{t.evidence}”")
    if v.manipulation_tactics:
        lines.append("  - manipulation tactics: " + ", ".join(words(t.value) for t in v.manipulation_tactics))
    if v.manipulative:
        lines.append("  - **manipulative**")
    if grade.integrity_flags:
        lines.append("  - integrity flags: " + ", ".join(grade.integrity_flags))
    if grade.tip:
        lines.append(f"  - tip: {grade.tip}")
    if grade.better_phrasing:
        lines.append(f"  - better phrasing: {grade.better_phrasing}")
    return lines


def _turn_lines(turn: TurnRecord) -> list[str]:
    who = "Trainee" if turn.role == "agent" else "Caller"
    status = "" if turn.status == "final" else f" _({turn.status})_"
    lines = [f"### {turn.index + 1}. {who}{status}", "", _quote(turn.text), ""]
    extra: list[str] = []
    if turn.mood is not None:
        m = turn.mood
        extra.append(f"- **Mood**: {m.label} (anger {m.anger:g}, trust {m.trust:g}, entrenchment {m.entrenchment:g})")
        if m.fired_rules:
            rules = (words(r) if isinstance(r, str) else json.dumps(r) for r in m.fired_rules)
            extra.append("  - rules: " + ", ".join(rules))
    for grade in turn.grades:
        extra.extend(_grade_lines(grade))
    return lines + ([*extra, ""] if extra else [])


def to_markdown(record: SessionRecord) -> str:
    """The session as a readable Markdown transcript with moods, grades and guard events."""
    ended = record.ended_at.isoformat() if record.ended_at else "not ended"
    lines = [
        f"# Cooldown session {record.id}",
        "",
        f"- Trainee: {record.trainee}",
        f"- Persona: {record.persona_name} ({record.persona_hash}), difficulty {record.difficulty}",
        f"- Mode: {record.mode}; caller model: {record.caller_model}; grader: {record.grader}",
        f"- Started: {record.created_at.isoformat()}; ended: {ended}",
        f"- Outcome: {words(record.outcome) if record.outcome else '—'}"
        + (f" ({words(record.outcome_reason)})" if record.outcome_reason else ""),
        "",
        "## Transcript",
        "",
    ]
    for turn in record.turns:
        lines.extend(_turn_lines(turn))
    if record.guard_events:
        lines += ["## Guard events", "", "_For trainers: what the in-character guard caught in the caller's replies, "
                  "and what the call did about it._", ""]
        by_id = {t.id: t.index + 1 for t in record.turns}
        for e in record.guard_events:
            where = f" (turn {by_id[e.turn_id]})" if e.turn_id in by_id else ""
            lines.append(f"- {e.created_at.isoformat()} **{words(e.kind)}**{where}: {e.detail}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_NOT_FREE_TEXT = frozenset(
    """id session_id turn_id role status text_canon format persona_hash mode difficulty caller_model grader
    grader_version prompt_version schema_version kind label fired_rules integrity_flags technique use
    behaviours manipulation_tactics outcome""".split()
)
"""Keys whose values are identifiers, enums or labels the app wrote, not free text a person typed."""
REDACTED_TRAINEE = "[TRAINEE]"


def _free_text(value: Any, key: str, found: list[str]) -> None:
    if key in _NOT_FREE_TEXT:
        return
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _free_text(v, k, found)
    elif isinstance(value, list):
        for v in value:
            _free_text(v, key, found)


def _replace(value: Any, key: str, new: Iterator[str]) -> Any:
    if key in _NOT_FREE_TEXT:
        return value
    if isinstance(value, str):
        return next(new)
    if isinstance(value, dict):
        return {k: _replace(v, k, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, key, new) for v in value]
    return value


def redact_record(record: SessionRecord) -> SessionRecord:
    """The session with personal data redacted from every free-text field (`simulator.redact`).

    Turn texts, grade evidence, tips, reasons, guard-event details, the persona snapshot and the outcome
    reason are redacted together, so a name introduced in one turn is redacted in all of them. The trainee
    name becomes `[TRAINEE]` (its words are redacted elsewhere too), and `persona_hash` is recomputed for the
    redacted persona text, so a redacted JSON export still imports as a session of its own.
    """
    from simulator.redact import find_names, redact_pii

    data = record.model_dump(mode="python")
    trainee = data.pop("trainee")
    texts: list[str] = []
    _free_text(data, "", texts)
    known = set(trainee.split()) | {name for text in texts for name in find_names(text)}
    redacted = iter([redact_pii(text, known)[0] for text in texts])
    out = _replace(data, "", redacted)
    out["trainee"] = REDACTED_TRAINEE
    out["persona_hash"] = persona_content_hash(out["persona_text"])
    return SessionRecord.model_validate(out)


def render(record: SessionRecord, fmt: ExportFormat, *, redact: bool = False) -> str:
    """Render an export in `fmt` ('md' or 'json'); `redact=True` redacts personal data first."""
    if redact:
        record = redact_record(record)
    if fmt == "md":
        return to_markdown(record)
    if fmt == "json":
        return to_json(record)
    raise ValueError(f"unknown export format {fmt!r}: use 'md' or 'json'")


def write_export_file(path: Path, content: str) -> None:
    """Write `content` to `path` atomically and durably (temp file + fsync + rename + directory fsync)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
