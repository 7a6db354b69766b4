"""Why the caller said that, in headless Chromium on the scripted caller (`cooldown app` subprocess, no model).

With `COOLDOWN_CALLER__MODEL=scripted` every caller reply is the persona's own line for its plan, so the
call, its debrief table and the "Meant to: …" lines under the transcript's caller replies are the same on
every run. The trainee reads the table: the fact a reply was to carry shows as its words, never as the
persona's fact id, and no header or cell of the debrief's tables is broken mid-word.
Screenshots go to .cooldown-cache/screenshots/ (COOLDOWN_UPDATE_SCREENSHOTS=1: docs/screenshots/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_kit import chromium, cooldown_app, screenshots_dir, wait_settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TURNS = [
    "I'm really sorry. You were home all day and nothing came. What happened while you were waiting?",
    "Our tracking shows it was delivered at 2:14pm, so the bench was delivered.",
    "That sounds exhausting, taking a day off for this. What would make this right for you today?",
]

SPLIT_WORDS = """() => Array.from(document.querySelectorAll('#debrief-text th, #debrief-text td'))
    .filter(cell => /^\\S+$/.test(cell.innerText.trim()))
    .filter(cell => {
        const r = document.createRange();
        r.selectNodeContents(cell);
        return r.getClientRects().length > 1;
    })
    .map(cell => cell.innerText.trim())"""
"""One-word cells (headers like "turn", "local:appraiser") drawn on more than one line: broken mid-word."""


def test_the_debrief_says_why_the_scripted_caller_said_each_line(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    data, gradio_tmp = tmp_path / "data", tmp_path / "gradio"
    data.mkdir()
    gradio_tmp.mkdir()
    with cooldown_app(data, gradio_tmp, COOLDOWN_CALLER__MODEL="scripted") as url, chromium() as browser:
        page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
        page.goto(url)
        page.locator(".cd-card").first.wait_for()
        wait_settled(page)
        page.locator("#trainee-name textarea, #trainee-name input").first.fill("Sam")
        page.get_by_label("Brian Keller — convinced").check()
        page.locator("#start-call").click()
        bots = page.locator('#call-chat [data-testid="bot"]')
        bots.first.wait_for(timeout=60_000)
        for n, said in enumerate(TURNS, start=1):
            page.locator("#turn-box textarea").fill(said)
            page.locator("#send").click()
            expect(bots).to_have_count(n + 1, timeout=60_000)
            expect(page.locator("#turn-box textarea")).to_be_editable(timeout=30_000)
        page.locator("#end-call").click()

        debrief = page.locator("#debrief-text")
        expect(debrief).to_contain_text("Why the caller said that", timeout=60_000)
        why = page.locator("#debrief-text h2", has_text="Why the caller said that")
        table = page.locator("#debrief-text h2:has-text('Why the caller said that') ~ table").first
        rows = [[c.strip() for c in r.split("\t")] for r in table.locator("tbody tr").all_inner_texts()]
        assert [r[0] for r in rows] == ["1", "2", "3"], rows
        assert [r[2] for r in rows] == ["answer", "push back", "restate demand"], rows
        assert rows[0][3] == "fact: “Your tracking page says delivered at 2:14 on Tuesday.”", rows
        assert all(r[4] == "the scripted caller (the persona's own line)" for r in rows), rows
        assert "fact tracking" not in debrief.inner_text()  # the trainee never reads a persona's fact id
        assert page.evaluate(SPLIT_WORDS) == []

        why.scroll_into_view_if_needed()
        top, box = why.bounding_box(), table.bounding_box()
        assert top is not None and box is not None
        page.screenshot(
            path=str(screenshots_dir() / "14-why-the-caller-said-that.png"),
            clip={"x": box["x"] - 12, "y": top["y"] - 8, "width": box["width"] + 24,
                  "height": box["y"] + box["height"] - top["y"] + 20},
        )  # fmt: skip

        page.locator("#debrief-transcript-box").get_by_text("Transcript with annotations").click()
        plans = page.locator("#debrief-transcript [data-plan]")
        expect(plans).to_have_count(len(TURNS), timeout=10_000)
        assert plans.first.inner_text().startswith("Meant to: answer · fact: “Your tracking page says")
        assert "voiced by the scripted caller" in plans.first.inner_text()
