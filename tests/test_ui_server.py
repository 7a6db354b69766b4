"""The page's server side, over HTTP with `gradio_client` and a fake caller model (no browser, no LLM).

- D5: empty, whitespace-only and 50,000-character turns sent straight to the endpoint (bypassing the
  textbox's max_length) are rejected in the handler, and no model is ever called;
- D6: the launch settings (no share link, no error details, no extra paths, data and personas blocked,
  queue concurrency above 1);
- D2 (part): the database, persona files and /etc/passwd are not served;
- `cooldown app` says where the page is and never suggests a share link.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from browser_kit import cooldown_app

from simulator.config import Settings, load_settings
from simulator.llm.fake import FakeChatModel
from simulator.persona.loader import PERSONAS_DIR
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader

ROOT = Path(__file__).resolve().parent.parent


def _app_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cooldown_app_under_test", ROOT / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeChatModel, Settings, Any]]:
    data = tmp_path_factory.mktemp("ui-server-data")
    settings = load_settings(data_dir=data, llm_grading=False)
    app = _app_module()
    fake = FakeChatModel(default_reply="I was home all day. Nobody came.")
    store = Store.open(settings.database_url, settings.data_dir)
    demo = app.build(settings, AppDeps(fake, local_grader(), None, store))
    demo.queue(default_concurrency_limit=16, max_size=100)
    port = _free_port()
    kwargs = app.launch_kwargs(settings, "127.0.0.1", port)
    demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", fake, settings, app
    finally:
        demo.close()
        store.close()


Served = tuple[str, FakeChatModel, Settings, Any]


def test_bad_turns_are_rejected_in_the_handler_without_any_model_call(served: Served) -> None:
    from gradio_client import Client

    url, fake, settings, _ = served
    client = Client(url, verbose=False)
    fake.requests.clear()
    before_start = client.predict("x" * 10, api_name="/send")
    assert "Start call" in before_start[3]
    started = client.predict("Sam", "backfire_brian", "normal", "coach", api_name="/start_call")
    assert "Brian Keller" in started[3]
    for bad, expected in (("", "empty"), ("   \n\t ", "empty"), ("x" * 50_000, "the limit is 2,000")):
        out = client.predict(bad, api_name="/send")
        assert expected in out[3], out[3]
    assert fake.requests == []
    with Store.open(settings.database_url, settings.data_dir) as store:
        record = store.load_session(store.list_sessions("Sam")[0].id)
    assert [t.role for t in record.turns] == ["customer"]

    out = client.predict("I'm sorry. What happened while you were waiting?", api_name="/send")
    assert len(fake.requests) >= 1 and "What happened" in str(out[0])
    assert 'data-turn="1"' in out[1] and "Perspective-taking" in out[2]


def test_bad_start_inputs_are_rejected(served: tuple[str, FakeChatModel, Settings, Any]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(served[0], verbose=False)
    assert "name" in client.predict("", "backfire_brian", "normal", "coach", api_name="/start_call")[3]
    assert "at most 40" in client.predict("n" * 500, "backfire_brian", "normal", "coach", api_name="/start_call")[3]
    # values outside the choices never reach the handler: Gradio's own preprocessing refuses them
    for args in (("Sam", "../../etc/passwd", "normal", "coach"), ("Sam", "backfire_brian", "insane", "coach"),
                 ("Sam", "backfire_brian", "easy", "free-for-all")):  # fmt: skip
        with pytest.raises(AppError):
            client.predict(*args, api_name="/start_call")


def test_launch_settings_are_locked_down(served: tuple[str, FakeChatModel, Settings, Any]) -> None:
    _, _, settings, app = served
    kwargs = app.launch_kwargs(settings)
    assert kwargs["share"] is False and kwargs["show_error"] is False
    assert kwargs["allowed_paths"] == [] and kwargs["max_file_size"]
    blocked = [Path(p) for p in kwargs["blocked_paths"]]
    assert settings.data_dir.resolve() in blocked and PERSONAS_DIR.resolve() in blocked
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["auth"] is None
    source = (ROOT / "simulator" / "ui" / "app.py").read_text(encoding="utf-8")
    assert "default_concurrency_limit=16" in source and "analytics_enabled=False" in source


def test_a_designers_persona_folders_are_blocked_from_serving_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app_module()
    mine, team = tmp_path / "mine", tmp_path / "team"
    monkeypatch.setenv("COOLDOWN_PERSONAS", f"{mine}{os.pathsep}{team}")
    blocked = [Path(p) for p in app.launch_kwargs(load_settings())["blocked_paths"]]
    assert mine.resolve() in blocked and team.resolve() in blocked and PERSONAS_DIR.resolve() in blocked


def test_auth_setting_turns_on_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app_module()
    monkeypatch.setenv("COOLDOWN_AUTH", "ana:pw-one,ben:pw-two")
    assert app.launch_kwargs(load_settings())["auth"] == [("ana", "pw-one"), ("ben", "pw-two")]


def test_private_files_are_not_served(served: tuple[str, FakeChatModel, Settings, Any]) -> None:
    url, _, settings, _ = served
    targets = [
        settings.data_dir / "cooldown.db", PERSONAS_DIR / "backfire_brian.yaml", Path("/etc/passwd"),
        ROOT / "app.py", ROOT / "simulator" / "ui" / "app.py",
    ]  # fmt: skip
    for target in targets:
        for route in (f"gradio_api/file={target}", f"file={target}", f"gradio_api/file=/tmp/gradio/../..{target}"):
            try:
                with urllib.request.urlopen(url + route, timeout=10) as response:
                    body = response.read()
                    assert response.status != 200 or (b"root:" not in body and b"SQLite" not in body), route
                    assert b"identity:" not in body and b"def build" not in body, route
            except urllib.error.HTTPError as exc:
                assert exc.code in (403, 404, 400), (route, exc.code)


@pytest.mark.slow
def test_cooldown_app_says_where_the_page_is_and_offers_no_share_link(tmp_path: Path) -> None:
    data, gradio_tmp = tmp_path / "data", tmp_path / "gradio"
    data.mkdir()
    gradio_tmp.mkdir()
    log = data / "app.log"
    with cooldown_app(data, gradio_tmp) as url:
        deadline = time.monotonic() + 30
        while url.rstrip("/") not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # Gradio prints its share hint just after the local URL
    output = log.read_text(errors="replace")
    assert url.rstrip("/") in output, output
    assert "share=True" not in output and "public link" not in output, output
