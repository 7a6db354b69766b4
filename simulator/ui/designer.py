"""Persona preview and lint for designers: a persona's facts, emotional model and rendered prompt, the
caller's plan for a trainee line (`plan_preview`: what it would do, and why), and
`file:line:col: field: message` problems for YAML pasted into the page.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from simulator.call.mood import MoodState, initial_state, mood_label
from simulator.errors import CooldownError
from simulator.grading.base import TurnGrader
from simulator.persona.loader import MAX_FILE_BYTES, load_persona
from simulator.persona.schema import DifficultyName, Persona
from simulator.ui.text import md_text
from simulator.vocabulary import readable_reason

_ID_LINE = re.compile(r"^id:\s*['\"]?([a-z][a-z0-9_]{1,47})['\"]?\s*(#.*)?$", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,60}")


def mood_words(state: MoodState) -> str:
    """The three mood levels spelled out ("anger 75, trust 17, entrenchment 80"), not `A 75 T 17 E 80`."""
    return f"anger {state.anger}, trust {state.trust}, entrenchment {state.entrenchment}"


def preview_markdown(persona: Persona, difficulty: DifficultyName) -> str:
    """Facts, ground truth, remedies and the emotional model, as Markdown (designer text escaped)."""
    who, scenario, emotion = persona.identity, persona.scenario, persona.emotion
    out = [f"### {md_text(who.name)} ({md_text(who.temperament)}) — `{persona.id}`", "", md_text(who.situation), ""]
    out += ["**Facts the caller knows**", ""]
    for fact in scenario.knows:
        when = []
        if fact.reveal_after_turn:
            when.append(f"from turn {fact.reveal_after_turn}")
        if fact.reveal_when_asked:
            when.append("when asked about " + ", ".join(fact.reveal_when_asked))
        out.append(f"- {md_text(fact.text)}" + (f" *({md_text('; '.join(when))})*" if when else ""))
    out += ["", "**Ground truth (hidden from the caller)**", ""]
    out += [f"- {md_text(g.topic)}: {md_text(g.truth)}" for g in scenario.ground_truth]
    out += ["", "**Acceptable remedies**", ""] + [f"- {md_text(r.description)}" for r in scenario.acceptable_remedies]
    out += ["", "**Will not accept**", ""] + [f"- {md_text(r.description)}" for r in scenario.will_not_accept]
    state = initial_state(persona, difficulty)
    out += [
        "",
        f"**Emotional model at {difficulty}**: starts {mood_words(state)} ({mood_label(state)}), "
        f"at most ±{emotion.max_change_per_turn} per turn, {persona.turn_limit(difficulty)} turns",
        "",
        "| when the trainee's turn shows | change | reason | `when:` in the YAML |",
        "|---|---|---|---|",
    ]
    for rule in emotion.rules:
        moves = ", ".join(f"{k} {v:+d}" for k, v in rule.change.model_dump().items() if v)
        written = ", ".join(f"{k}: {v}" for k, v in rule.when.model_dump(mode="json", exclude_none=True).items())
        out.append(
            f"| {md_text(readable_reason(rule.when.label()))} | {moves} | {md_text(rule.reason or '')} "
            f"| {md_text(written)} |"
        )
    out.append("")
    for key in ("resolved", "hung_up", "escalated"):
        threshold = getattr(emotion.outcomes, key)
        if threshold is not None:
            bounds = ", ".join(f"{k}={v}" for k, v in threshold.model_dump().items() if v is not None)
            extra = " + an acceptable remedy offered" if key == "resolved" else ""
            out.append(f"- **{key}** when {md_text(bounds)}{extra}")
    return "\n".join(out) + "\n"


def preview(path: Path, difficulty: DifficultyName) -> tuple[str, str, str]:
    """(facts Markdown, rendered caller system prompt, token summary) for a persona file.

    Raises:
        PersonaError: No such persona, or it does not load.
    """
    from simulator.persona.lint import PROMPT_BUDGET_TOKENS, caller_prompt_parts
    from simulator.tokens import count_tokens

    persona = load_persona(path)
    system, core = caller_prompt_parts(persona, difficulty)
    tokens = (
        f"Caller system prompt (opening turn): {count_tokens(system)} tokens; persona + state part "
        f"{count_tokens(core)} tokens (budget {PROMPT_BUDGET_TOKENS})."
    )
    return preview_markdown(persona, difficulty), system, tokens


MAX_TRY_CHARS = 500
"""The longest trainee line the designer's plan preview takes."""


async def plan_preview(path: Path, difficulty: DifficultyName, said: str, grader: TurnGrader) -> str:
    """What the caller would plan in reply to a first trainee turn, as Markdown: how the local appraiser
    heard the turn, the planned act with the fact it carries and why, and the persona's own line for it.

    The same pure planner the call uses (`simulator.caller.plan`), on the opening turn at `difficulty`.

    Raises:
        PersonaError: No such persona, or it does not load.
    """
    from simulator.call.engine import TurnEngine
    from simulator.call.transcript import Utterance
    from simulator.caller.budget import LoggedTurn
    from simulator.caller.plan import PlanRecord
    from simulator.caller.voice import PersonaVoice
    from simulator.grading.base import GradeRequest

    persona = load_persona(path)
    said = " ".join(said.split())[:MAX_TRY_CHARS]
    opening = Utterance(role="customer", text=persona.opening_lines[0])
    request = GradeRequest(trainee_turn=said, context=[opening], scenario=persona.grader_brief(), persona=persona.id)
    grade = await grader.grade(request)
    verdict = grade.verdict if grade.status == "graded" else None
    step = TurnEngine(persona, difficulty).advance(said, verdict)
    turns = [
        LoggedTurn(utterance=opening),
        LoggedTurn(utterance=Utterance(role="agent", text=said), verdict=verdict, mood_label=mood_label(step.state)),
    ]
    voice = PersonaVoice(persona)
    plan = voice.plan(step.state, turns, step.outcome)
    record = PlanRecord(plan=plan, voice="authored")
    heard = ", ".join(b.value.replace("_", " ") for b in verdict.behaviours) if verdict else ""
    out = [
        f"**The appraiser heard:** {md_text(heard or 'nothing it could label')} → mood "
        f"{md_text(mood_label(step.state))} ({mood_words(step.state)})",
        "",
        f"**Meant to:** {md_text(record.act)}" + (f" · {md_text(record.carried())}" if record.carried() else ""),
        "",
        f"**Why:** {md_text(plan.why or '-')}",
    ]
    line = voice.stand_in(plan, turns) if voice.has_lines else None
    if line is not None:
        out += ["", f"**The persona's own line for it:** “{md_text(line.text)}”"]
        if line.failures:
            out.append(f"*(misses its plan: {md_text('; '.join(f.detail for f in line.failures))})*")
    elif not voice.has_lines:
        out += ["", "*This persona has no `lines`: a caller model must voice every plan.*"]
    else:
        out += ["", "*No unused line of the persona fits this plan: add one for this act and mood.*"]
    return "\n".join(out) + "\n"


def lint_text(text: str, filename: str = "") -> list[str]:
    """Lint YAML pasted into the page as if it were `personas/<filename>`.

    The file name defaults to the `id:` the text declares (so the id/file-name check passes for a
    consistent file). Problems come back as `file:line:col: field: message`; an empty list means the
    persona loads.
    """
    from simulator.persona.lint import lint_paths

    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return [f"{filename or 'pasted.yaml'}:1:1: the text is over {MAX_FILE_BYTES // 1024} KB; shorten it"]
    if filename and (not _NAME.fullmatch(filename) or filename.startswith(".")):
        return ["file name: use letters, digits, '_', '-' or '.' only (e.g. dana_delayed_order.yaml)"]
    stem = Path(filename).stem if filename else ""
    if not stem:
        found = _ID_LINE.search(text)
        stem = found.group(1) if found else "pasted"
    shown = f"{stem}.yaml"
    with tempfile.TemporaryDirectory(prefix="cooldown-lint-") as tmp:
        path = Path(tmp) / shown
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            problems = lint_paths([path])
        except CooldownError as exc:
            return [f"{shown}:1:1: {exc}"]
        return [str(p).replace(str(path), shown) for p in problems]
