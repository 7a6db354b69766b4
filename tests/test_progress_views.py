"""Trainer role in COOLDOWN_AUTH, and the progress views' handlers called directly (no server, no browser).

The trainer's data is guarded on the server: a signed-in trainee who sends the trainer's event by hand
gets a refusal and no data, whatever the page shows.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest

from benchmarks.progress_page import seed
from simulator.config import load_settings
from simulator.errors import ConfigError
from simulator.grading.labels import Behaviour
from simulator.llm.fake import FakeChatModel
from simulator.persona.library import default_library
from simulator.storage import Store
from simulator.storage.progress import CallProgress, OutcomeCount, Progress
from simulator.ui.deps import Account, AppDeps, local_grader, parse_accounts, parse_auth, trainers_from
from simulator.ui.handlers import PageHandlers
from simulator.ui.layout import Page, page_layout
from simulator.ui.library import CallerLibrary
from simulator.ui.progress import COHORT, NO_TRAINEE_YET, NOT_TRAINER, ProgressHandlers, table_rows, with_caller_names
from simulator.ui.progress_charts import CHARTS, charts_html

AUTH = "ana:ana-pw,tom@trainer:tom-pw"


def test_the_trainer_role_is_a_suffix_on_the_user_name() -> None:
    assert parse_accounts("ana:pw1, tom@trainer:p:w,  ben@Trainee:x") == [
        Account("ana", "pw1", "trainee"), Account("tom", "p:w", "trainer"), Account("ben", "x", "trainee"),
    ]  # fmt: skip
    assert parse_auth("ana:pw1,tom@trainer:pw2") == [("ana", "pw1"), ("tom", "pw2")]  # tom signs in as "tom"
    assert parse_auth("ana:pw1, ben:p:w") == [("ana", "pw1"), ("ben", "p:w")]  # old values mean what they meant
    with pytest.raises(ConfigError) as err:
        parse_accounts("ana:pw1,tom@admin:s3cret-pw")
    assert "entry 2" in str(err.value) and "trainee, trainer" in str(err.value)
    assert "s3cret" not in str(err.value)
    with pytest.raises(ConfigError, match="entry 1's user name"):
        parse_accounts("<b>@trainer:pw")


def test_trainers_come_from_the_setting_and_their_passwords_stay_secret() -> None:
    settings = load_settings(auth=AUTH)
    assert trainers_from(settings) == {"tom"}
    assert "tom-pw" in settings.secrets() and "ana-pw" in settings.secrets()
    assert trainers_from(load_settings()) == frozenset()


def _request(user: str | None) -> Any:
    return SimpleNamespace(username=user)


def _handlers(auth: str | None, data: Path) -> Iterator[tuple[Page, ProgressHandlers]]:
    settings = load_settings(llm_grading=False, auth=auth, data_dir=data)
    store = Store.open(settings.database_url, settings.data_dir)
    seed(store, turns=12 * 12, names=["ana", "ben", "tom"])
    deps = AppDeps(FakeChatModel(default_reply="Fine."), local_grader(), None, store)
    library = CallerLibrary(default_library(settings))
    with gr.Blocks():
        layout = page_layout("", library, ask_name=auth is None, max_turn_chars=2000, llm_on=False)
    base = PageHandlers(layout, settings, deps, library, auth_on=auth is not None)
    yield layout, ProgressHandlers(base, trainers_from(settings))
    store.close()


@pytest.fixture
def signed_in(tmp_path: Path) -> Iterator[tuple[Page, ProgressHandlers]]:
    yield from _handlers(AUTH, tmp_path)


def test_a_trainee_sees_their_own_progress(signed_in: tuple[Page, ProgressHandlers]) -> None:
    layout, h = signed_in
    view = layout.my_progress.view
    out = h.my_progress("typed name ignored", _request("ana"))
    assert "**ana**: 4 call(s)" in out[view.summary]
    charts = _charts(out[view.charts])
    assert list(charts) == list(CHARTS)
    assert len(charts["scores"].findall(".//{*}circle")) == 4  # one point per call
    assert len(charts["behaviours"].findall(".//{*}rect[@data-mark]")) == len(Behaviour)  # ana uses them all
    totals = [int(t.text or "") for t in charts["outcomes"].iter("{http://www.w3.org/2000/svg}text")
              if (t.text or "").isdigit() and t.get("x", "0") != "0"]  # fmt: skip
    assert sum(totals) == 4  # the bars' end labels: calls per caller and difficulty


def test_opening_the_history_tab_draws_the_progress_or_says_what_to_do(tmp_path: Path) -> None:
    gen = _handlers(None, tmp_path)  # no sign-in: the trainee is the name typed in the Call tab
    layout, h = next(gen)
    view = layout.my_progress.view
    drawn = h.my_progress_on_open("ana", None)
    assert "**ana**: 4 call(s)" in drawn[view.summary] and list(_charts(drawn[view.charts])) == list(CHARTS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no name yet is no mistake: no warning toast
        nobody = h.my_progress_on_open("", None)
    assert nobody == {view.summary: NO_TRAINEE_YET, view.charts: ""}
    assert "type your name in the Call tab" in NO_TRAINEE_YET
    assert "no calls yet" in h.my_progress_on_open("Newcomer", None)[view.summary]
    gen.close()


def test_the_charts_name_the_callers_and_the_csv_keeps_their_ids(
    signed_in: tuple[Page, ProgressHandlers],
) -> None:
    layout, h = signed_in
    charts = h.my_progress(None, _request("ana"))[layout.my_progress.view.charts]
    assert "Brian Keller · " in charts and "Dana Okafor · " in charts  # ana's calls include both
    assert "backfire_brian" not in charts and "dana_delayed_order" not in charts
    left = with_caller_names(h.store.progress("ana"), {"backfire_brian": "Brian Keller"})
    assert "dana_delayed_order" in {o.persona for o in left.outcomes}  # an id the map lacks stays as it is
    shown = h.trainer_show("ana", None, _request("tom"))
    assert "Brian Keller · " in shown[layout.trainer.view.charts]
    assert "backfire_brian" in Path(shown[layout.trainer.download].value["path"]).read_text(encoding="utf-8")


def _charts(html: str) -> dict[str, ET.Element]:
    """The figures of a view's charts HTML (which must be well-formed XML), by their data-chart name."""
    root = ET.fromstring(html.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '))
    return {f.get("data-chart", ""): f for f in root.iter("figure")}


def test_charts_escape_what_the_store_holds_and_say_when_empty() -> None:
    calls = [CallProgress(session_id=f"s{n}", trainee="ana", started=datetime(2026, 9, n, tzinfo=UTC),
                          persona='<img src=x onerror="alert(1)">', difficulty="hard", outcome="resolved",
                          graded_turns=0, mean_score=None, manipulative_turns=0) for n in (1, 2)]  # fmt: skip
    progress = Progress(trainee="ana", calls=calls, call_count=2, outcomes=[
        OutcomeCount(persona='<img src=x onerror="alert(1)">', difficulty="hard", outcome="resolved", calls=2)])
    html = charts_html(progress)
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; · hard" in html
    charts = _charts(html)
    assert "No graded turn yet" in ET.tostring(charts["scores"], encoding="unicode")
    assert "No manipulative move" in ET.tostring(charts["manipulative"], encoding="unicode")
    assert "No graded turn yet" in ET.tostring(charts["behaviours"], encoding="unicode")
    assert charts_html(Progress(trainee="ana")) == ""  # the summary says there is no call yet


def test_only_trainers_get_the_trainer_tab_and_its_data(signed_in: tuple[Page, ProgressHandlers]) -> None:
    layout, h = signed_in
    trainer = layout.trainer
    assert h.trainer_load(_request("ana"))[trainer.tab].visible is False
    shown = h.trainer_load(_request("tom"))
    assert shown[trainer.tab].visible is True
    assert [v for _, v in shown[trainer.pick].choices] == [COHORT, "ana", "ben", "tom"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = h.trainer_show(COHORT, None, _request("ana"))
        nobody = h.trainer_show("ben", None, _request(None))
    assert refused == {trainer.status: f"⚠ {NOT_TRAINER}"}  # no plot, no table, no file
    assert nobody == {trainer.status: f"⚠ {NOT_TRAINER}"}


def test_a_trainer_sees_the_cohort_and_one_trainee_with_csv(signed_in: tuple[Page, ProgressHandlers]) -> None:
    layout, h = signed_in
    trainer = layout.trainer
    out = h.trainer_show(COHORT, None, _request("tom"))
    assert "The whole cohort: 12 call(s)" in out[trainer.view.summary]
    assert "(3 trainee(s))" in _charts(out[trainer.view.charts])["scores"].findall(".//{*}title")[0].text
    assert [row[0] for row in table_rows(h.store.progress())] == ["ana", "ben", "tom"]
    assert out[trainer.table].count("<tr>") == 1 + 3 and "<td>ben</td>" in out[trainer.table]
    csv_path = Path(out[trainer.download].value["path"])
    assert csv_path.name.startswith("cooldown-cohort-") and csv_path.read_text().startswith("trainee,calls,")
    assert out[layout.downloads] == str(csv_path.parent)
    one = h.trainer_show("ben", out[layout.downloads], _request("tom"))
    assert "**ben**: 4 call(s)" in one[trainer.view.summary]
    assert one[trainer.table] == ""
    ben_csv = Path(one[trainer.download].value["path"])
    assert ben_csv.parent == csv_path.parent and len(ben_csv.read_text().splitlines()) == 1 + 4


def test_without_sign_in_there_is_no_trainer(tmp_path: Path) -> None:
    for layout, h in _handlers(None, tmp_path):
        assert h.trainer_load(_request("tom"))[layout.trainer.tab].visible is False
        out = h.my_progress("ben", None)
        assert "**ben**: 4 call(s)" in out[layout.my_progress.view.summary]
