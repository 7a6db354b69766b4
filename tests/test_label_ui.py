"""The Label tab's handlers called directly (no server, no browser), and its folder kept from serving."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from label_kit import write_turns

from simulator.config import load_settings
from simulator.labelling import LabelStore
from simulator.persona.library import default_library
from simulator.ui import app
from simulator.ui.deps import raters_from, trainers_from
from simulator.ui.label_handlers import NOT_RATER, LabelHandlers
from simulator.ui.labelling import NOT_USED, LabelView
from simulator.ui.layout import page_layout
from simulator.ui.library import CallerLibrary

NOBODY = SimpleNamespace(username=None)


@pytest.fixture
def tab(tmp_path: Path) -> Iterator[tuple[LabelView, LabelHandlers, Path]]:
    folder = tmp_path / "labelling"
    folder.mkdir()
    turns = write_turns(folder / "turns.jsonl", 3)
    with turns.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "x-html", "trainee_turn": "<img src=x onerror=alert(1)> I hear you.",
                             "context": [{"role": "customer", "text": "<b>bold</b>"}]}) + "\n")
    library = CallerLibrary(default_library(load_settings()))
    with gr.Blocks():
        page = page_layout("", library, ask_name=True, max_turn_chars=2000, llm_on=False, label_dir=folder)
    yield page.label, LabelHandlers(page.label, folder, auth_on=False), turns


def _quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gr.Warning outside a request
        return fn(*args, **kw)


def _form(view: LabelView, file: str, rater: str, item: str, **values: Any) -> dict[Any, Any]:
    data: dict[Any, Any] = {view.file: file, view.rater: rater, view.item: item, view.behaviours: [],
                            view.score: None, view.tactics: [], view.note: ""}
    for row in view.techniques:
        data[row.use], data[row.evidence] = NOT_USED, ""
    for key, value in values.items():
        data[getattr(view, key) if hasattr(view, key) else key] = value
    return data


def test_open_shows_the_first_unlabelled_turn_with_progress(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, _ = tab
    shown = h.open_file("turns.jsonl", "ann", NOBODY)
    assert "0 of 4 labelled" in shown[view.progress] and "per-0001" in shown[view.progress]
    assert "Scenario:" in shown[view.context] and "cd-label-turn" in shown[view.turn]
    assert shown[view.score] is None and shown[view.behaviours] == []


def test_files_outside_the_label_folder_are_refused(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, _ = tab
    for bad in ("../labelling/turns.jsonl", "/etc/passwd", "", None):
        shown = _quiet(h.open_file, bad, "ann", NOBODY)
        assert "Not opened" in shown[view.status], bad
        assert view.progress not in shown


def test_a_bad_label_lists_its_problems_and_saves_nothing(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, turns = tab
    anchoring = view.techniques[0]
    data = _form(view, "turns.jsonl", "ann", "per-0001", behaviours=["reflection"], score=None,
                 **{"tactics": []})
    data[anchoring.use], data[anchoring.evidence] = "ethical", "not in the turn"
    shown = _quiet(h.save, data, NOBODY)
    assert "choose a score from 0 to 4" in shown[view.status]
    assert "anchoring: evidence" in shown[view.status] and "not in the turn word for word" in shown[view.status]
    assert LabelStore(turns).latest("ann") == {}


def test_a_save_is_durable_and_moves_on(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, turns = tab
    anchoring = view.techniques[0]
    data = _form(view, "turns.jsonl", "ann", "per-0001", behaviours=["reflection"], score=3)
    data[anchoring.use], data[anchoring.evidence] = "ethical", "this sofa is normally a 4 to 6 week build"
    shown = h.save(data, NOBODY)
    assert "Saved" in shown[view.status] and "(version 1)" in shown[view.status]
    assert "1 of 4 labelled" in shown[view.progress] and "per-0002" in shown[view.progress]
    record = LabelStore(turns).latest("ann")["per-0001"]
    assert record.verdict.techniques[0].evidence == "this sofa is normally a 4 to 6 week build"
    again = h.go("turns.jsonl", "ann", "per-0001", NOBODY)  # the saved label comes back to edit
    assert again[view.score] == 3 and again[anchoring.use] == "ethical"
    assert '<mark class="ev ev-ethical">this sofa is normally a 4 to 6 week build</mark>' in again[view.turn]
    assert "v1" in again[view.versions]


def test_turn_and_context_are_shown_as_text(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, _ = tab
    shown = h.go("turns.jsonl", "ann", "x-html", NOBODY)
    assert "<img" not in shown[view.turn] and "&lt;img src=x" in shown[view.turn]
    assert "<b>bold</b>" not in shown[view.context]


def test_selected_text_becomes_verbatim_evidence(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    _, h, _ = tab
    quote, status = h.take_selection("  sofa is   normally a 4 ", "turns.jsonl", "per-0001", NOBODY)
    assert quote == "sofa is normally a 4" and "Evidence taken" in status
    assert h.take_selection("", "turns.jsonl", "per-0001", NOBODY)[1].startswith("⚠ Select words")
    assert "not part of the trainee turn" in h.take_selection("Persona:", "turns.jsonl", "per-0001", NOBODY)[1]


def test_with_sign_in_the_rater_is_the_signed_in_user(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, turns = tab
    signed = LabelHandlers(view, h.folder, auth_on=True, raters=frozenset({"Ann Lee"}))
    shown = _quiet(signed.open_file, "turns.jsonl", "typed-name", NOBODY)
    assert "sign in to label" in shown[view.status]
    data = _form(view, "turns.jsonl", "typed-name", "per-0001", score=1)
    signed.save(data, SimpleNamespace(username="Ann Lee"))
    assert LabelStore(turns).raters() == ["Ann_Lee"]


def test_with_sign_in_only_trainers_and_raters_may_label(tab: tuple[LabelView, LabelHandlers, Path]) -> None:
    view, h, turns = tab
    settings = load_settings(auth="ana:ana-pw,tom@trainer:tom-pw,ann@rater:ann-pw")
    assert raters_from(settings) == {"tom", "ann"} and trainers_from(settings) == {"tom"}
    signed = LabelHandlers(view, h.folder, auth_on=True, raters=raters_from(settings))
    ana, ann = SimpleNamespace(username="ana"), SimpleNamespace(username="ann")
    assert signed.label_load(ana)[view.tab].visible is False
    assert view.file not in signed.label_load(ana)  # no file names for a trainee
    shown = signed.label_load(ann)
    assert shown[view.tab].visible is True and [c for c, _ in shown[view.file].choices] == ["turns.jsonl"]
    # a trainee who sends the events by hand reads no turn and saves no label
    opened = _quiet(signed.open_file, "turns.jsonl", "", ana)
    assert NOT_RATER in opened[view.status] and "per-0001" not in str(opened.get(view.turn, ""))
    assert NOT_RATER in _quiet(signed.step, "turns.jsonl", "", "per-0001", ana, back=False)[view.status]
    assert NOT_RATER in _quiet(signed.go, "turns.jsonl", "", "per-0001", ana)[view.status]
    assert signed.take_selection("sofa", "turns.jsonl", "per-0001", ana)[1] == f"⚠ {NOT_RATER}"
    assert signed.refresh_files("turns.jsonl", ana).choices == []
    _quiet(signed.save, _form(view, "turns.jsonl", "", "per-0001", score=1), ana)
    assert LabelStore(turns).raters() == []
    _quiet(signed.save, _form(view, "turns.jsonl", "", "per-0001", score=1), ann)
    assert LabelStore(turns).raters() == ["ann"]
    unsigned = LabelHandlers(view, h.folder, auth_on=False)  # no sign-in: no roles, anyone labels
    assert unsigned.may_label(NOBODY) and unsigned.refresh_files(None, NOBODY).choices == [("turns.jsonl",) * 2]


def test_the_label_folder_is_never_served(tmp_path: Path) -> None:
    settings = load_settings(label_dir=tmp_path / "turns-to-label")
    blocked = [Path(p) for p in app.launch_kwargs(settings)["blocked_paths"]]
    assert (tmp_path / "turns-to-label").resolve() in blocked
    assert load_settings(data_dir=tmp_path).resolved_label_dir() == tmp_path / "labelling"
