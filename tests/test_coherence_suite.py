"""The coherence suite per shipped persona: a fake model that follows its stage direction, the scripted
caller, the CLI report, and (integration) the embedded default model."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import personas as cli_personas
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel, FakeRequest
from simulator.llm.scripted import ScriptedCallerModel
from simulator.persona.coherence_suite import TARGET, CoherenceRun, probes, run_coherence
from simulator.persona.loader import load_persona, persona_files

LIBRARY = [load_persona(p) for p in persona_files()]
IDS = [p.id for p in LIBRARY]

_DIRECTION = re.compile(
    r"Stage direction for the CUSTOMER's next line: (.*)\)\nCUSTOMER:\s*$"
    r"|<your_next_line>\n(.*)\n</your_next_line>",
    re.S,
)
_CLOSING = re.compile(
    r"\((.*) The CUSTOMER says one last line\.\)|<the_call_is_ending>\n(.*)\n</the_call_is_ending>", re.S
)
_CLOSERS = (
    ("You accept", "Thank you. Goodbye."),
    ("You have had enough", "Forget it. Goodbye."),
    ("supervisor", "Get me a manager."),
    ("You have to go", "I have to go. Still not sorted."),
)


class DirectedFake(FakeChatModel):
    """A caller model that does exactly what its stage direction says, in a few plain words."""

    def __init__(self, *, demo: bool = True) -> None:
        super().__init__(default_reply="")
        self.enqueue(*([self._follow] * 400))
        self.count = 0
        self.said: set[str] = set()
        form = "completion" if demo else "chat"
        self._info = ModelInfo(role="caller", provider="fake", model="directed", prompt_form=form, demo_grade=demo)

    def _follow(self, request: FakeRequest) -> str:
        self.count += 1
        n = self.count
        text = request.text
        closing = _CLOSING.search(text)
        if closing:
            said = closing.group(1) or closing.group(2)
            for cue, line in _CLOSERS:
                if cue in said:
                    return line
        found = _DIRECTION.search(text)
        assert found, "every caller prompt carries a stage direction"
        direction = found.group(1) or found.group(2)
        quoted = re.search(r'in your own words, adding no other numbers or dates: "(.*)"', direction)
        if quoted:
            answer = quoted.group(1)
            if answer in self.said:  # asked again: not word for word
                return "Like I said. " + answer
            self.said.add(answer)
            return answer
        unknown = re.search(r"Say you don't know (.*?)\. Make nothing up", direction)
        if unknown:
            return f"I really don't know {unknown.group(1)}."
        refusal = re.search(r"Refuse what the agent just offered, and say why: (.*?) One short line", direction)
        if refusal:
            return f"No. {refusal.group(1)}"
        variants = {
            "Push back": ["No. Your records are wrong.", "That's not true. I know what happened.", "Nonsense, no."],
            "Bring the call back": ["I just want this sorted.", "I want it fixed.", "I still want this fixed.",
                                    "I need it sorted today.", "I just need this sorted out."],
            "is listening to you": ["Okay. Go on.", "Right. At least you're listening.", "Fine. Thanks."],
            "would work for you": ["Okay. Yes, that works.", "Alright, that would work."],
            "is not enough yet": ["Maybe. But I want it confirmed.", "Only if it's guaranteed.", "Perhaps, if so."],
        }  # fmt: skip
        for cue, lines in variants.items():
            if cue in direction:
                return " " + lines[n % len(lines)]
        raise AssertionError(f"unknown stage direction: {direction}")


def _assert_all_pass(run: CoherenceRun) -> None:
    failing = [(ln.kind, ln.plan.act, ln.text, ln.planning, ln.failures) for ln in run.lines if not ln.passed]
    assert not failing, failing


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(len(LIBRARY)), ids=IDS)
async def test_a_model_that_follows_its_stage_directions_passes_every_reply(index: int) -> None:
    persona = LIBRARY[index]
    model = DirectedFake()
    run = await run_coherence(persona, model, budget_tokens=1600)
    _assert_all_pass(run)
    assert run.voiced == len(run.lines)  # every reply was the model's own
    kinds = {line.kind for line in run.lines}
    assert {"question", "unknown", "small_talk", "confront", "offer"} <= kinds
    assert len(run.lines) >= len(persona.scenario.knows) + 6


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(len(LIBRARY)), ids=IDS)
async def test_the_scripted_caller_passes_every_reply(index: int) -> None:
    run = await run_coherence(LIBRARY[index], ScriptedCallerModel(0), budget_tokens=1600)
    _assert_all_pass(run)
    assert run.voiced == 0 and all(line.voice == "authored" for line in run.lines)


@pytest.mark.anyio
async def test_a_model_that_ignores_its_plan_is_stood_in_for_and_still_passes() -> None:
    persona = LIBRARY[IDS.index("omar_out_of_stock")]
    model = FakeChatModel(default_reply=" Four. I can have it delivered tomorrow.")
    model._info = ModelInfo(role="caller", provider="fake", model="stubborn", prompt_form="completion", demo_grade=True)
    run = await run_coherence(persona, model, budget_tokens=1600)
    _assert_all_pass(run)
    assert run.voiced == 0
    assert all({"offers_remedy", "unheld_quantity"} <= {f.kind for f in line.model_failures} for line in run.lines)


@pytest.mark.anyio
async def test_a_capable_model_off_plan_is_reported_not_replaced() -> None:
    persona = LIBRARY[IDS.index("omar_out_of_stock")]
    model = FakeChatModel(default_reply="Four. I can have it delivered tomorrow.")
    run = await run_coherence(persona, model, budget_tokens=1600)
    assert run.passed == 0 and run.voiced == len(run.lines)


def test_the_script_covers_questions_confrontation_offers_and_small_talk() -> None:
    omar = LIBRARY[IDS.index("omar_out_of_stock")]
    kinds = [p.kind for scene in ("questions", "pushback", "listening") for p in probes(omar, scene)]
    assert kinds.count("question") == 3 and "refused_offer" in kinds and kinds.count("offer") == 2
    assert "small_talk" in kinds and "confront" in kinds and "unknown" in kinds


def _cli(model: FakeChatModel | ScriptedCallerModel, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setattr(cli_personas, "caller_model", lambda settings: model)
    result = CliRunner().invoke(cli_personas.personas, ["test", *args])
    assert result.exit_code in (0, 1), result.output
    return result.output + f"\n[exit {result.exit_code}]"


def test_cli_reports_pass_and_voiced_shares_per_persona(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _cli(DirectedFake(), monkeypatch, "omar_out_of_stock", "--with-caller", "--coherence", "--strict")
    assert "--- coherence: fake directed (demo-grade), completion prompts, plans enforced" in out
    assert re.search(r"== omar_out_of_stock coherence: (\d+)/\1 replies pass \(100%\); the model voiced \1/\1", out)
    assert "target >= 95% passing: met" in out and out.endswith("[exit 0]")
    assert "said: I paid £349 a week ago, and yesterday I got a cancellation email." in out

    stubborn = FakeChatModel(default_reply="Four.")
    stubborn._info = ModelInfo(role="caller", provider="fake", model="s", prompt_form="completion", demo_grade=True)
    out = _cli(stubborn, monkeypatch, "omar_out_of_stock", "--with-caller", "--coherence", "--quiet")
    assert "model reply replaced" not in out  # --quiet prints failing lines only, and none fail
    assert re.search(r"replies pass \(100%\); the model voiced 0/\d+ \(0%\)", out)


def test_cli_coherence_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_personas, "caller_model", lambda settings: DirectedFake())
    result = CliRunner().invoke(cli_personas.personas, ["test", "omar_out_of_stock", "--coherence"])
    assert result.exit_code == 2 and "--coherence only applies with --with-caller" in result.output
    result = CliRunner().invoke(
        cli_personas.personas, ["test", "omar_out_of_stock", "--with-caller", "--coherence", "--turns", "3"]
    )
    assert result.exit_code == 2 and "--turns does not apply with --coherence" in result.output


@pytest.fixture
def _stop_servers() -> Iterator[None]:
    from simulator.llm.embedded import POOL

    yield
    POOL.stop_all()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.usefixtures("_stop_servers")
async def test_coherence_on_the_embedded_default_model() -> None:
    """The whole library against SmolLM2-135M: >= 95% of replies pass (model replies and stand-ins)."""
    from simulator.config import load_settings
    from simulator.llm import get_model

    settings = load_settings()
    model = get_model("caller", settings)
    assert model.info.demo_grade
    figures: dict[str, dict[str, int]] = {}
    try:
        for persona in LIBRARY:
            run = await run_coherence(
                persona,
                model,
                budget_tokens=settings.context_budget_tokens,
                max_tokens=settings.caller.max_tokens,
                temperature=settings.caller.temperature,
            )
            figures[persona.id] = {"replies": len(run.lines), "passed": run.passed, "voiced": run.voiced}
            print(f"{persona.id}: {run.text()}")
            for line in run.lines:
                if not line.passed:
                    where = f"{line.scene} t{line.turn} {line.plan.act}"
                    print(f"   FAIL {where}: {line.text!r}", line.planning, line.failures)
    finally:
        await model.aclose()
    total = sum(f["replies"] for f in figures.values())
    passed = sum(f["passed"] for f in figures.values())
    voiced = sum(f["voiced"] for f in figures.values())
    print(f"total: {passed}/{total} pass ({passed / total:.1%}); model voiced {voiced}/{total} ({voiced / total:.1%})")
    out = os.environ.get("COOLDOWN_COHERENCE_FIGURES")
    if out:
        Path(out).write_text(json.dumps({"personas": figures, "passed": passed, "voiced": voiced, "replies": total},
                                        indent=2) + "\n", encoding="utf-8")  # fmt: skip
    assert passed / total >= TARGET
