"""Session exports: a Markdown transcript with moods and grades, and round-trippable JSON.

`write_export_file` writes either atomically (temp file, fsync, rename, fsync the directory), so a crash
never leaves a half-written export behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from simulator.labels import TurnGrade
from simulator.storage.records import SessionRecord, TurnRecord

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
        lines.append("  - behaviours: " + ", ".join(b.value for b in v.behaviours))
    for t in v.techniques:
        lines.append(f"  - {t.technique.value} ({t.use}): “{t.evidence}”")
    if v.manipulation_tactics:
        lines.append("  - manipulation tactics: " + ", ".join(t.value for t in v.manipulation_tactics))
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
            extra.append("  - rules: " + ", ".join(r if isinstance(r, str) else json.dumps(r) for r in m.fired_rules))
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
        f"- Outcome: {record.outcome or '—'}" + (f" ({record.outcome_reason})" if record.outcome_reason else ""),
        "",
        "## Transcript",
        "",
    ]
    for turn in record.turns:
        lines.extend(_turn_lines(turn))
    if record.guard_events:
        lines += ["## Guard events", ""]
        by_id = {t.id: t.index + 1 for t in record.turns}
        for e in record.guard_events:
            where = f" (turn {by_id[e.turn_id]})" if e.turn_id in by_id else ""
            lines.append(f"- {e.created_at.isoformat()} **{e.kind}**{where}: {e.detail}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render(record: SessionRecord, fmt: ExportFormat) -> str:
    """Render an export in `fmt` ('md' or 'json')."""
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
