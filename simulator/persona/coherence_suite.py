"""The coherence suite: does the caller make sense? Scripted trainee turns per persona, deterministic checks.

For each persona three short calls are played against a caller (a model through the real caller chain,
or the scripted caller), with labelled trainee turns so the mood dynamics are exact:

- `questions`: "what happened?", every fact's question (its `ask`), a `does_not_know` question, small
  talk, "what would make this right?";
- `pushback`: a data confrontation, a refused offer (a `will_not_accept` example), an acceptable offer
  (the first remedy's `example_offer`), "does that work for you?";
- `listening`: two listening turns, then the acceptable offer and "does that work for you?".

Every reply is checked twice: was it *planned* as expected (a question about a fact is answered with
that fact once it may be told, a refused offer is refused, small talk comes back to the demand...; any
turn that ends the call must be voiced as its outcome), and does the reply *pass its plan*
(`simulator.caller.coherence.check_reply`: the act, the fact, no offered fix, no number or date the
persona doesn't hold, the customer's voice, no repeated line). A reply passes when both hold. The
report gives, per persona, the share of replies passing and the share the model voiced itself (the
rest are the persona's own lines standing in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.call.engine import TurnEngine
from simulator.call.mood import MoodState, mood_label
from simulator.call.transcript import Utterance
from simulator.caller.budget import LoggedTurn
from simulator.caller.chain import Caller, CallerReply, new_canary, script_for
from simulator.caller.plan import PlanCheckFailure, ReplyPlan, Voice, fact_available, fact_key
from simulator.caller.voice import PersonaVoice
from simulator.grading.labels import Behaviour, TurnVerdict
from simulator.llm.base import ChatModel
from simulator.persona.schema import CLOSING_ACTS, Act, DifficultyName, Persona

B = Behaviour
Scene = Literal["questions", "pushback", "listening"]
SCENES: tuple[Scene, ...] = ("questions", "pushback", "listening")
ProbeKind = Literal[
    "open", "question", "unknown", "small_talk", "needs", "listen", "confront", "refused_offer", "offer", "confirm"
]
TARGET = 0.95
"""The share of replies that must pass on the embedded default (model replies and stand-ins together)."""

SMALL_TALK = "Lovely weather we're having today, isn't it?"
_EXPECTED: dict[ProbeKind, tuple[Act, ...]] = {
    "open": ("answer",),
    "question": ("answer",),
    "unknown": ("dont_know",),
    "small_talk": ("restate_demand",),
    "needs": ("restate_demand", "answer"),
    "listen": ("acknowledge", "restate_demand"),
    "confront": ("push_back",),
    "refused_offer": ("reject_offer",),
    "offer": ("accept_offer", "counter_offer"),
    "confirm": ("accept_offer", "counter_offer"),
}


class Probe(BaseModel):
    """One scripted trainee turn with its labels and what the caller's reply should do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ProbeKind
    text: str
    verdict: TurnVerdict
    fact: str | None = None
    """For `question`: the fact (id or `knows.N`) the answer must carry, once it may be told."""


def _verdict(score: int, *behaviours: Behaviour) -> TurnVerdict:
    return TurnVerdict(perspective_taking=score, behaviours=list(behaviours))


def _fact_question(persona: Persona, index: int) -> str | None:
    fact = persona.scenario.knows[index]
    if fact.ask:
        return fact.ask
    if fact.reveal_when_asked:
        return f"Can you tell me more about the {fact.reveal_when_asked[0]}?"
    return None


def probes(persona: Persona, scene: Scene) -> list[Probe]:
    """The scripted turns of one scene for this persona (see the module docstring)."""
    scenario = persona.scenario
    offer = scenario.acceptable_remedies[0].example_offer
    confirm = Probe(kind="confirm", text="Does that work for you?", verdict=_verdict(3, B.NEEDS_CHECK, B.OPEN_QUESTION))
    if scene == "questions":
        turns = [
            Probe(
                kind="open",
                text="I'm sorry this happened. Can you tell me what happened?",
                verdict=_verdict(3, B.APOLOGY, B.OPEN_QUESTION),
            )
        ]
        for i, fact in enumerate(scenario.knows):
            question = _fact_question(persona, i)
            if question is not None:
                turns.append(
                    Probe(
                        kind="question",
                        text=question,
                        verdict=_verdict(3, B.OPEN_QUESTION),
                        fact=fact_key(persona, fact),
                    )
                )
        if scenario.does_not_know:
            topic = scenario.does_not_know[0]
            turns.append(Probe(kind="unknown", text=f"Do you know {topic}?", verdict=_verdict(2, B.OPEN_QUESTION)))
        turns.append(Probe(kind="small_talk", text=SMALL_TALK, verdict=_verdict(1)))
        turns.append(
            Probe(
                kind="needs",
                text="What would make this right for you?",
                verdict=_verdict(3, B.NEEDS_CHECK, B.OPEN_QUESTION),
            )
        )
        return turns
    if scene == "pushback":
        refusal = scenario.will_not_accept[0]
        refused = refusal.example_offer or f"The best I can do is {refusal.match[0]}."
        return [
            Probe(
                kind="confront",
                text="Our records show everything was handled correctly on our side.",
                verdict=_verdict(0, B.FACT_CONFRONTATION),
            ),
            Probe(kind="refused_offer", text=refused, verdict=_verdict(1, B.SOLUTION_OFFER)),
            Probe(kind="offer", text=offer, verdict=_verdict(2, B.SOLUTION_OFFER)),
            confirm,
        ]
    return [
        Probe(
            kind="listen",
            text="That sounds really stressful, and I can see why you're upset.",
            verdict=_verdict(4, B.VALIDATION, B.REFLECTION),
        ),
        Probe(
            kind="listen",
            text="If I were in your shoes I'd feel exactly the same.",
            verdict=_verdict(4, B.PERSPECTIVE_TAKING),
        ),
        Probe(kind="offer", text=offer, verdict=_verdict(3, B.SOLUTION_OFFER, B.VALIDATION)),
        confirm,
    ]


class CoherenceLine(BaseModel):
    """One caller reply in the suite: its plan, who voiced it and how it fared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scene: Scene
    turn: int
    kind: ProbeKind
    agent_text: str
    plan: ReplyPlan
    text: str
    voice: Voice
    planning: str | None = None
    """Why the plan was not the expected one (None when it was)."""
    failures: list[PlanCheckFailure] = Field(default_factory=list)
    """How the reply shown misses its plan."""
    model_failures: list[PlanCheckFailure] = Field(default_factory=list)
    """Why the model's own reply was replaced, if it was."""

    @property
    def passed(self) -> bool:
        """Planned as expected, and the reply passes its plan."""
        return self.planning is None and not self.failures


class CoherenceRun(BaseModel):
    """The suite's replies for one persona."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str
    model: str
    lines: list[CoherenceLine]

    @property
    def passed(self) -> int:
        """Replies that passed."""
        return sum(line.passed for line in self.lines)

    @property
    def voiced(self) -> int:
        """Replies the model voiced itself (not a persona line standing in)."""
        return sum(line.voice == "model" for line in self.lines)

    def text(self) -> str:
        """E.g. '14/15 replies pass (93%); the model voiced 4/15 (27%)'."""
        return summary_text(self.passed, self.voiced, len(self.lines))


def summary_text(passed: int, voiced: int, total: int) -> str:
    """The suite's two shares in words."""
    if not total:
        return "no replies"
    return (
        f"{passed}/{total} replies pass ({100 * passed / total:.0f}%); "
        f"the model voiced {voiced}/{total} ({100 * voiced / total:.0f}%)"
    )


def _expectation(persona: Persona, probe: Probe, plan: ReplyPlan, state: MoodState, agent_said: str) -> str | None:
    """Why `plan` is not what `probe` should get (None when it is)."""
    if plan.outcome is not None:
        return None if plan.act == CLOSING_ACTS[plan.outcome] else f"{plan.act} does not voice {plan.outcome}"
    expected = _EXPECTED[probe.kind]
    if probe.kind == "question" and probe.fact is not None:
        fact = next(f for f in persona.scenario.knows if fact_key(persona, f) == probe.fact)
        if not fact_available(fact, state.turn, agent_said):
            expected = ("restate_demand",)
        elif plan.act != "answer" or plan.fact != probe.fact:
            return f"expected an answer with fact {probe.fact}, planned {plan.act} ({plan.why})"
    if plan.act not in expected:
        return f"expected {' or '.join(expected)}, planned {plan.act} ({plan.why})"
    return None


async def run_scene(
    persona: Persona, caller: Caller[MoodState], scene: Scene, difficulty: DifficultyName = "normal"
) -> list[CoherenceLine]:
    """Play one scene against `caller` and judge every reply."""
    voice = caller.script.planner
    if not isinstance(voice, PersonaVoice):  # pragma: no cover - script_for always gives one
        raise TypeError("the coherence suite needs a caller script with a PersonaVoice planner")
    engine = TurnEngine(persona, difficulty)
    history = [LoggedTurn(utterance=Utterance(role="customer", text=persona.opening_lines[0]))]
    lines: list[CoherenceLine] = []
    for probe in probes(persona, scene):
        step = engine.advance(probe.text, probe.verdict)
        history.append(
            LoggedTurn(
                utterance=Utterance(role="agent", text=probe.text),
                verdict=probe.verdict,
                mood_label=mood_label(step.state),
            )
        )
        reply = await _reply(caller, history, step.state, step.outcome, len(lines))
        assert reply.plan is not None
        agent_said = " ".join(t.utterance.text for t in history if t.utterance.role == "agent")
        lines.append(
            CoherenceLine(
                scene=scene,
                turn=step.state.turn,
                kind=probe.kind,
                agent_text=probe.text,
                plan=reply.plan,
                text=reply.text,
                voice=reply.voice,
                planning=_expectation(persona, probe, reply.plan, step.state, agent_said),
                failures=voice.check(reply.plan, reply.text, history),
                model_failures=reply.model_failures,
            )
        )
        history.append(LoggedTurn(utterance=Utterance(role="customer", text=reply.text)))
        if engine.over:
            break
    return lines


async def _reply(
    caller: Caller[MoodState], history: Sequence[LoggedTurn], state: MoodState, closing: object, seed: int
) -> CallerReply:
    final: CallerReply | None = None
    async for item in caller.speak(history, state, closing=closing, fallback_seed=seed):  # type: ignore[arg-type]
        if isinstance(item, CallerReply):
            final = item
    if final is None:  # pragma: no cover - Caller.speak always ends with its reply
        raise RuntimeError("the caller chain ended without a reply")
    return final


async def run_coherence(
    persona: Persona,
    model: ChatModel,
    *,
    difficulty: DifficultyName = "normal",
    budget_tokens: int,
    max_tokens: int | None = None,
    temperature: float | None = None,
    enforce_plan: bool | None = None,
) -> CoherenceRun:
    """Play every scene against the real caller chain on `model` and judge each reply.

    Args:
        persona: The persona on the line.
        model: The caller-role model (the scripted caller plays the persona's lines alone).
        difficulty: The difficulty to play at.
        budget_tokens: The caller prompt's token budget (`Settings.context_budget_tokens`).
        max_tokens: Reply length cap (`Settings.caller.max_tokens`).
        temperature: Sampling temperature (`Settings.caller.temperature`).
        enforce_plan: Passed to `Caller` (None: enforced for the demo model and the scripted caller).

    Raises:
        ModelError: The caller model could not be reached or its stream broke.
    """
    lines: list[CoherenceLine] = []
    for scene in SCENES:
        caller = Caller(
            model,
            script_for(persona, difficulty, new_canary()),
            budget_tokens=budget_tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            enforce_plan=enforce_plan,
        )
        lines += await run_scene(persona, caller, scene, difficulty)
    return CoherenceRun(persona=persona.id, model=model.info.label, lines=lines)
