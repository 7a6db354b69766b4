"""Two raters label a 20-turn file in real Chromium (the page's Label tab), then agreement,
adjudication and `cooldown evals run` on the adjudicated suite (`cooldown app` subprocess, no model).

Rater ann gives each turn its gold labels from the shipped suite, marking each technique's evidence by
selecting the words in the turn; rater bo agrees except on a few scores. Halfway through, ann's tab is
closed and a new one resumes where she left off with nothing lost. Bad input (no score, evidence that is
not in the turn) shows its error and saves nothing. Screenshots go to .cooldown-cache/screenshots/
(COOLDOWN_UPDATE_SCREENSHOTS=1: docs/screenshots/).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_kit import chromium, cooldown_app, screenshots_dir, wait_settled
from click.testing import CliRunner
from label_kit import gold_lines, write_turns

from simulator.cli.main import main
from simulator.grading.labels import TurnVerdict
from simulator.labelling import LabelStore
from simulator.ui.labelling import POLARITY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N = 20
BO_DIFFERS = {0: 1, 3: 0, 8: 4, 15: 1}
"""Turn index -> the score bo gives instead of the gold one (turn 0 by an edit: a second version)."""

SELECT_JS = """([quote]) => {
    const turn = document.querySelector('#label-turn .cd-label-turn');
    const walker = document.createTreeWalker(turn, NodeFilter.SHOW_TEXT);
    const nodes = []; let text = '';
    while (walker.nextNode()) { nodes.push([walker.currentNode, text.length]); text += walker.currentNode.data; }
    const start = text.indexOf(quote); if (start < 0) return false;
    const at = (pos) => {
        for (const [node, off] of nodes) if (pos <= off + node.data.length) return [node, pos - off];
    };
    const range = document.createRange();
    range.setStart(...at(start)); range.setEnd(...at(start + quote.length));
    const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    return true;
}"""
"""Selects `quote` inside the turn as a mouse drag would (a real Selection over the turn's text)."""


def _open(browser: Any, url: str, rater: str) -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
    page.goto(url)
    page.get_by_role("tab", name="Label").click()
    page.locator("#label-rater textarea, #label-rater input").first.fill(rater)
    page.locator("#label-open").click()
    expect(page.locator("#label-progress")).to_contain_text(f"{rater}:", timeout=30_000)
    return page


def _progress(page: Any, done: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#label-progress")).to_contain_text(f"{done} of {N} labelled", timeout=30_000)


def _mark_evidence(page: Any, technique: str, quote: str) -> None:
    from playwright.sync_api import expect

    assert page.evaluate(SELECT_JS, [quote]), quote
    page.wait_for_timeout(100)  # selectionchange is dispatched asynchronously
    page.locator(f"#label-take-{technique}").click()
    expect(page.locator(f"#label-ev-{technique} textarea")).to_have_value(quote, timeout=30_000)


def _fill(page: Any, gold: dict[str, Any], score: int) -> None:
    turn = page.locator("#label-turn")
    for behaviour in gold["behaviours"]:
        name = f"{behaviour} ({POLARITY[behaviour]})" if behaviour in POLARITY else behaviour
        page.locator("#label-behaviours").get_by_label(name, exact=True).check()
    page.locator(f'#label-score input[value="{score}"]').check()
    for t in gold["techniques"]:
        page.locator(f'#label-use-{t["technique"]} input[value="{t["use"]}"]').check()
        _mark_evidence(page, t["technique"], t["evidence"])
    for tactic in gold["manipulation_tactics"]:
        page.locator("#label-tactics").get_by_label(tactic, exact=True).check()
    assert turn.inner_text()


def _label_all(page: Any, cases: list[dict[str, Any]], start: int, stop: int, scores: dict[int, int]) -> None:
    from playwright.sync_api import expect

    for n in range(start, stop):
        case = cases[n]
        expect(page.locator("#label-progress")).to_contain_text(f"turn {n + 1} of {N}", timeout=30_000)
        expect(page.locator("#label-turn")).to_contain_text(case["trainee_turn"][:40])
        _fill(page, case["gold"], scores.get(n, case["gold"]["perspective_taking"]))
        page.locator("#label-save").click()
        _progress(page, n + 1)
        if n + 1 < N:  # the next unlabelled turn comes up with an empty form
            expect(page.locator("#label-score input:checked")).to_have_count(0)
            expect(page.locator("#label-behaviours input:checked")).to_have_count(0)


def test_two_raters_label_a_20_turn_file_in_the_browser_and_the_adjudicated_suite_runs(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "labelling"
    folder.mkdir()
    turns = write_turns(folder / "turns.jsonl", N)
    cases = gold_lines(N)
    assert any(c["gold"]["techniques"] for c in cases)
    data, gradio_tmp = tmp_path / "data", tmp_path / "gradio"
    data.mkdir()
    gradio_tmp.mkdir()
    shots = screenshots_dir()
    with cooldown_app(data, gradio_tmp, COOLDOWN_LABEL_DIR=str(folder)) as url, chromium() as browser:
        page = _open(browser, url, "ann")
        _progress(page, 0)
        # bad input is refused with the reason, nothing saved
        page.locator("#label-save").click()
        expect(page.locator("#label-status")).to_contain_text("choose a score from 0 to 4", timeout=30_000)
        page.locator('#label-score input[value="2"]').check()
        page.locator('#label-use-halo input[value="ethical"]').check()
        page.locator("#label-ev-halo textarea").fill("words the trainee never said")
        page.locator("#label-save").click()
        expect(page.locator("#label-status")).to_contain_text("is not in the turn word for word", timeout=30_000)
        wait_settled(page)
        page.screenshot(path=str(shots / "11-label-error.png"), full_page=True)
        assert LabelStore(turns).latest("ann") == {}
        page.locator('#label-use-halo input[value="not used"]').check()
        page.locator("#label-ev-halo textarea").fill("")
        # a real mouse drag over the turn's words, then the button: the words land in the evidence box
        text = page.locator("#label-turn .cd-label-turn")
        text.scroll_into_view_if_needed()
        box = text.bounding_box()
        page.mouse.move(box["x"] + 12, box["y"] + 14)
        page.mouse.down()
        page.mouse.move(box["x"] + 260, box["y"] + 14, steps=8)
        page.mouse.up()
        page.locator("#label-take-reciprocity").click()
        expect(page.locator("#label-status")).to_contain_text("Evidence taken", timeout=30_000)
        dragged = page.locator("#label-ev-reciprocity textarea").input_value()
        assert len(dragged) > 10 and dragged in cases[0]["trainee_turn"], dragged
        page.locator("#label-ev-reciprocity textarea").fill("")

        _label_all(page, cases, 0, 10, {})
        # the tab is closed mid-way; a new one resumes at turn 11 with the 10 labels there
        page.context.close()
        page = _open(browser, url, "ann")
        _progress(page, 10)
        shown = next(n for n, c in enumerate(cases) if n >= 10 and c["gold"]["techniques"])
        _label_all(page, cases, 10, shown, {})
        case = cases[shown]
        _fill(page, case["gold"], case["gold"]["perspective_taking"])
        wait_settled(page)
        page.screenshot(path=str(shots / "12-label-tab.png"), full_page=True)
        page.locator("#label-save").click()
        _progress(page, shown + 1)
        _label_all(page, cases, shown + 1, N, {})
        expect(page.locator("#label-status")).to_contain_text("Every turn of this file is labelled")

        bo = _open(browser, url, "bo")
        _label_all(bo, cases, 0, N, {n: s for n, s in BO_DIFFERS.items() if n})
        # an edit is a new version, and the earlier one stays listed
        bo.locator("#label-item input").click()
        bo.get_by_role("option").filter(has_text=cases[0]["id"]).first.click()
        expect(bo.locator("#label-progress")).to_contain_text(f"turn 1 of {N}", timeout=30_000)
        expect(bo.locator("#label-score input:checked")).to_have_value(str(cases[0]["gold"]["perspective_taking"]))
        bo.locator('#label-score input[value="1"]').check()
        bo.locator("#label-save").click()
        expect(bo.locator("#label-status")).to_contain_text("(version 2)", timeout=30_000)
        bo.locator("#label-prev").click()
        expect(bo.locator("#label-progress")).to_contain_text(f"turn 1 of {N}", timeout=30_000)
        bo.get_by_text("Your saved versions of this turn").click()
        expect(bo.locator("#label-versions")).to_contain_text("v2")
        expect(bo.locator("#label-versions")).to_contain_text("v1")

    store = LabelStore(turns)
    assert store.raters() == ["ann", "bo"]
    runner = CliRunner()
    for rater in ("ann", "bo"):
        result = runner.invoke(main, ["label", "export", str(turns), "--rater", rater,
                                      "--out", str(tmp_path / f"{rater}.jsonl")])
        assert result.exit_code == 0, result.output
        assert f"Wrote {N} of {N} turns" in result.output
    ann = [json.loads(line) for line in (tmp_path / "ann.jsonl").read_text(encoding="utf-8").splitlines()]
    given = [TurnVerdict.model_validate(c["gold"]) for c in cases]
    assert [TurnVerdict.model_validate(c["gold"]) for c in ann] == given  # every label and evidence as given

    result = runner.invoke(main, ["label", "agreement", str(tmp_path / "ann.jsonl"), str(tmp_path / "bo.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"ann vs bo: {N} items labelled by both" in result.output
    assert f"disagreements to adjudicate: {len(BO_DIFFERS)}" in result.output
    score_row = next(line for line in result.output.splitlines() if line.startswith("score (quadratic kappa)"))
    assert 0 < float(score_row.split()[3]) < 1

    answers = "".join(f"{','.join(cases[n]['gold']['behaviours'])}\n{cases[n]['gold']['perspective_taking']}\n"
                      + _technique_answers(cases[n]["gold"]) + f"{','.join(cases[n]['gold']['manipulation_tactics'])}\n"
                      for n in sorted(BO_DIFFERS))  # fmt: skip
    result = runner.invoke(main, ["label", "adjudicate", str(turns), "--rater", "cy", "--from", "ann", "--from", "bo"],
                           input=answers)
    assert result.exit_code == 0, result.output
    assert "0 disagreement(s) left" in result.output
    gold = tmp_path / "adjudicated.jsonl"
    result = runner.invoke(main, ["label", "export", str(turns), "--from", "ann", "--from", "bo", "--adjudicator", "cy",
                                  "--out", str(gold)])
    assert result.exit_code == 0, result.output
    assert f"{N - len(BO_DIFFERS)} turns agreed, {len(BO_DIFFERS)} adjudicated" in result.output
    run = tmp_path / "run"
    result = runner.invoke(main, ["evals", "run", str(gold), "--grader", "local", "--split", "all", "--no-progress",
                                  "--no-html", "--out", str(run)])
    assert result.exit_code in (0, 6), result.output
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert re.search(rf"\b{N}\b", json.dumps(report))


def _technique_answers(gold: dict[str, Any]) -> str:
    names = ",".join(t["technique"] for t in gold["techniques"])
    lines = "".join(f"{t['use']}\n{t['evidence']}\n" for t in gold["techniques"])
    return f"{names}\n{lines}"
