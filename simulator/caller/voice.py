"""One persona's planner for the caller chain: plan each reply, check it, stand in with its own lines.

`PersonaVoice` ties the pure pieces together for `simulator.caller.chain.Caller`: `plan_reply`
(`simulator.caller.plan`), `check_reply` (`simulator.caller.coherence`) and `stand_in`
(`simulator.caller.lines`), over the call's logged turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from simulator.call.mood import MoodState
from simulator.caller.budget import LoggedTurn
from simulator.caller.coherence import Holdings, check_reply, holdings_of
from simulator.caller.lines import StandIn, stand_in
from simulator.caller.plan import PlanCheckFailure, ReplyPlan, plan_reply
from simulator.persona.schema import Persona
from simulator.vocabulary import Outcome


def _said(turns: Sequence[LoggedTurn], role: str) -> list[str]:
    return [t.utterance.text for t in turns if t.utterance.role == role]


@dataclass(frozen=True)
class PersonaVoice:
    """Plans, checks and stands in for one persona's replies (the caller chain's `Planner`)."""

    persona: Persona
    holdings: Holdings = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holdings", holdings_of(self.persona))

    @property
    def has_lines(self) -> bool:
        """True when the persona has its own `lines` to stand in with."""
        return self.persona.lines is not None

    def plan(self, state: MoodState, turns: Sequence[LoggedTurn], closing: Outcome | None) -> ReplyPlan:
        """The plan for the next reply (`simulator.caller.plan.plan_reply`)."""
        return plan_reply(self.persona, state, turns, closing)

    def check(self, plan: ReplyPlan, text: str, turns: Sequence[LoggedTurn]) -> list[PlanCheckFailure]:
        """How `text` misses `plan`, given the call so far (empty when it passes)."""
        return check_reply(
            plan, text, self.holdings, earlier=_said(turns, "customer"), agent_said=_said(turns, "agent")
        )

    def stand_in(self, plan: ReplyPlan, turns: Sequence[LoggedTurn], seed: int = 0) -> StandIn | None:
        """The persona's best-fitting unused line for `plan` (None when it has none left)."""
        return stand_in(
            self.persona,
            plan,
            self.holdings,
            earlier=_said(turns, "customer"),
            agent_turns=_said(turns, "agent"),
            seed=seed,
        )
