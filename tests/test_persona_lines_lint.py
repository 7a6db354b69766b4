"""Lint for the persona's own lines: coverage of acts and moods, slots, says, each line doing its act."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.persona.lint import lint_paths
from simulator.persona.loader import PERSONAS_DIR, find_persona

OMAR = find_persona("omar_out_of_stock").read_text(encoding="utf-8")


def _lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "omar_out_of_stock.yaml"
    path.write_text(text, encoding="utf-8")
    return [str(p).replace(str(path), "omar.yaml") for p in lint_paths([path, PERSONAS_DIR / "strategies.yaml"])]


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_the_shipped_library_and_the_scaffold_have_full_sets(tmp_path: Path) -> None:
    assert _lint(tmp_path, OMAR) == []


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ('"Since you ask. {fact}"', '"Since you ask. {paidd}"', "{paidd}",
         "lines.answer.any.1: unknown slot {paidd} in a `answer` line; slots here: {dough}, {fact}, {paid}, {popup}"),
        ('"Right. Go on."', '"Right. {fact}"', "Right. {fact}", "lines.acknowledge.any.0: unknown slot {fact}"),
        ('"I don\'t know {unknown}. You\'re the shop."', '"Whatever about {unknown}."', "Whatever about",
         "lines.dont_know.any.1: would fail its own act once filled"),
        ('"Okay. At least you\'re listening."', '"Okay. I can have it delivered tomorrow."', "delivered tomorrow",
         "offers a fix itself"),
        ('"Fine. I\'ll take it."', '"Fine. I\'ll take it for 20 quid."', "20 quid",
         "says 20, which the persona does not hold"),
        ('"Right. Go on."', '"Right. How can I help you today?"', "How can I help",
         "the in-character guard would stop it: agent_speak"),
        ("      ask: When is your pop-up at the market?", "      ask: Lovely weather, isn't it?", "Lovely weather",
         "scenario.knows.1.ask: the planner would reply to this question with `restate_demand` (small talk)"),
    ],
)  # fmt: skip
def test_each_problem_is_reported_at_its_line(tmp_path: Path, old: str, new: str, needle: str, message: str) -> None:
    assert old in OMAR
    text = OMAR.replace(old, new, 1)
    problems = _lint(tmp_path, text)
    line = _line_of(text, needle)
    assert any(p.startswith(f"omar.yaml:{line}:") and message in p for p in problems), problems


def test_missing_acts_moods_says_and_empty_banks_are_errors(tmp_path: Path) -> None:
    text = re.sub(r"\n  escalate:\n    any: \[[^\n]*\]", "", OMAR)  # no escalate lines at all
    text = text.replace('  hang_up:\n    any: ["Yeah, I\'ll buy it elsewhere. Cheers for nothing.", '
                        '"Forget it. I\'ll find a mixer elsewhere. Bye."]', "  hang_up:\n    any: []")  # fmt: skip
    closes = '["Thursday, same price. Cheers. Genuinely.", "Right. Thanks. Sorted, then."]'
    text = text.replace(f"  close:\n    any: {closes}", '  close:\n    open: ["Thursday, same price. Cheers."]')
    text = text.replace("      say: I need a dough hook. My old mixer burnt out on brioche.\n", "")
    problems = _lint(tmp_path, text)
    joined = "\n".join(problems)
    assert "no lines for act `escalate`" in joined
    assert "act `hang_up` has an empty bank" in joined
    assert "act `close` has no line for mood furious, angry, wary, calming" in joined
    assert re.search(r"omar\.yaml:\d+:\d+: scenario\.knows\.2: fact has no `say`", joined), joined


def test_a_persona_without_lines_still_loads_but_lint_asks_for_them(tmp_path: Path) -> None:
    head, tail = OMAR.split("\nlines:\n")
    bare = head + "\nmax_turns:" + tail.split("\nmax_turns:")[1]
    problems = _lint(tmp_path, bare)
    assert len(problems) == 1 and "lines: no `lines:` block" in problems[0]
