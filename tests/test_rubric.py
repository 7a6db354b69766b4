"""docs/rubric.md is the single source of the label names: the code and the grader prompt must match it."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.grading.chain import PROMPT_TEMPLATES
from simulator.grading.labels import Behaviour, Tactic, Technique, TurnVerdict
from simulator.prompts import load_template
from simulator.resources import prompts_dir

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "docs" / "rubric.md"
TACTICS_LINE = re.compile(r"flagged[^:]*whatever the technique:\s*(.+?)(?:\(|\.\s*$)", re.S | re.M)


def _section(text: str, number: int) -> str:
    """The text of `## <number>. ...` up to the next `## ` heading."""
    start = re.search(rf"^## {number}\. .*$", text, re.M)
    assert start, f"no section {number} in {RUBRIC}"
    end = re.search(r"^## ", text[start.end() :], re.M)
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def _first_column(text: str) -> list[str]:
    """The names in the first column of the Markdown table rows (backquotes dropped)."""
    names = re.findall(r"^\| *`?([a-z_]+)`? *\|", text, re.M)
    return [n for n in names if n not in {"label", "technique", "field", "score"}]


def _tactics(text: str) -> list[str]:
    match = TACTICS_LINE.search(text)
    assert match, "no 'flagged ... whatever the technique:' line"
    return re.findall(r"[a-z]+_[a-z_]+|[a-z]{5,}", match.group(1).replace("`", ""))


def rubric_names() -> tuple[list[str], list[str], list[str], list[str]]:
    text = RUBRIC.read_text(encoding="utf-8")
    return (
        _first_column(_section(text, 1)),
        _first_column(_section(text, 2)),
        _tactics(_section(text, 2)),
        _first_column(_section(text, 3)),
    )


def test_label_names_in_code_match_the_rubric() -> None:
    behaviours, techniques, tactics, fields = rubric_names()
    assert [b.value for b in Behaviour] == behaviours
    assert [t.value for t in Technique] == techniques
    assert [t.value for t in Tactic] == tactics
    assert list(TurnVerdict.model_fields) == fields


def test_label_names_in_the_grader_prompt_match_the_rubric() -> None:
    behaviours, techniques, tactics, _ = rubric_names()
    prompt = load_template("grader_system")
    assert _first_column(prompt) == behaviours
    assert re.findall(r"^- ([a-z_]+) — ", prompt, re.M) == techniques
    assert _tactics(prompt) == tactics
    words = set(re.findall(r"\b[a-z]+_[a-z_]+\b", prompt))
    known = {*behaviours, *techniques, *tactics, "perspective_taking", "manipulation_tactics", "better_phrasing"}
    assert words <= known, f"label-like names in the prompt that the rubric does not define: {words - known}"


def test_the_rubric_is_cited_where_the_labels_live_and_never_sent_to_the_model() -> None:
    raw = (prompts_dir() / "grader_system.md").read_text(encoding="utf-8")
    assert raw.startswith("<!--") and "docs/rubric.md" in raw.split("-->", 1)[0]
    for name in PROMPT_TEMPLATES:
        assert "docs/rubric.md" not in load_template(name) and "<!--" not in load_template(name)
    labels = (ROOT / "simulator" / "grading" / "labels.py").read_text(encoding="utf-8")
    assert "docs/rubric.md" in labels.split('"""', 2)[1]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/rubric.md)" in readme and "../shared" not in readme
