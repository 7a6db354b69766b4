"""Designers keep their own persona folders (COOLDOWN_PERSONAS): found after the built-in library,
bad configuration named with its fix, one bad file never hides the good ones, ids or paths anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli.personas import personas
from simulator.config import load_settings
from simulator.errors import PersonaError
from simulator.persona.library import PersonaLibrary, PersonaLibraryError, default_library
from simulator.persona.loader import PERSONAS_DIR, load_persona_text

DANA = PERSONAS_DIR / "dana_delayed_order.yaml"


def _copy(folder: Path, new_id: str, source: Path = DANA) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = source.read_text(encoding="utf-8").replace(f"id: {source.stem}", f"id: {new_id}", 1)
    target = folder / f"{new_id}.yaml"
    target.write_text(text, encoding="utf-8")
    return target


def test_own_folders_come_after_the_built_in_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy(tmp_path / "mine", "dana_copy")
    monkeypatch.setenv("COOLDOWN_PERSONAS", str(tmp_path / "mine"))
    library = default_library(load_settings())
    ids = [e.id for e in library.valid()]
    assert "backfire_brian" in ids and ids[-1] == "dana_copy"
    assert library.load("dana_copy").id == "dana_copy"
    monkeypatch.setenv("COOLDOWN_BUILTIN_PERSONAS", "off")
    assert [e.id for e in default_library(load_settings()).valid()] == ["dana_copy"]


@pytest.mark.parametrize("problem", ["missing", "file"])
def test_bad_configuration_names_the_setting_and_the_fix(tmp_path: Path, problem: str) -> None:
    target = tmp_path / "mine"
    if problem == "file":
        target.write_text("not a folder")
    with pytest.raises(PersonaLibraryError) as err:
        PersonaLibrary.from_settings(str(target))
    assert "COOLDOWN_PERSONAS" in str(err.value) and str(target) in str(err.value)


def test_two_files_with_one_id_are_both_named_and_neither_wins(tmp_path: Path) -> None:
    a = _copy(tmp_path / "a", "same_id")
    b = _copy(tmp_path / "b", "same_id")
    library = PersonaLibrary.from_settings(f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    dup = [e for e in library.listings() if e.id == "same_id"]
    assert len(dup) == 2 and all(str(a) in (e.error or "") and str(b) in (e.error or "") for e in dup)
    with pytest.raises(PersonaLibraryError, match="defined twice"):
        library.find("same_id")


def test_one_bad_file_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    _copy(folder, "good_one")
    (folder / "broken.yaml").write_text("id: broken\nidentity: [\n", encoding="utf-8")
    entries = {e.id: e for e in PersonaLibrary.from_settings(str(folder), builtin=False).listings()}
    assert entries["good_one"].error is None and entries["broken"].error


def test_ids_and_paths_are_both_accepted(tmp_path: Path) -> None:
    path = _copy(tmp_path / "mine", "by_path")
    library = PersonaLibrary.from_settings(None)
    assert library.find(str(path)) == path
    with pytest.raises(PersonaError, match="no persona named"):
        library.find("nobody_here")


def test_a_persona_loads_from_text_it_is_already_held_as() -> None:
    persona = load_persona_text(DANA.read_text(encoding="utf-8"), "dana.yaml")
    assert persona.id == "dana_delayed_order"
    with pytest.raises(PersonaError, match=r"pasted\.yaml:"):
        load_persona_text("id: x\n", "pasted.yaml")


def test_new_writes_into_the_current_folder_with_a_schema_and_lints_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(personas, ["new", "sam_late_refund"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "sam_late_refund.yaml").is_file() and (tmp_path / "schema.json").is_file()
    assert "personas/sam_late_refund.yaml" not in (tmp_path / "sam_late_refund.yaml").read_text()
    linted = runner.invoke(personas, ["lint", "sam_late_refund.yaml"])
    assert linted.exit_code == 0, linted.output
    assert "1 persona file(s)" in linted.output
    tested = runner.invoke(personas, ["test", "sam_late_refund.yaml", "--quiet"])
    assert "strategies.yaml" not in tested.output, "a designer's folder needs no strategies file of its own"
    refused = runner.invoke(personas, ["new", "x_in_builtin", "--dir", str(PERSONAS_DIR)])
    assert refused.exit_code != 0 and "built-in library" in refused.output
