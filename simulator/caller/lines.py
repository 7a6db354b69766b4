"""The persona's own lines: short lines per act and mood, filled from its facts, chosen to fit the turn.

A persona's `lines` block (`simulator.persona.schema.ActLines`) holds, for every dialogue act, lines for
any mood and for particular moods. Lines may hold slots:

- `{fact}`: the planned fact's `say` (in `answer` lines);
- `{unknown}`: the `does_not_know` topic asked about, or "that" when the question matched none (in
  `dont_know` lines);
- `{refusal}`: the refused offer's `say`, else its description (in `reject_offer` lines);
- `{<fact id>}`: that fact's `say`, in any act's lines; the line is only used once the fact is revealed.

`stand_in` picks the line shown when the model's reply fails its plan (and every line of the scripted
caller): candidates for the plan's act in the caller's mood (then the nearest moods), never a line the
caller already said in this call, each checked against the plan, ranked by a deterministic fit to the
agent's last turn (shared content words; a seed breaks ties). A slot that names no fact never crashes a
call: the line is skipped (lint reports it with its file and line).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.caller.coherence import Holdings, canonical_line, check_reply
from simulator.caller.plan import PlanCheckFailure, ReplyPlan, fact_available
from simulator.caller.words import stems
from simulator.persona.schema import ACT_SLOTS, MOODS, Act, MoodName, Persona

SLOT = re.compile(r"\{([^{}]*)\}")
"""A `{slot}` in a persona line."""


def slots_in(line: str) -> list[str]:
    """The slot names a line uses, in order."""
    return SLOT.findall(line)


def unknown_slots(persona: Persona, act: Act, line: str) -> list[str]:
    """Slots in `line` that an `act` line of this persona cannot fill (lint reports them)."""
    ids = {f.id for f in persona.scenario.knows if f.id}
    allowed = ACT_SLOTS.get(act, frozenset())
    return [name for name in slots_in(line) if name not in ids and name not in allowed]


def fill(
    persona: Persona, line: str, plan: ReplyPlan, *, agent_said: str = "", reveal_all: bool = False
) -> str | None:
    """`line` with its slots filled for `plan`; None when a slot cannot be filled now.

    A `{<fact id>}` slot is filled only once that fact is revealed (`agent_said`: the agent's words so
    far, for facts revealed by being asked about), or always with `reveal_all` (lint).
    """
    facts = {f.id: f for f in persona.scenario.knows if f.id}
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name == "fact" and plan.fact_say:
            return plan.fact_say.strip()
        if name == "unknown" and plan.unknown is not None:
            return plan.unknown or "that"
        if name == "refusal" and plan.refusal_say:
            return plan.refusal_say.strip()
        fact = facts.get(name)
        if fact is not None and name not in ACT_SLOTS.get(plan.act, frozenset()):
            if reveal_all or fact_available(fact, plan.turn, agent_said):
                return (fact.say or fact.text).strip()
        missing = True
        return ""

    text = SLOT.sub(value, line)
    if missing:
        return None
    return _tidy(text)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"([.!?])\.", r"\1", text)
    text = re.sub(r"\s+([,.!?])", r"\1", text)
    return text[:1].upper() + text[1:] if text else text


def _moods_near(mood: MoodName) -> list[MoodName]:
    here = MOODS.index(mood)
    return sorted(MOODS, key=lambda m: (abs(MOODS.index(m) - here), MOODS.index(m)))


@dataclass(frozen=True)
class StandIn:
    """The authored line chosen for a plan, and what (if anything) it still misses."""

    text: str
    failures: list[PlanCheckFailure]
    candidates: int
    """How many unused lines were considered."""


def candidates(persona: Persona, plan: ReplyPlan, earlier: Sequence[str], agent_said: str) -> list[str]:
    """The persona's unused lines for the plan's act: its mood first (own and `any` lines), then the
    other moods' own lines, nearest first. Empty when the persona has no lines for the act."""
    bank = persona.lines.bank(plan.act) if persona.lines is not None else None
    if bank is None:
        return []
    said = {canonical_line(line) for line in earlier}
    out: list[str] = []
    seen: set[str] = set()
    groups = [bank.for_mood(plan.mood)] + [list(getattr(bank, m)) for m in _moods_near(plan.mood)[1:]]
    for group in groups:
        for line in group:
            text = fill(persona, line, plan, agent_said=agent_said)
            if text is None:
                continue
            key = canonical_line(text)
            if key in said or key in seen:
                continue
            seen.add(key)
            out.append(text)
        if out:
            return out
    return out


def fit(line: str, agent_text: str, seed: int) -> tuple[float, int]:
    """A deterministic fit of a line to the agent's last turn: shared content words, then a seeded tie-break."""
    shared = len(stems(line) & stems(agent_text))
    return (float(shared), zlib.crc32(f"{seed}:{line}".encode()))


def stand_in(
    persona: Persona,
    plan: ReplyPlan,
    holdings: Holdings,
    *,
    earlier: Sequence[str],
    agent_turns: Sequence[str],
    seed: int = 0,
) -> StandIn | None:
    """The best-fitting unused authored line for `plan`, or None when the persona has none left.

    Args:
        persona: The persona on the line.
        plan: The reply's plan.
        holdings: The persona's `simulator.caller.coherence.holdings_of`.
        earlier: The caller's lines so far in this call (never repeated).
        agent_turns: The agent's turns so far, oldest first (the last one is what the line answers).
        seed: Breaks ties between equally fitting lines (the scripted caller's seed, the turn).
    """
    agent_said = " ".join(agent_turns)
    pool = candidates(persona, plan, earlier, agent_said)
    if not pool:
        return None
    last = agent_turns[-1] if agent_turns else ""
    checked = [(text, check_reply(plan, text, holdings, earlier=earlier, agent_said=agent_turns)) for text in pool]
    ranked = sorted(checked, key=lambda item: (not item[1], *fit(item[0], last, seed)), reverse=True)
    text, failures = ranked[0]
    return StandIn(text=text, failures=failures, candidates=len(pool))
