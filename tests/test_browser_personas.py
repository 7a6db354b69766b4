"""A persona designer's own folder on the page: `COOLDOWN_PERSONAS` in real Chromium (`cooldown app` subprocess).

A persona written into a temporary folder named by COOLDOWN_PERSONAS shows as a card and in the picker
next to the built-in callers, and a call starts with it. A second persona added while the server runs
shows after a page reload, without a restart. The folder's files are never served.

Starting a call plays the persona's scripted opening line, so no model runs here.
Screenshots go to .cooldown-cache/screenshots/ (COOLDOWN_UPDATE_SCREENSHOTS=1: docs/screenshots/).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from browser_kit import chromium, cooldown_app, screenshots_dir, wait_settled

from simulator.persona.loader import PERSONAS_DIR, check_persona_file

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _write_persona(folder: Path, persona_id: str, name: str) -> Path:
    """A copy of a shipped persona with a new id, file name and identity.name."""
    text = (PERSONAS_DIR / "backfire_brian.yaml").read_text(encoding="utf-8")
    assert text.count("\nid: backfire_brian\n") == 1 and text.count("\n  name: Brian Keller\n") == 1
    text = text.replace("\nid: backfire_brian\n", f"\nid: {persona_id}\n")
    text = text.replace("\n  name: Brian Keller\n", f"\n  name: {name}\n")
    path = folder / f"{persona_id}.yaml"
    path.write_text(text, encoding="utf-8")
    persona, problems = check_persona_file(path)
    assert persona is not None, problems
    return path


def _start_with(page: Any, label: str, trainee: str) -> None:
    from playwright.sync_api import expect

    page.get_by_label(label).check()
    page.locator("#trainee-name textarea, #trainee-name input").first.fill(trainee)
    page.locator("#start-call").click()
    expect(page.locator("#status")).to_contain_text(f"On the line: {label.split(' — ')[0]}", timeout=30_000)
    page.locator('#call-chat [data-testid="bot"]').first.wait_for(timeout=30_000)


def test_a_designers_persona_folder_shows_on_the_page_and_reloads_without_a_restart(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "my-personas"
    folder.mkdir()
    first = _write_persona(folder, "tess_own_caller", "Tess Morgan")
    data, gradio_tmp = tmp_path / "data", tmp_path / "gradio"
    data.mkdir()
    gradio_tmp.mkdir()
    with cooldown_app(data, gradio_tmp, COOLDOWN_PERSONAS=str(folder)) as url, chromium() as browser:
        page = browser.new_context(viewport={"width": 1360, "height": 1000}).new_page()
        page.goto(url)
        expect(page.locator('.cd-card[data-persona="tess_own_caller"]')).to_contain_text("Tess Morgan")
        expect(page.get_by_label("Tess Morgan — convinced")).to_have_count(1)
        expect(page.locator('.cd-card[data-persona="backfire_brian"]')).to_have_count(1)  # the built-in ones stay
        _start_with(page, "Tess Morgan — convinced", "Designer")

        second = _write_persona(folder, "uma_second_caller", "Uma Lindgren")
        page.reload()
        expect(page.locator('.cd-card[data-persona="uma_second_caller"]')).to_contain_text("Uma Lindgren")
        expect(page.get_by_label("Uma Lindgren — convinced")).to_have_count(1)
        expect(page.get_by_label("Tess Morgan — convinced")).to_have_count(1)
        wait_settled(page)
        page.screenshot(path=str(screenshots_dir() / "10-own-persona-folder.png"), full_page=True)
        _start_with(page, "Uma Lindgren — convinced", "Designer")

        for path in (first, second):
            for route in (f"gradio_api/file={path}", f"file={path}"):
                try:
                    with urllib.request.urlopen(url + route, timeout=10) as response:
                        body = response.read()
                        assert response.status != 200 or b"identity:" not in body, route
                except urllib.error.HTTPError as exc:
                    assert exc.code in (400, 403, 404), (route, exc.code)
