"""Progress and trainer views in headless Chromium, with sign-in on, on a seeded cohort (issue 15 item 4).

The page is built in-process on a scripted caller with COOLDOWN_AUTH set to two trainees and one trainer
(`tom@trainer:...`); the store holds a bulk-seeded cohort (`benchmarks.progress_page.seed`).

- A trainee signs in, opens History and sees their own progress: the summary and the four charts.
- The trainee gets no Trainer tab and no Label tab (the server refuses a trainee the trainer's data,
  test_progress_views.py, and the labeller's, test_label_ui.py).
- The trainer signs in, sees the Trainer tab, the whole cohort (table and charts) and one trainee, and
  downloads the cohort CSV, which has one row per trainee.

Screenshots go to .cooldown-cache/screenshots/ (COOLDOWN_UPDATE_SCREENSHOTS=1: docs/screenshots/).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import chromium, screenshots_dir, served_in_process, sign_in

from benchmarks.progress_page import COHORT_ALSO, DRAWN, seed
from simulator.config import load_settings
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader
from simulator.ui.progress_charts import CHARTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRAINEES = ["ana", "ben", "tom"]
AUTH = "ana:ana-secret-pw,ben:ben-secret-pw,tom@trainer:tom-secret-pw"


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("progress-data")
    settings = load_settings(data_dir=data, llm_grading=False, auth=AUTH)
    with Store.open(settings.database_url, settings.data_dir) as store:
        seed(store, turns=12 * 60, names=TRAINEES)  # 20 calls each
        deps = AppDeps(FakeChatModel(default_reply="Fine."), local_grader(), None, store)
        with served_in_process(settings, deps) as url:
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _sign_in(browser: Any, url: str, user: str, password: str) -> Any:
    page = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True).new_page()
    page.goto(url)
    sign_in(page, user, password)
    return page


def _drawn(page: Any, prefix: str, also: list[str] | None = None) -> None:
    """Until the summary, every chart with its data marks, and the `also` selectors are visible."""
    page.wait_for_function(DRAWN, arg=[prefix, list(CHARTS), "", also or []], timeout=30_000)


def _tab(page: Any, name: str) -> Any:
    return page.get_by_role("tab", name=name)


def test_a_trainee_sees_their_progress_and_no_trainer_view(browser: Any, page_url: str) -> None:
    from playwright.sync_api import expect

    page = _sign_in(browser, page_url, "ana", "ana-secret-pw")
    expect(_tab(page, "History")).to_be_visible()
    assert _tab(page, "Trainer").count() == 0 or not _tab(page, "Trainer").is_visible()
    assert _tab(page, "Label").count() == 0 or not _tab(page, "Label").is_visible()  # trainers and raters only
    _tab(page, "History").click()  # opening the tab draws the progress: no click on "Refresh my progress"
    summary = page.locator("#my-progress-summary")
    expect(summary).to_contain_text("ana", timeout=30_000)
    expect(summary).to_contain_text("20 call(s)")
    expect(summary).to_contain_text("mean perspective-taking")
    _drawn(page, "my-progress")
    page.locator("#my-progress").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots_dir() / "20-my-progress.png"), full_page=True)
    assert "ben" not in summary.inner_text()

    page.context.close()


def test_a_trainer_sees_the_cohort_one_trainee_and_downloads_csv(browser: Any, page_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = _sign_in(browser, page_url, "tom", "tom-secret-pw")
    trainer_tab = _tab(page, "Trainer")
    expect(trainer_tab).to_be_visible(timeout=30_000)
    expect(_tab(page, "Label")).to_be_visible()
    trainer_tab.click()
    page.locator("#trainer-show").click()
    summary = page.locator("#trainer-summary")
    expect(summary).to_contain_text("The whole cohort", timeout=30_000)
    expect(summary).to_contain_text("60 call(s)")
    expect(summary).to_contain_text("3 trainee(s)")
    table = page.locator("#trainer-table")
    for name in TRAINEES:
        expect(table).to_contain_text(name)
    _drawn(page, "trainer", COHORT_ALSO)
    page.screenshot(path=str(screenshots_dir() / "21-trainer-cohort.png"), full_page=True)

    with page.expect_download(timeout=30_000) as info:
        page.locator("#trainer-csv").click()
    saved = tmp_path / "cohort.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [r["trainee"] for r in rows] == TRAINEES
    assert all(int(r["calls"]) == 20 for r in rows)
    assert all(0 <= float(r["mean_perspective_taking"]) <= 4 for r in rows)

    page.locator("#trainer-pick input").click()
    page.get_by_role("option", name="ben").click()
    page.locator("#trainer-show").click()
    expect(summary).to_contain_text("ben", timeout=30_000)
    expect(summary).to_contain_text("20 call(s)")
    expect(page.locator("#trainer-csv")).to_contain_text("ben")
    _drawn(page, "trainer", ["#trainer-csv"])
    expect(page.locator("#trainer-table table")).to_have_count(0)  # the table is the cohort's only
    page.screenshot(path=str(screenshots_dir() / "22-trainer-one-trainee.png"), full_page=True)
    page.context.close()
