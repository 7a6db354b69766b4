"""The trainee's page in real headless Chromium, on the real embedded model (`cooldown app` subprocess).

One trainee picks the backfire caller, plays three turns and watches the mood panel move, ends the
call, sees the debrief plots and why the caller said each line (the table, and the plan under each
caller reply of the transcript), downloads the transcript, reopens the call from History, and in the
designer tab shows a persona, plans the caller's reply to a trainee line and lints a persona. Two more
browser contexts play at the same time and never see each other's turns; one of them types HTML/Markdown
attacks that must show as text and run or load nothing.
Screenshots of each step are written to .cooldown-cache/screenshots/ (ignored by git, so `make test` leaves
the checkout clean); with COOLDOWN_UPDATE_SCREENSHOTS=1 they replace the committed ones in docs/screenshots/.

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/setup.sh); never `playwright install`.
LLM grading is switched off here (COOLDOWN_LLM_GRADING=false): two embedded servers on two shared
cores make every turn twice as slow, and the page's grader display is covered by the unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import Watch, chromium, cooldown_app, full_page_screenshot, screenshots_dir, wait_settled

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TURN_TIMEOUT_MS = 240_000
"""One caller reply from the 135M model on two busy cores (guard regenerations included)."""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data, gradio_tmp = tmp_path_factory.mktemp("browser-data"), tmp_path_factory.mktemp("gradio-tmp")
    with cooldown_app(data, gradio_tmp) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def _start(page: object, url: str, name: str) -> None:
    page.goto(url)  # type: ignore[attr-defined]
    page.locator("#trainee-name textarea, #trainee-name input").first.fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Brian Keller — convinced").check()  # type: ignore[attr-defined]
    page.locator("#start-call").click()  # type: ignore[attr-defined]
    page.locator('#call-chat [data-testid="bot"]').first.wait_for(timeout=60_000)  # type: ignore[attr-defined]


def _mood(page: object) -> dict[str, int]:
    rows = page.locator("#mood-panel [data-var]")  # type: ignore[attr-defined]
    return {rows.nth(i).get_attribute("data-var"): int(rows.nth(i).get_attribute("data-value")) for i in range(3)}


def _type_turn(page: object, text: str) -> None:
    page.locator("#turn-box textarea").fill(text)  # type: ignore[attr-defined]
    page.locator("#send").click()  # type: ignore[attr-defined]


def _wait_turn(page: object, n: int) -> None:
    """Until the mood panel shows trainee turn n, the caller's reply to it is complete and the input is back."""
    page.wait_for_function(  # type: ignore[attr-defined]
        """n => {
            const mood = document.querySelector('#mood-panel [data-turn]');
            const bots = document.querySelectorAll('#call-chat [data-testid="bot"]').length;
            const status = (document.querySelector('#status') || {}).innerText || '';
            const box = document.querySelector('#turn-box textarea');
            return mood && mood.dataset.turn === String(n) && bots >= n + 1 && !status.includes('…')
                && box && !box.disabled;
        }""",
        arg=n,
        timeout=TURN_TIMEOUT_MS,
    )


def _chat_text(page: object) -> str:
    return str(page.locator("#call-chat").inner_text())  # type: ignore[attr-defined]


def test_trainee_plays_a_whole_call(app_url: str, browser: object, tmp_path: Path) -> None:
    shots = screenshots_dir()
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    watch = Watch(page, app_url)
    page.goto(app_url)
    page.locator(".cd-card").first.wait_for()
    wait_settled(page)
    assert "SmolLM2-135M" in page.locator("[data-models]").inner_text()
    assert "Demo-grade" in page.locator("[data-models]").inner_text()
    page.screenshot(path=str(shots / "01-pick-a-caller.png"), full_page=True)

    _start(page, app_url, "Alex")
    start = _mood(page)
    moods = [start]
    turns = [
        "I'm really sorry. You were home all day and nothing came. What happened while you were waiting?",
        "Our tracking shows it was delivered at 2:14pm, so the bench was delivered.",
        "That sounds exhausting, taking a day off for this. What would make this right for you today?",
    ]
    for n, text in enumerate(turns, start=1):
        _type_turn(page, text)
        _wait_turn(page, n)
        moods.append(_mood(page))
        assert page.locator(f'#feedback-panel [data-turn="{n}"]').count() == 1
        if n == 2:
            page.screenshot(path=str(shots / "02-the-call.png"), full_page=True)
    # the state machine moved the caller: listening calmed him, confronting him with data did not
    assert moods[1]["anger"] < start["anger"], moods
    assert moods[2]["anger"] > moods[1]["anger"] or moods[2]["entrenchment"] > moods[1]["entrenchment"], moods
    assert len({tuple(m.values()) for m in moods}) >= 3, moods
    assert "Perspective-taking" in page.locator("#feedback-panel").inner_text()
    page.screenshot(path=str(shots / "03-feedback-and-mood.png"), full_page=True)

    page.locator("#end-call").click()
    page.locator("#debrief-mood-plot img, #debrief-mood-plot canvas").first.wait_for(timeout=120_000)
    page.locator("#debrief-score-plot img, #debrief-score-plot canvas").first.wait_for(timeout=30_000)
    debrief = page.locator("#debrief-text").inner_text()
    assert "Debrief" in debrief and "Why the caller said that" in debrief
    # the transcript open: "Meant to: …" under each caller reply to a turn
    page.locator("#debrief-transcript-box").get_by_text("Transcript with annotations").click()
    page.locator("#debrief-transcript [data-plan]").first.wait_for(timeout=10_000)
    assert page.locator("#debrief-transcript [data-plan]").count() == len(turns)
    assert "Meant to:" in page.locator("#debrief-transcript").inner_text()
    page.screenshot(path=str(shots / "04-debrief.png"), full_page=True)

    with page.expect_download(timeout=30_000) as info:
        page.locator("#debrief-dl-md").click()
    saved = tmp_path / "call.md"
    info.value.save_as(saved)
    exported = saved.read_text(encoding="utf-8")
    assert turns[1] in exported and "Debrief" in exported

    page.get_by_role("tab", name="History").click()
    page.locator("#history-refresh").click()
    page.get_by_text("1 call(s) for Alex.").wait_for(timeout=60_000)
    assert "Brian Keller" in page.locator("#history-table").inner_text()  # the caller by name, not its id
    page.locator("#history-pick input").click()
    page.get_by_role("option").first.click()
    page.locator("#history-open").click()
    page.locator("#history-mood-plot img, #history-mood-plot canvas").first.wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "05-history.png"), full_page=True)

    page.get_by_role("tab", name="Persona designer").click()  # the picked persona shows without a click
    page.get_by_text("Facts the caller knows").wait_for(timeout=30_000)
    # what would the caller do? the planned act and fact, and the persona's own line (no model runs)
    page.locator("#try-line textarea").fill("How much did you pay for it?")
    page.locator("#try-plan").click()
    page.locator("#plan-out").get_by_text("Meant to:").wait_for(timeout=30_000)
    plan = page.locator("#plan-out").inner_text()
    assert "The appraiser heard:" in plan and "Why:" in plan and "The persona's own line for it:" in plan, plan
    page.locator("#designer-try").screenshot(path=str(shots / "13-what-would-the-caller-do.png"))
    page.locator("#lint-src .cm-content").fill("id: broken\nidentity:\n  name: 5\n  bogus: yes\n")
    page.locator("#lint").click()
    page.wait_for_function(
        "() => /:\\d+:\\d+:/.test((document.querySelector('#lint-out textarea') || {}).value || '')", timeout=30_000
    )
    assert re.search(r"broken\.yaml:\d+:\d+: ", page.locator("#lint-out textarea").input_value())
    full_page_screenshot(page, shots / "06-persona-designer.png")  # the prompt's code box drawn in full
    assert watch.outside == [], watch.outside
    assert watch.dialogs == []
    context.close()


def test_two_trainees_never_see_each_other(app_url: str, browser: object) -> None:
    a = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    b = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page_a, page_b = a.new_page(), b.new_page()
    watch_a, watch_b = Watch(page_a, app_url), Watch(page_b, app_url)
    _start(page_a, app_url, "Avery")
    _start(page_b, app_url, "Blake")
    attack = (
        'ZULU <img src=x onerror="alert(1)"> <script>alert(2)</script> '
        "![pixel](http://203.0.113.9/pixel.png) [link](javascript:alert(3)) — what happened?"
    )
    _type_turn(page_a, "ALPHA: I'm sorry, what happened when you were waiting at home?")
    _type_turn(page_b, attack)
    _wait_turn(page_a, 1)
    _wait_turn(page_b, 1)
    chat_a, chat_b = _chat_text(page_a), _chat_text(page_b)
    assert "ALPHA" in chat_a and "ZULU" not in chat_a
    assert "ZULU" in chat_b and "ALPHA" not in chat_b
    # the attack is shown as text, and runs or loads nothing
    assert "<img" in chat_b and "onerror" in chat_b and "![pixel](http://203.0.113.9/pixel.png)" in chat_b
    assert page_b.locator("#call-chat img[src='x'], #call-chat script").count() == 0
    assert page_b.locator("#feedback-panel img, #feedback-panel script").count() == 0
    assert watch_a.dialogs == [] and watch_b.dialogs == []
    assert watch_a.outside == [] and watch_b.outside == [], (watch_a.outside, watch_b.outside)
    page_b.screenshot(path=str(screenshots_dir() / "07-attack-rendered-as-text.png"), full_page=True)
    a.close()
    b.close()
