"""How untrusted text enters the grader prompt: fenced, neutralised, and never as instructions.

The trainee's turn sits between per-request boundaries `⟦TRAINEE-<16 hex>⟧ … ⟦/TRAINEE-<same>⟧`
(spotlighting, RELIABILITY §1.3). The boundary id comes from `secrets`, so a trainee cannot guess it,
and every occurrence of the boundary prefix `⟦` is removed from *all* interpolated data (turn, earlier
turns, scenario, persona), so the rendered prompt holds exactly one boundary pair whatever the text.
The other data blocks are JSON-encoded strings: their newlines are escaped, so text inside them cannot
start a line that looks like a heading or a role label.

The rubric lives in the system message (`prompts/grader_system.md`); the data and the closing
instruction live in the user message (`prompts/grader_turn.md`), context first and instruction last.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.call.transcript import Utterance
from simulator.llm.base import Message
from simulator.prompts import render

BOUNDARY_PREFIX = "⟦"
BOUNDARY_SUFFIX = "⟧"
SPEAKER_NAMES = {"agent": "trainee (agent)", "customer": "caller (customer)"}


def neutralise(text: str) -> str:
    """Remove every boundary prefix from untrusted text, so it can never open or close a fence."""
    return text.replace(BOUNDARY_PREFIX, "")


@dataclass(frozen=True)
class Fence:
    """One request's boundary pair. Make a new one for every request with `Fence.new()`."""

    boundary_id: str

    @classmethod
    def new(cls) -> Fence:
        """A fence with a fresh unguessable id (16 hex characters)."""
        return cls(secrets.token_hex(8))

    @property
    def open(self) -> str:
        """The opening boundary, e.g. `⟦TRAINEE-0123456789abcdef⟧`."""
        return f"{BOUNDARY_PREFIX}TRAINEE-{self.boundary_id}{BOUNDARY_SUFFIX}"

    @property
    def close(self) -> str:
        """The closing boundary, e.g. `⟦/TRAINEE-0123456789abcdef⟧`."""
        return f"{BOUNDARY_PREFIX}/TRAINEE-{self.boundary_id}{BOUNDARY_SUFFIX}"

    def wrap(self, text: str) -> str:
        """The neutralised text between the boundaries, each on its own line."""
        return f"{self.open}\n{neutralise(text)}\n{self.close}"


def context_block(context: Sequence[Utterance], *, max_turns: int = 12, max_chars: int = 8000) -> str:
    """Earlier turns as a JSON list (oldest first), keeping the most recent that fit the limits.

    Args:
        context: earlier utterances of the call, oldest first (already sanitised by the caller).
        max_turns: keep at most this many of the latest utterances.
        max_chars: keep at most this many characters of utterance text; older turns are dropped first,
            and a single over-long utterance keeps only its last `max_chars` characters.

    Returns:
        A JSON array of `{"speaker", "text"}` objects; `[]` when there is no context.
    """
    kept: list[dict[str, str]] = []
    used = 0
    for utterance in reversed(list(context)[-max_turns:] if max_turns > 0 else []):
        text = neutralise(utterance.text)
        if used + len(text) > max_chars:
            if not kept:
                kept.append({"speaker": SPEAKER_NAMES[utterance.role], "text": "…" + text[-max_chars:]})
            break
        kept.append({"speaker": SPEAKER_NAMES[utterance.role], "text": text})
        used += len(text)
    kept.reverse()
    return json.dumps(kept, ensure_ascii=False, indent=1)


def data_string(text: str | None, missing: str) -> str:
    """A neutralised JSON string for a free-text data block, or `missing` when there is none."""
    if text is None or not text.strip():
        return missing
    return json.dumps(neutralise(text), ensure_ascii=False)


def build_grader_messages(
    turn: str,
    fence: Fence,
    *,
    context: Sequence[Utterance] = (),
    scenario: str | None = None,
    persona: str | None = None,
    max_context_turns: int = 12,
    max_context_chars: int = 8000,
) -> list[Message]:
    """The system (rubric) and user (data + instruction) messages for grading one turn.

    Args:
        turn: the trainee's turn as it should be graded (sanitised by the caller).
        fence: this request's boundary pair.
        context: earlier utterances, oldest first.
        scenario: the scenario's facts, if known.
        persona: a persona name or summary, if known.
        max_context_turns: how many earlier utterances to show at most.
        max_context_chars: how many characters of earlier utterances to show at most.

    Returns:
        `[system, user]` messages; the user message holds exactly one boundary pair.
    """
    system = render("grader_system")
    user = render(
        "grader_turn",
        scenario=data_string(scenario, "(no scenario facts given)"),
        persona=data_string(persona, "(no persona given)"),
        context=context_block(context, max_turns=max_context_turns, max_chars=max_context_chars),
        fenced_turn=fence.wrap(turn),
        boundary_id=fence.boundary_id,
    )
    return [Message(role="system", content=system), Message(role="user", content=user)]


def repair_message(fence: Fence, problems: Sequence[str]) -> Message:
    """The one re-ask after an invalid answer: what was wrong, and to answer again in the schema."""
    listed = "\n".join(f"- {neutralise(p)[:600]}" for p in problems[:12])
    return Message(
        role="user",
        content=render("grader_repair", problems=listed, boundary_id=fence.boundary_id),
    )
