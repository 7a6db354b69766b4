"""Persona lint: every problem in persona files, beyond the schema (prompt budget, unknown strategies, the
caller's own lines: `simulator.persona.lines_lint`).

Also renders the opening caller prompt a designer previews (`caller_prompt_parts`). Used by
`cooldown personas lint|show` and the web page's persona designer.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from simulator.call.mood import initial_state
from simulator.call.transcript import Utterance
from simulator.persona.loader import PersonaProblem, check_persona_file, validate_yaml_file
from simulator.persona.schema import DifficultyName, Persona

PROMPT_BUDGET_TOKENS = 900
"""The persona + state part of the caller prompt must fit in this (a 2k-context model must fit)."""


def caller_prompt_parts(persona: Persona, difficulty: DifficultyName) -> tuple[str, str]:
    """The rendered opening caller prompt (chat system message) and its persona + state part."""
    from simulator.caller.prompt import persona_text, render_caller_chat, state_text

    state = initial_state(persona, difficulty)
    transcript = [Utterance(role="customer", text=persona.opening_lines[0])]
    messages = render_caller_chat(persona, difficulty, state, transcript, canary=f"CANARY-{secrets.token_hex(6)}")
    return messages[0].content, persona_text(persona, state, transcript) + "\n" + state_text(state)


def lint_paths(paths: list[Path]) -> list[PersonaProblem]:
    """Every problem in the given persona files (and strategies file), including the prompt budget."""
    from simulator.persona.behaviour import StrategyBook
    from simulator.persona.lines_lint import lint_lines
    from simulator.tokens import count_tokens

    problems: list[PersonaProblem] = []
    strategy_names: set[str] | None = None
    for path in paths:
        if path.name == "strategies.yaml":
            book, found = validate_yaml_file(path, StrategyBook)
            problems += found
            strategy_names = set(book.strategies) if book else strategy_names
    for path in paths:
        if path.name == "strategies.yaml":
            continue
        persona, found = check_persona_file(path)
        problems += found
        if persona is None:
            continue
        _, core = caller_prompt_parts(persona, "hard")
        tokens = count_tokens(core)
        if tokens > PROMPT_BUDGET_TOKENS:
            problems.append(
                PersonaProblem(
                    file=str(path),
                    line=1,
                    column=1,
                    field="",
                    message=f"persona + state prompt is {tokens} tokens; keep it under "
                    f"{PROMPT_BUDGET_TOKENS} (shorten facts, lines or needs)",
                )
            )
        problems += lint_lines(persona, path)
        if strategy_names is not None:
            known = ", ".join(sorted(strategy_names))
            for i, expectation in enumerate(persona.expectations):
                if expectation.strategy and expectation.strategy not in strategy_names:
                    line = _line_of(path, f"strategy: {expectation.strategy}")
                    problems.append(
                        PersonaProblem(
                            file=str(path),
                            line=line,
                            column=5,
                            field=f"expectations.{i}.strategy",
                            message=f"unknown strategy {expectation.strategy!r}; known: {known}",
                        )
                    )
    return problems


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    return 1
