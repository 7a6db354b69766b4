"""A stored call as the Debrief and History tabs show it, and the files the trainee can download.

`review(store, session_id, trainee=...)` refuses a session that belongs to another trainee, so a
tampered request can never open someone else's call.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from simulator.call.mood import initial_state, mood_label
from simulator.errors import CooldownError, InputRejected
from simulator.grading.debrief import CallerPlanNote, CallRecord, Debrief, MoodPoint, build_debrief, plan_notes
from simulator.persona.loader import load_persona_text
from simulator.persona.schema import DifficultyName
from simulator.storage import SessionRecord, SessionSummary, Store, write_export_file
from simulator.ui.panels import OUTCOME_TEXT, feedback_card, outcome_banner
from simulator.ui.plots import mood_figure, score_figure
from simulator.ui.text import esc, safe_markdown

HISTORY_HEADERS = ["started", "caller", "difficulty", "mode", "messages", "outcome", "id"]


@dataclass
class Review:
    """Everything the debrief view shows for one call."""

    record: SessionRecord
    debrief: Debrief
    markdown: str
    """The debrief as Markdown, untrusted text disarmed (`safe_markdown`)."""
    transcript_html: str
    mood_plot: Figure
    score_plot: Figure
    outcome_html: str


def initial_mood(record: SessionRecord) -> MoodPoint | None:
    """The caller's mood before the first turn, from the session's persona snapshot (None if unreadable)."""
    try:
        persona = load_persona_text(record.persona_text, f"{record.persona_name}.yaml")
    except CooldownError:
        return None
    difficulty: DifficultyName = record.difficulty
    state = initial_state(persona, difficulty)
    return MoodPoint(anger=state.anger, trust=state.trust, entrenchment=state.entrenchment, label=mood_label(state))


def annotated_transcript(record: SessionRecord) -> str:
    """The call as HTML: caller lines, and each trainee turn as its feedback card with the mood after it."""
    parts = ['<div class="cd-transcript" data-transcript>']
    number = 0
    notes = plan_notes(record)
    for turn in record.turns:
        status = "" if turn.status == "final" else f" <i>({esc(turn.status)})</i>"
        if turn.role == "customer":
            note = notes.get(turn.id)
            plan = "" if note is None else plan_line(note)
            parts.append(
                f'<div class="utt customer"><div class="who">Caller{status}</div>{esc(turn.text)}{plan}</div>'
            )
            continue
        number += 1
        mood = ""
        if turn.mood is not None:
            m = turn.mood
            mood = (
                f'<div class="ann">Mood after: {esc(m.label)} — anger {m.anger:g}, trust {m.trust:g}, '
                f"entrenchment {m.entrenchment:g}</div>"
            )
        parts.append(f'<div class="utt agent"><div class="who">You{status}</div>'
                     f"{feedback_card(number, turn.text, turn.grades)}{mood}</div>")  # fmt: skip
    parts.append("</div>")
    return "".join(parts)


def plan_line(note: CallerPlanNote) -> str:
    """One line under a caller reply: what it was meant to do, what it carried, and who voiced it."""
    carried = f" · {esc(note.carried)}" if note.carried else ""
    model = note.voiced_by == "the model"
    voiced = f'<span class="{"by-model" if model else "by-line"}">{esc(note.voiced_by)}</span>'
    title = f' title="{esc(note.why)}"' if note.why else ""
    meant = f"Meant to: <b>{esc(note.act)}</b>{carried} · voiced by {voiced}"
    return f'<div class="ann plan" data-plan{title}>{meant}</div>'


def review(store: Store, session_id: str, *, trainee: str | None = None) -> Review:
    """Load a stored call and build its debrief view.

    Args:
        store: Where calls are kept.
        session_id: The call's id.
        trainee: When given, the call must belong to this trainee.

    Raises:
        InputRejected: The call does not exist or belongs to someone else (the same message for both).
    """
    try:
        record = store.load_session(session_id)
    except CooldownError as exc:
        raise InputRejected("That call could not be found. Refresh the list and pick it again.") from exc
    if trainee is not None and record.trainee != trainee:
        raise InputRejected("That call could not be found. Refresh the list and pick it again.")
    debrief = build_debrief(CallRecord.from_session(record, initial_mood=initial_mood(record)))
    header = (
        f"*Caller model: {record.caller_model} · graded by {record.grader} · difficulty {record.difficulty} "
        f"· {record.mode} mode*\n\n"
    )
    return Review(
        record=record,
        debrief=debrief,
        markdown=safe_markdown(header + debrief.to_markdown()),
        transcript_html=annotated_transcript(record),
        mood_plot=mood_figure(debrief),
        score_plot=score_figure(debrief),
        outcome_html=outcome_banner(record.outcome, record.outcome_reason, hint=False),
    )


def new_download_dir(root: Path) -> Path:
    """A fresh, unguessable folder for one browser session's downloads under Gradio's temp dir."""
    path = Path(root) / "cooldown-exports" / secrets.token_hex(16)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_downloads(store: Store, item: Review, directory: Path) -> tuple[Path, Path]:
    """The call as Markdown (transcript + debrief) and JSON (round-trippable) files in `directory`."""
    stem = f"cooldown-{item.record.persona_name}-{item.record.id[:8]}"
    md_path, json_path = directory / f"{stem}.md", directory / f"{stem}.json"
    transcript = store.export_session(item.record.id, "md")
    write_export_file(md_path, transcript.rstrip("\n") + "\n\n" + item.debrief.to_markdown())
    write_export_file(json_path, store.export_session(item.record.id, "json"))
    return md_path, json_path


def history_rows(sessions: list[SessionSummary], names: Mapping[str, str] | None = None) -> list[list[str]]:
    """Rows for the History table, newest first; the caller by name (`names`: persona id -> name)."""
    names = names or {}
    rows = []
    for s in sessions:
        outcome = s.outcome or ("in progress" if s.ended_at is None else "ended")
        rows.append([
            s.created_at.strftime("%Y-%m-%d %H:%M"), names.get(s.persona_name, s.persona_name), s.difficulty, s.mode,
            str(s.turn_count), OUTCOME_TEXT.get(outcome, outcome).split(":")[0], s.id[:8],
        ])  # fmt: skip
    return rows


def history_choices(sessions: list[SessionSummary], names: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(label, session id) pairs for the History picker: "2026-12-03 06:12 · Brian Keller · hung up · 536d2a31".

    The label tells calls apart (when, with whom, how it ended, and the short id the table shows); the full id
    stays the value. A caller no longer in the library shows by its persona id.
    """
    names = names or {}
    return [
        (f"{s.created_at:%Y-%m-%d %H:%M} · {names.get(s.persona_name, s.persona_name)} · "
         f"{(s.outcome or ('in progress' if s.ended_at is None else 'ended')).replace('_', ' ')} · {s.id[:8]}", s.id)
        for s in sessions
    ]  # fmt: skip
