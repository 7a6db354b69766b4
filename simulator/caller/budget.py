"""Keep every caller prompt under the token budget however long the call runs.

The persona and the caller's current state are always in the prompt. The transcript is not: only the
most recent utterances are kept verbatim (at most `max_recent`, fewer if they do not fit), and the
older ones are replaced by a compact summary built deterministically from their stored labels (no LLM):

    Earlier in the call (12 turns not shown): the agent apologised 3 times, asked you 2 questions
    about your situation, argued with your account using records, data or policy twice; you went
    from furious to wary.

Because the summary is made of counts, its length is bounded, so the prompt size flattens rather than
growing with the call. If even the newest utterance does not fit, its text is shortened from the front
(the end of a trainee turn is usually the question); if the persona and state alone exceed the budget,
`ConfigError` says how large the budget must be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from simulator.call.transcript import Utterance
from simulator.errors import ConfigError
from simulator.grading.labels import Behaviour, TurnVerdict

DEFAULT_MAX_RECENT = 12
"""Utterances kept verbatim at most (six exchanges)."""

P = TypeVar("P")
"""A rendered prompt: completion text, or a list of chat messages."""

Render = Callable[[list[Utterance], str | None], P]
"""Renders the whole prompt for a transcript window and an optional earlier-call summary."""


class LoggedTurn(BaseModel):
    """One utterance of the call with what the pipeline learnt about it (for summaries)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    utterance: Utterance
    verdict: TurnVerdict | None = None
    """For agent turns: the local appraiser's labels."""
    mood_label: str | None = None
    """For agent turns: the caller's mood label after this turn."""


@dataclass(frozen=True)
class BudgetedContext(Generic[P]):
    """The transcript window and summary that fit, and what they cost."""

    transcript: list[Utterance]
    earlier_summary: str | None
    prompt: P
    tokens: int
    summarised: int
    """How many utterances were folded into the summary."""


# (behaviours that count, phrase); order is the order in the summary.
_PHRASES: tuple[tuple[frozenset[Behaviour], str], ...] = (
    (frozenset({Behaviour.APOLOGY}), "apologised"),
    (frozenset({Behaviour.OPEN_QUESTION, Behaviour.NEEDS_CHECK}), "asked you {} about your situation"),
    (
        frozenset({Behaviour.REFLECTION, Behaviour.VALIDATION, Behaviour.PERSPECTIVE_TAKING}),
        "acknowledged how this feels for you",
    ),
    (frozenset({Behaviour.SOLUTION_OFFER}), "offered a remedy"),
    (frozenset({Behaviour.INFORMATION}), "gave you information"),
    (frozenset({Behaviour.FACT_CONFRONTATION}), "argued with your account using records, data or policy"),
    (frozenset({Behaviour.DISMISSAL}), "brushed you off"),
    (frozenset({Behaviour.BLAME}), "blamed you"),
)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def summarise_earlier(turns: Sequence[LoggedTurn]) -> str | None:
    """A short, deterministic description of earlier turns for the caller, or None if there are none.

    Args:
        turns: The utterances being left out of the prompt, oldest first.
    """
    if not turns:
        return None
    parts: list[str] = []
    verdicts = [t.verdict for t in turns if t.utterance.role == "agent" and t.verdict is not None]
    for labels, phrase in _PHRASES:
        n = sum(1 for v in verdicts if labels & set(v.behaviours))
        if not n:
            continue
        if "{}" in phrase:
            parts.append(phrase.format("a question" if n == 1 else f"{n} questions"))
        else:
            parts.append(f"{phrase} {_times(n)}")
    pressure = sum(1 for v in verdicts if v.manipulative)
    if pressure:
        parts.append(f"pushed you with pressure or tricks {_times(pressure)}")
    agent_turns = sum(1 for t in turns if t.utterance.role == "agent")
    head = f"Earlier in the call ({agent_turns} agent turn{'s' if agent_turns != 1 else ''} not shown)"
    body = "the agent " + ", ".join(parts) if parts else "the agent said nothing that stood out"
    moods = [t.mood_label for t in turns if t.mood_label]
    if moods:
        same = moods[0] == moods[-1]
        body += f"; you stayed {moods[0]}" if same else f"; you went from {moods[0]} to {moods[-1]}"
    return f"{head}: {body}."


def fit_to_budget(
    turns: Sequence[LoggedTurn],
    render: Render[P],
    budget_tokens: int,
    count: Callable[[P], int],
    *,
    max_recent: int = DEFAULT_MAX_RECENT,
) -> BudgetedContext[P]:
    """Choose the transcript window and earlier summary so that the rendered prompt fits the budget.

    Args:
        turns: The whole call so far, oldest first (interrupted replies already left out).
        render: Renders the prompt for `(window, summary)`; must include the persona and state.
        budget_tokens: The most tokens the prompt may have.
        count: Counts tokens in a rendered prompt.
        max_recent: Utterances kept verbatim at most, even when more would fit (flattens the curve).

    Raises:
        ConfigError: The persona and state alone do not fit in `budget_tokens`.
    """
    if budget_tokens <= 0:
        raise ConfigError("context_budget_tokens must be positive; set it in your settings")
    n = len(turns)
    first = max(0, n - max(1, max_recent))
    for cut in range(first, n + 1):
        window = [t.utterance for t in turns[cut:]]
        summary = summarise_earlier(turns[:cut])
        prompt = render(window, summary)
        tokens = count(prompt)
        if tokens <= budget_tokens:
            if cut == n and n:
                # Even the newest utterance did not fit on its own: keep a shortened copy of it.
                return _shortened_last(turns, render, budget_tokens, count, fallback=(prompt, tokens))
            return BudgetedContext(window, summary, prompt, tokens, cut)
    base = count(render([], summarise_earlier(turns)))
    raise ConfigError(
        f"the caller prompt needs {base} tokens for the persona and state alone, over the "
        f"context budget of {budget_tokens}; raise context_budget_tokens to at least {base + 200}"
    )


def _shortened_last(
    turns: Sequence[LoggedTurn],
    render: Render[P],
    budget_tokens: int,
    count: Callable[[P], int],
    *,
    fallback: tuple[P, int],
) -> BudgetedContext[P]:
    last = turns[-1].utterance
    summary = summarise_earlier(turns[:-1])
    lo, hi = 0, len(last.text)
    best: BudgetedContext[P] | None = None
    while lo < hi:  # longest tail of the text that fits
        mid = (lo + hi + 1) // 2
        text = "…" + last.text[len(last.text) - mid :]
        window = [Utterance(role=last.role, text=text)]
        prompt = render(window, summary)
        tokens = count(prompt)
        if tokens <= budget_tokens:
            best = BudgetedContext(window, summary, prompt, tokens, len(turns) - 1)
            lo = mid
        else:
            hi = mid - 1
    if best is not None:
        return best
    prompt, tokens = fallback
    return BudgetedContext([], summarise_earlier(turns), prompt, tokens, len(turns))
