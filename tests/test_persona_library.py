"""The shipped library: every persona lints clean and passes its own behaviour tests; the CLI works."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli.personas import lint_paths, personas
from simulator.persona.behaviour import (
    StrategyBook,
    load_strategies,
    simulate,
    simulate_with_caller,
    test_persona,
)
from simulator.persona.loader import PERSONAS_DIR, load_persona, persona_files
from simulator.persona.schema import Persona

NAMES = [p.stem for p in persona_files()]


@cache
def _book() -> StrategyBook:
    return load_strategies()


@cache
def _persona(name: str) -> Persona:
    return load_persona(PERSONAS_DIR / f"{name}.yaml")


def test_library_lints_clean() -> None:
    problems = lint_paths([*persona_files(), PERSONAS_DIR / "strategies.yaml"])
    assert problems == [], [str(p) for p in problems]


@pytest.mark.parametrize("name", NAMES)
def test_persona_passes_its_behaviour_tests(name: str) -> None:
    report = test_persona(_persona(name), _book())
    failures = [f"{c.name}: {c.failures}" for c in report.checks if not c.passed]
    assert failures == []
    assert len(report.checks) >= 10 + len(_persona(name).expectations)


def test_backfire_caller_entrenches_under_facts_and_softens_under_perspective_taking() -> None:
    brian, book = _persona("backfire_brian"), _book()
    facts = simulate(brian, "normal", book.strategies["fact_dumper"].turns, strategy="fact_dumper")
    entrenchment = [facts.start.entrenchment] + [p.step.state.entrenchment for p in facts.points]
    assert entrenchment == sorted(entrenchment) and entrenchment[-1] == 100
    assert facts.outcome in {"hung_up", "escalated"}
    empathy = simulate(brian, "normal", book.strategies["empathetic"].turns, strategy="empathetic")
    entrenchment = [empathy.start.entrenchment] + [p.step.state.entrenchment for p in empathy.points]
    assert entrenchment == sorted(entrenchment, reverse=True) and entrenchment[-1] <= 50
    assert empathy.outcome == "resolved"


def test_caller_hook_records_lines_without_changing_the_dynamics() -> None:
    import asyncio

    brian, turns = _persona("backfire_brian"), _book().strategies["empathetic"].turns
    seen: list[str | None] = []

    async def caller(request):  # type: ignore[no-untyped-def]
        seen.append(request.closing)
        return "You are satisfied now." if request.closing is None else "Fine. Thursday then."

    with_caller = asyncio.run(
        simulate_with_caller(
            brian, "normal", turns, caller, line_check=lambda line: ["odd"] if "satisfied" in line else []
        )
    )
    plain = simulate(brian, "normal", turns)
    assert [p.step for p in with_caller.points] == [p.step for p in plain.points]
    assert seen[-1] == "resolved" and with_caller.points[-1].caller_line == "Fine. Thursday then."
    assert with_caller.points[0].caller_problems == ["odd"]


def test_cli_list_show_lint_schema_test() -> None:
    runner = CliRunner()
    listed = runner.invoke(personas, ["list"])
    assert listed.exit_code == 0 and "backfire_brian" in listed.output
    shown = runner.invoke(personas, ["show", "backfire_brian"])
    assert shown.exit_code == 0, shown.output
    assert "Ground truth (hidden from the caller)" in shown.output and "persona + state" in shown.output
    assert runner.invoke(personas, ["lint"]).exit_code == 0
    schema = runner.invoke(personas, ["schema"])
    assert json.loads(schema.output)["title"] == "Cooldown persona"
    assert runner.invoke(personas, ["schema", "--check"]).exit_code == 0
    tested = runner.invoke(personas, ["test", "backfire_brian"])
    assert tested.exit_code == 0, tested.output
    assert "fact_dumper @ normal" in tested.output and "-> hung_up" in tested.output


def test_cli_lint_fails_with_positions(tmp_path: Path) -> None:
    bad = Path(__file__).parent / "fixtures" / "personas_bad"
    result = CliRunner().invoke(personas, ["lint", str(bad / "unknown_field.yaml"), str(bad / "tabs.yaml")])
    assert result.exit_code == 1
    assert f"{bad / 'unknown_field.yaml'}:12:3: identity.temprament: unknown field" in result.output
    assert f"{bad / 'tabs.yaml'}:8:1: tab in indentation" in result.output


def test_cli_new_writes_a_scaffold_that_lints_and_tests_clean(tmp_path: Path) -> None:
    (tmp_path / "strategies.yaml").write_text((PERSONAS_DIR / "strategies.yaml").read_text("utf-8"), "utf-8")
    runner = CliRunner()
    assert runner.invoke(personas, ["new", "sam_late_refund", "--dir", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "sam_late_refund.yaml").read_text("utf-8").startswith("# yaml-language-server: $schema=")
    lint = runner.invoke(personas, ["lint", "--dir", str(tmp_path)])
    assert lint.exit_code == 0, lint.output
    tested = runner.invoke(personas, ["test", "sam_late_refund", "--dir", str(tmp_path), "--quiet"])
    assert tested.exit_code == 0, tested.output
    again = runner.invoke(personas, ["new", "sam_late_refund", "--dir", str(tmp_path)])
    assert again.exit_code != 0 and "exists" in again.output


def test_declared_and_built_in_checks_play_the_same_number_of_turns(tmp_path: Path) -> None:
    """One default: a declared expectation without `turns:` plays until the call ends, like the built-ins."""
    (tmp_path / "strategies.yaml").write_text((PERSONAS_DIR / "strategies.yaml").read_text("utf-8"), "utf-8")
    runner = CliRunner()
    assert runner.invoke(personas, ["new", "sam_late_refund", "--dir", str(tmp_path)]).exit_code == 0
    path = tmp_path / "sam_late_refund.yaml"
    text = path.read_text("utf-8")
    # the empathetic strategy now needs a ninth turn (its script is eight long) to build enough trust
    path.write_text(re.sub(r"resolved: \{trust_at_least: \d+", "resolved: {trust_at_least: 95", text), "utf-8")
    tested = runner.invoke(personas, ["test", "sam_late_refund", "--dir", str(tmp_path)])
    assert "ok   built-in: empathetic resolves (normal)" in tested.output, tested.output
    assert "ok   the empathetic strategy resolves" in tested.output, tested.output
    assert tested.exit_code == 0

    # a failure says how many turns were played and what the call's turn limit is
    path.write_text(text.replace("strategy: empathetic\n", "strategy: empathetic\n    turns: 3\n"), "utf-8")
    failed = runner.invoke(personas, ["test", "sam_late_refund", "--dir", str(tmp_path), "--quiet"])
    assert failed.exit_code == 1
    line = next(x for x in failed.output.splitlines() if "FAIL the empathetic strategy resolves" in x)
    assert "got none after turn 3 of the 3 played; turn limit 12 at normal" in line, failed.output
    assert "-> still on the line after turn 3 (turn limit 12)" in failed.output
