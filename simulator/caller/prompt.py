"""The caller model's prompt, in three layers.

1. Shared roleplay rules, the same for every persona: `prompts/caller_guidelines.md`.
2. The persona: identity, voice, demands and needs, and the facts the caller may mention *now*
   (progressive disclosure: a fact appears once its `reveal_after_turn` has passed or the agent has
   said one of its `reveal_when_asked` phrases). Rendered by `persona_text`.
3. Runtime state: the current mood as behaviour instructions (anger 80 means short sentences,
   interrupting, repeating the grievance...), rendered by `state_text`; and, when the call is ending,
   a closing instruction.
4. The plan for the next line (`simulator.caller.plan.ReplyPlan`) as a stage direction
   (`stage_direction`, worded in `prompts/caller_acts.md`): "Answer the agent's question with this...".

Two forms: `render_caller_chat` (system message + the transcript flipped by
`simulator.call.transcript.for_caller_model`) and `render_caller_completion` (a transcript to be continued
after `CUSTOMER:`, for tiny local models that answer as the agent in chat form).

Hidden parts of the persona never appear here: the ground truth, the reaction rules and thresholds,
remedy keywords and designer notes. A random canary is planted so a guard can detect prompt leaks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from simulator.call.mood import MoodState, mood_label
from simulator.call.transcript import Utterance, for_caller_model
from simulator.llm.base import Message
from simulator.persona.schema import DifficultyName, MoodName, Persona
from simulator.prompts import load_template, placeholders, render, render_text
from simulator.vocabulary import Outcome

if TYPE_CHECKING:
    from simulator.caller.plan import ReplyPlan

MOOD_WORDS: dict[MoodName, str] = {
    "furious": "furious",
    "angry": "angry",
    "wary": "wary and guarded",
    "calming": "calming down, still cautious",
    "open": "open and willing to settle",
}

_ANGER = (
    (80, "Very short sentences. You interrupt, repeat your grievance and refuse pleasantries."),
    (60, "Curt and irritated. You keep coming back to your main complaint."),
    (40, "Tense but talking. You answer questions, briefly."),
    (20, "Calmer. You explain details when asked."),
    (0, "Calm and civil."),
)
_TRUST = (
    (55, "You are starting to believe this agent means it."),
    (25, "Cautious: you want specifics (what, when, who) before you believe a promise."),
    (0, "You don't believe promises; you expect to be fobbed off."),
)
_ENTRENCHMENT = (
    (70, "You are certain you are right. Being argued with makes you dig in and restate your version."),
    (40, "You hold to your version but would listen to someone who respects it."),
    (0, "You are open to hearing what happened and to other options."),
)
_CLOSING: dict[Outcome, str] = {
    "resolved": "You accept what was agreed. Thank them briefly, say what you now expect, and say goodbye.",
    "hung_up": "You have had enough. Say so, and hang up.",
    "escalated": "You refuse to go on with this agent and demand a supervisor or manager.",
    "out_of_turns": "You have to go now, and the problem is still not solved. Say so and end the call.",
}


def _band(value: int, bands: Sequence[tuple[int, str]]) -> str:
    return next(text for floor, text in bands if value >= floor)


def _oneline(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def revealed_facts(persona: Persona, state: MoodState, transcript: Sequence[Utterance]) -> list[str]:
    """The facts the caller may mention now (progressive disclosure)."""
    from simulator.caller.plan import fact_available

    agent_said = " ".join(u.text for u in transcript if u.role == "agent")
    return [f.text for f in persona.scenario.knows if fact_available(f, state.turn, agent_said)]


@lru_cache(maxsize=1)
def _act_templates() -> dict[str, str]:
    """The `## act` sections of `prompts/caller_acts.md`."""
    sections: dict[str, str] = {}
    name: str | None = None
    for line in load_template("caller_acts").splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            sections[name] = ""
        elif name is not None and line.strip():
            sections[name] = (sections[name] + " " + line.strip()).strip()
    return sections


def stage_direction(plan: ReplyPlan) -> str:
    """The plan as one instruction for the caller's next line (the closing acts use `_CLOSING`)."""
    if plan.outcome is not None:
        return f"{_CLOSING[plan.outcome]} Say it in one short line, in character."
    values = {
        "fact": _oneline(plan.fact_say or plan.fact_text or ""),
        "unknown": plan.unknown or "that",
        "demand": _oneline(plan.demand or ""),
        "need": f" What really matters: {_oneline(plan.need)}" if plan.need else "",
        "mood": MOOD_WORDS[plan.mood],
        "refusal": _oneline(plan.refusal_say or plan.refusal or ""),
    }
    template = _act_templates()[plan.act]
    wanted = placeholders(template)
    text = render_text(template, **{k: v for k, v in values.items() if k in wanted})
    return text + " One short line; never offer a fix yourself."


def persona_text(persona: Persona, state: MoodState, transcript: Sequence[Utterance]) -> str:
    """Layer 2: who the caller is and what they may say now. No hidden notes."""
    who, scenario = persona.identity, persona.scenario
    age = f", {who.age}" if who.age else ""
    lines = [
        f"You are {who.name}{age}.",
        f"Your situation: {who.situation}",
        f"How you talk: {who.speaking_style}",
        "What you are asking for:",
        *(f"- {demand}" for demand in scenario.demands),
        "What really matters to you (say it only if the agent asks what matters):",
        *(f"- {need}" for need in scenario.real_needs),
        "You will not accept:",
        *(f"- {refusal.description}" for refusal in scenario.will_not_accept),
        "What you know and can mention now:",
        *(f"- {fact}" for fact in revealed_facts(persona, state, transcript)),
    ]
    if scenario.does_not_know:
        lines.append("You don't know (say so if asked): " + "; ".join(scenario.does_not_know) + ".")
    return "\n".join(lines)


def state_text(state: MoodState) -> str:
    """Layer 3: the mood as behaviour instructions."""
    mood = mood_label(state)
    return "\n".join(
        [
            f"You are {MOOD_WORDS[mood]}.",
            _band(state.anger, _ANGER),
            _band(state.trust, _TRUST),
            _band(state.entrenchment, _ENTRENCHMENT),
        ]
    )


def example_lines(persona: Persona, state: MoodState) -> list[str]:
    """The persona's example lines for the current mood (few-shot examples)."""
    return persona.example_lines.for_mood(mood_label(state))


def fallback_line(persona: Persona, state: MoodState, closing: Outcome | None = None) -> str:
    """A safe in-character line for when the caller model's output is rejected by the guard."""
    if closing is not None:
        line = getattr(persona.closing_lines, closing)
        if line:
            return str(line)
    lines = example_lines(persona, state)
    return lines[state.turn % len(lines)]


def _closing_text(closing: Outcome | None) -> str:
    if closing is None:
        return ""
    instruction = f"{_CLOSING[closing]} Say it in one short line, in character."
    return f"\n<the_call_is_ending>\n{instruction}\n</the_call_is_ending>\n"


def _direction_chat(plan: ReplyPlan | None) -> str:
    if plan is None or plan.outcome is not None:
        return ""
    return f"\n<your_next_line>\n{stage_direction(plan)}\n</your_next_line>\n"


def _direction_completion(plan: ReplyPlan | None) -> str:
    if plan is None or plan.outcome is not None:
        return ""
    return f"\n(Stage direction for the CUSTOMER's next line: {stage_direction(plan)})"


def _earlier_text(earlier_summary: str | None) -> str:
    if not earlier_summary:
        return ""
    return f"\n<earlier_in_the_call>\n{_oneline(earlier_summary)}\n</earlier_in_the_call>\n"


def render_caller_system(
    persona: Persona,
    difficulty: DifficultyName,
    state: MoodState,
    transcript: Sequence[Utterance],
    *,
    canary: str,
    earlier_summary: str | None = None,
    closing: Outcome | None = None,
    plan: ReplyPlan | None = None,
) -> str:
    """The system prompt for the chat form (all layers; `plan` adds the stage direction)."""
    del difficulty  # the difficulty acts through the state's numbers, not through words
    examples = "\n".join(f'- "{line}"' for line in example_lines(persona, state))
    persona_part = persona_text(persona, state, transcript) + f"\nLines in your voice right now:\n{examples}"
    return render(
        "caller_system",
        guidelines=render("caller_guidelines").strip(),
        persona=persona_part,
        state=state_text(state),
        earlier=_earlier_text(earlier_summary),
        closing=_closing_text(closing),
        direction=_direction_chat(plan),
        canary=canary,
    )


def render_caller_chat(
    persona: Persona,
    difficulty: DifficultyName,
    state: MoodState,
    transcript: list[Utterance],
    *,
    canary: str,
    earlier_summary: str | None = None,
    closing: Outcome | None = None,
    plan: ReplyPlan | None = None,
) -> list[Message]:
    """Chat messages for the caller model: the system prompt, then the transcript with roles flipped.

    Args:
        persona: The persona on the line.
        difficulty: The session's difficulty.
        state: The caller's current state (after the last trainee turn).
        transcript: The call so far (or the window that fits), trainee-centric roles.
        canary: A random token planted in the system prompt for leak detection.
        earlier_summary: A summary of turns dropped from `transcript` to fit the context.
        closing: When set, the caller voices this outcome in one closing line.
        plan: The plan for the next line, given as a stage direction (`stage_direction`).
    """
    system = render_caller_system(
        persona,
        difficulty,
        state,
        transcript,
        canary=canary,
        earlier_summary=earlier_summary,
        closing=closing,
        plan=plan,
    )
    return [Message(role="system", content=system), *for_caller_model(transcript)]


def render_caller_completion(
    persona: Persona,
    difficulty: DifficultyName,
    state: MoodState,
    transcript: list[Utterance],
    *,
    canary: str,
    earlier_summary: str | None = None,
    closing: Outcome | None = None,
    plan: ReplyPlan | None = None,
) -> str:
    """A transcript-completion prompt ending in `CUSTOMER:`, for tiny models (same arguments as chat).

    Every utterance is put on one line, so text inside a turn cannot start a new `CUSTOMER:` line.
    """
    del difficulty
    lines = [f"{'CUSTOMER' if u.role == 'customer' else 'AGENT'}: {_oneline(u.text)}" for u in transcript]
    closing_text = f"\n({_CLOSING[closing]} The CUSTOMER says one last line.)" if closing else ""
    earlier = f"\n(Earlier in the call: {_oneline(earlier_summary)})" if earlier_summary else ""
    examples = "\n".join(f"CUSTOMER: {line}" for line in example_lines(persona, state))
    text = render(
        "caller_completion",
        name=persona.identity.name,
        persona=persona_text(persona, state, transcript),
        state=" ".join(state_text(state).splitlines()).removeprefix("You are "),
        examples=examples,
        earlier=earlier,
        transcript="\n".join(lines),
        closing=closing_text,
        direction=_direction_completion(plan),
        canary=canary,
    )
    return text.rstrip()
