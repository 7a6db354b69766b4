"""Persona preview and lint for designers: a persona's facts, emotional model and rendered prompt, and
`file:line:col: field: message` problems for YAML pasted into the page.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from simulator.call.mood import initial_state, mood_label
from simulator.errors import CooldownError
from simulator.persona.loader import MAX_FILE_BYTES, load_persona
from simulator.persona.schema import DifficultyName, Persona
from simulator.ui.text import md_text

_ID_LINE = re.compile(r"^id:\s*['\"]?([a-z][a-z0-9_]{1,47})['\"]?\s*(#.*)?$", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,60}")


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
    out += ["", "**Acceptable remedies**: " + md_text("; ".join(r.description for r in scenario.acceptable_remedies))]
    out += ["", "**Will not accept**: " + md_text("; ".join(r.description for r in scenario.will_not_accept))]
    state = initial_state(persona, difficulty)
    out += [
        "",
        f"**Emotional model at {difficulty}**: starts {md_text(state.short())} ({mood_label(state)}), "
        f"at most ±{emotion.max_change_per_turn} per turn, {persona.turn_limit(difficulty)} turns",
        "",
        "| when | change | reason |",
        "|---|---|---|",
    ]
    for rule in emotion.rules:
        moves = ", ".join(f"{k} {v:+d}" for k, v in rule.change.model_dump().items() if v)
        out.append(f"| {md_text(rule.when.label())} | {moves} | {md_text(rule.reason or '')} |")
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
