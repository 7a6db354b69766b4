"""The safe persona loader: shipped files load, hostile files are rejected with positions."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.errors import PersonaError
from simulator.persona import loader
from simulator.persona.loader import (
    PERSONAS_DIR,
    check_persona_file,
    find_persona,
    list_personas,
    load_persona,
    persona_files,
    persona_hash,
)
from simulator.persona.schema import persona_schema_text

BAD = Path(__file__).parent / "fixtures" / "personas_bad"
LOCATED = re.compile(r"^.+\.yaml:\d+:\d+: ")

# fixture -> (expected line, field path or "", a fragment of the message)
EXPECTED = {
    "alias_bomb.yaml": (5, "", "aliases"),
    "binary.yaml": (3, "", "NUL bytes"),
    "bom.yaml": (1, "", "byte-order mark"),
    "custom_tag.yaml": (35, "max_turns", "'!include' is not allowed"),
    "deep_nesting.yaml": (2, "", "nested deeper"),
    "duplicate_key.yaml": (36, "max_turns", "duplicate key 'max_turns'"),
    "empty.yaml": (1, "", "file is empty"),
    "id_mismatch.yaml": (5, "id", "must equal the file name"),
    "merge_key.yaml": (82, "emotion.start", "merge keys"),
    "missing_required.yaml": (6, "identity.situation", "required field is missing"),
    "non_utf8.yaml": (9, "", "not UTF-8"),
    "out_of_range.yaml": (80, "emotion.start.anger", "less than or equal to 100"),
    "python_object.yaml": (35, "max_turns", "python/object/apply:os.system"),
    "remedy_conflicts_refusal.yaml": (72, "scenario.acceptable_remedies.1.example_offer", "will_not_accept"),
    "starts_hung_up.yaml": (132, "emotion.outcomes.hung_up", "already meets it"),
    "tabs.yaml": (8, "", "tab in indentation"),
    "thresholds_contradictory.yaml": (131, "emotion.outcomes.resolved.anger_at_most", "contradicts"),
    "thresholds_missing.yaml": (130, "emotion.outcomes.resolved", "required field is missing"),
    "unclosed_quote.yaml": (14, "", "YAML syntax"),
    "unknown_field.yaml": (12, "identity.temprament", "unknown field"),
    "wrong_type.yaml": (35, "max_turns", "valid integer"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_fixture_is_rejected_with_position(name: str) -> None:
    line, field, fragment = EXPECTED[name]
    persona, problems = check_persona_file(BAD / name)
    assert persona is None
    first = problems[0]
    assert (first.line, first.field) == (line, field), str(first)
    assert fragment in first.message
    with pytest.raises(PersonaError) as caught:
        load_persona(BAD / name)
    assert LOCATED.match(str(caught.value)), str(caught.value)
    assert caught.value.location == f"{BAD / name}:{first.line}:{first.column}"


def test_python_object_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f'id: python_object\nmax_turns: !!python/object/apply:os.system ["touch {marker}"]\n'
    path = tmp_path / "python_object.yaml"
    path.write_text(payload, encoding="utf-8")
    with pytest.raises(PersonaError, match="not allowed"):
        load_persona(path)
    assert not marker.exists()


def test_ten_megabyte_file_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"a: " + b"x" * (10 * 1024 * 1024) + b"\n")
    with pytest.raises(PersonaError, match=r"huge.yaml:1:1: .*limited to 65536"):
        load_persona(path)


def test_long_string_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("id: long\nnotes: " + "y" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(PersonaError, match=r"long.yaml:2:8: notes: text longer than"):
        load_persona(path)


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = (PERSONAS_DIR / "backfire_brian.yaml").read_text(encoding="utf-8")
    text = text.replace("\nmax_turns: 14\n", "\nmax_turns: 400\n").replace("  age: 54", "  age: old")
    path = tmp_path / "backfire_brian.yaml"
    path.write_text(text, encoding="utf-8")
    _, problems = check_persona_file(path)
    assert [p.field for p in problems] == ["identity.age", "max_turns"]
    assert all(LOCATED.match(str(p)) for p in problems)


def test_shipped_personas_load_and_list() -> None:
    listing = list_personas()
    assert len(listing) >= 10
    assert all(entry.error is None for entry in listing), [e.error for e in listing if e.error]
    assert {"strategies"}.isdisjoint(entry.id for entry in listing)
    focus = {entry.technique_focus for entry in listing}
    assert {"anchoring", "halo", "loss_aversion", "choice_architecture", "reciprocity"} <= focus


def test_every_shipped_file_references_the_schema() -> None:
    for path in persona_files():
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=./schema.json")


def test_committed_schema_is_up_to_date() -> None:
    committed = (PERSONAS_DIR / "schema.json").read_text(encoding="utf-8")
    assert committed == persona_schema_text(), "run `cooldown personas schema --write`"


def test_hash_ignores_comments_but_not_content(tmp_path: Path) -> None:
    original = PERSONAS_DIR / "backfire_brian.yaml"
    copy = tmp_path / "backfire_brian.yaml"
    shutil.copy(original, copy)
    base = persona_hash(original)
    copy.write_text(original.read_text(encoding="utf-8") + "# a new comment\n", encoding="utf-8")
    assert persona_hash(copy) == base
    copy.write_text(original.read_text(encoding="utf-8").replace("age: 54", "age: 55"), encoding="utf-8")
    assert persona_hash(copy) != base
    assert base.startswith("sha256:")


def test_an_unchanged_file_is_not_parsed_again_an_edited_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "backfire_brian.yaml"
    shutil.copy(PERSONAS_DIR / "backfire_brian.yaml", copy)
    parsed: list[Path] = []

    def counting(path: Path) -> tuple[object, list[object]]:
        parsed.append(path)
        return check_persona_file(path)

    monkeypatch.setattr(loader, "check_persona_file", counting)
    first = load_persona(copy)
    assert load_persona(copy) == first
    assert len(parsed) == 1

    # a designer's edit that keeps the size: the modification time tells (set forward, as a coarse clock may not)
    text = copy.read_text(encoding="utf-8")
    copy.write_text(text.replace("name: Brian Keller", "name: Bryan Keller"), encoding="utf-8")
    mtime = os.stat(copy).st_mtime_ns
    os.utime(copy, ns=(mtime + 10**9, mtime + 10**9))
    assert load_persona(copy).identity.name == "Bryan Keller"
    assert len(parsed) == 2
    assert load_persona(copy).identity.name == "Bryan Keller"
    assert len(parsed) == 2
    # the library listing on every page load shares the cache: a stat per unchanged file, no parse
    assert loader.listing_of(copy).name == "Bryan Keller"
    assert len(parsed) == 2
    copy.write_text("id: [broken", encoding="utf-8")
    assert loader.listing_of(copy).error
    assert len(parsed) == 3


def test_each_load_gets_its_own_persona(tmp_path: Path) -> None:
    """A frozen model's lists can still be changed in place: one call's change must not reach the next call."""
    copy = tmp_path / "backfire_brian.yaml"
    shutil.copy(PERSONAS_DIR / "backfire_brian.yaml", copy)
    one, two = load_persona(copy), load_persona(copy)
    assert one == two and one is not two
    with pytest.raises(ValueError, match="frozen"):
        one.id = "someone_else"  # type: ignore[misc]
    one.opening_lines.append("Something the file never said.")
    one.scenario.demands.clear()
    three = load_persona(copy)
    assert three == two and "Something the file never said." not in three.opening_lines
    assert three.scenario.demands


def test_find_persona_names_the_known_ones() -> None:
    assert find_persona("backfire_brian") == PERSONAS_DIR / "backfire_brian.yaml"
    with pytest.raises(PersonaError, match=r"known personas: .*backfire_brian"):
        find_persona("../etc/passwd")


def _line_no(text: str, line: str) -> int:
    return text.splitlines(keepends=True).index(line) + 1


def _list_start(text: str, line: str) -> int:
    """The line of the first item of the list whose item holds `line` (the items are at 4 spaces)."""
    lines = text.splitlines(keepends=True)
    start = i = lines.index(line)
    while i > 0 and (lines[i - 1].startswith("     ") or lines[i - 1].startswith("    - ")):
        i -= 1
        if lines[i].startswith("    - "):
            start = i
    return start + 1


_REVEAL = "      reveal_after_turn: 2\n"
_DEMANDS = "  demands:\n"

# A misplaced indent or a lost dash or colon: (what the line was, what it became, a fragment of the hint).
# Hints that name a line are computed from the file, so editing the shipped persona doesn't break them.
SYNTAX_SLIPS: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "item key under the dash": (
        "      reveal_after_turn: 2\n",
        "    reveal_after_turn: 2\n",
        lambda t: f"the list that starts at line {_list_start(t, _REVEAL)} ('- id')",
    ),
    "key one space in": ("  does_not_know:\n", "   does_not_know:\n", lambda t: "same column"),
    "key one space out": ("  does_not_know:\n", " does_not_know:\n", lambda t: "same column"),
    "key indented under a value": (
        "      reveal_after_turn: 2\n", "        reveal_after_turn: 2\n", lambda t: "indented"
    ),
    "key without its colon": (
        "  demands:\n", "  demands\n", lambda t: f"line {_line_no(t, _DEMANDS)} ('demands') has no ':'"
    ),
    "list item out at key level": ("    - A refund today.\n", "- A refund today.\n", lambda t: "'- '"),
    "unclosed bracket": (
        "neighbour]\n",
        "neighbour\n",
        lambda t: f"'[' or '{{' opened at line {1 + t[: t.index('neighbour]')].count(chr(10))}",
    ),
}


@pytest.mark.parametrize("slip", sorted(SYNTAX_SLIPS))
def test_yaml_syntax_errors_carry_a_plain_hint_and_the_position(slip: str, tmp_path: Path) -> None:
    before, after, hint_of = SYNTAX_SLIPS[slip]
    text = (PERSONAS_DIR / "backfire_brian.yaml").read_text(encoding="utf-8")
    assert text.count(before) == 1
    hint = hint_of(text)
    path = tmp_path / "backfire_brian.yaml"
    path.write_text(text.replace(before, after), encoding="utf-8")
    _, problems = check_persona_file(path)
    first = problems[0]
    assert LOCATED.match(str(first)), str(first)
    assert first.message.startswith("YAML syntax: ") and hint in first.message, first.message
    assert not first.message.startswith("YAML syntax: while"), "the plain hint comes first, the parser's text last"
    assert any(word in first.message for word in ("indent", "column", "'- '", "':'", "quote")), first.message
