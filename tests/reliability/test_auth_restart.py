"""RELIABILITY §8 D3 (sign-in over HTTP) and D7 (the server killed mid-session, then restarted).

The page is `app.build(settings, deps)` with a fake caller (the app's test hook; `cooldown app` has no
fake-model switch) and the shipped `launch_kwargs`, in its own process on a free loopback port with a temp
data directory. D3 sets `COOLDOWN_AUTH` exactly as an operator would and reads it through `load_settings()`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import FigureBook
from .support import ROOT

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

USER, PASSWORD = "alice", "correct-horse-battery-staple"
LAUNCHER = r"""
import importlib.util, sys, time
from pathlib import Path
from simulator.config import load_settings
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader

root, data, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("cooldown_app", root / "app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
settings = load_settings(data_dir=data, llm_grading=False)   # COOLDOWN_AUTH comes from the environment

def reply(request):
    last = [m.content for m in request.messages if m.role == "user"][-1:] or [""]
    if "tok-slow" in last[0]:
        time.sleep(60)   # a caller that never answers: the server is killed while it waits
    return "Fine. I was home all day and nobody came."

fake = FakeChatModel(default_reply="I was home all day.")
fake._info = ModelInfo(role="caller", provider="fake", model="fake-caller", prompt_form="chat")
fake.enqueue(*([reply] * 10000))
store = Store.open(settings.resolved_database_url())
demo = app.build(settings, AppDeps(fake, local_grader(), None, store))
demo.queue(default_concurrency_limit=16, max_size=100)
demo.launch(**app.launch_kwargs(settings, "127.0.0.1", port), quiet=True, prevent_thread_lock=False)
"""
# Things only the signed-in page shows: endpoint names, element ids, the persona library, the page's tabs.
LOGIN_ONLY = '"auth_required":true'
APP_MARKERS = ("start_call", "send_button", "trainee-name", "turn-box", "backfire_brian", "Persona designer",
               "Start call", "end_call")  # fmt: skip


@dataclass
class Server:
    """The page in a subprocess."""

    work: Path
    port: int
    env: dict[str, str]
    child: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def data(self) -> Path:
        return self.work / "data"

    def start(self) -> float:
        script = self.work / "launch.py"
        script.write_text(LAUNCHER)
        self.data.mkdir(exist_ok=True)
        started = time.monotonic()
        self.child = subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(self.data), str(self.port)],
            cwd=self.work, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        child = self.child
        threading.Thread(target=lambda: self.output.extend(child.stdout or []), daemon=True).start()
        deadline = started + 120
        while time.monotonic() < deadline:
            if child.poll() is not None:
                pytest.fail("the page did not start:\n" + "".join(self.output)[-3000:])
            try:
                urllib.request.urlopen(self.url + "gradio_api/startup-events", timeout=5).close()
                return time.monotonic() - started
            except urllib.error.HTTPError:
                return time.monotonic() - started
            except OSError:
                time.sleep(0.3)
        self.stop()
        pytest.fail("the page did not answer within 120 s:\n" + "".join(self.output)[-3000:])

    def kill9(self) -> None:
        assert self.child is not None
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.wait(15)

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(15)
            except subprocess.TimeoutExpired:
                self.child.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(tmp_path: Path, **env: str) -> Server:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COOLDOWN_")}
    base.update({"PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False", **env})
    return Server(tmp_path, _free_port(), base)


def _request(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
             ) -> tuple[int, str, dict[str, str]]:  # fmt: skip
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, response.read().decode("utf-8", "replace"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers or {})
    except TimeoutError:  # an event stream that stays open
        return 0, "", {}


# --- D3 ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _server(tmp_path_factory.mktemp("auth"), COOLDOWN_AUTH=f"{USER}:{PASSWORD},bob:another-secret-pw")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _queue_join(fn_index: int, data: list[Any]) -> bytes:
    return json.dumps({"data": data, "fn_index": fn_index, "session_hash": "d3probe", "event_data": None,
                       "trigger_id": None}).encode()  # fmt: skip


UNAUTHENTICATED = [
    # (what, method, path, body) — every way in to the page, its config, its API and its queue
    ("page", "GET", "", None),
    ("page ?page=", "GET", "?page=&deep_link=x", None),
    ("config", "GET", "config", None),
    ("config/", "GET", "config/", None),
    ("api info", "GET", "gradio_api/info", None),
    ("api info (legacy)", "GET", "gradio_api/info?serialize=False", None),
    ("openapi", "GET", "gradio_api/openapi.json", None),
    ("queue join: start", "POST", "gradio_api/queue/join", _queue_join(0, ["x", "backfire_brian", "easy", "coach"])),
    ("queue join: send", "POST", "gradio_api/queue/join", _queue_join(1, ["hello", None])),
    ("queue data", "GET", "gradio_api/queue/data?session_hash=d3probe", None),
    ("call/start_call", "POST", "gradio_api/call/start_call", b'{"data": ["x", "backfire_brian", "easy", "coach"]}'),
    ("call/v2/send", "POST", "gradio_api/call/v2/send", b'{"data": ["hello"]}'),
    ("run/send", "POST", "gradio_api/run/send", b'{"data": ["hello"]}'),
    ("api/send", "POST", "gradio_api/api/send", b'{"data": ["hello"]}'),
    ("run/predict (legacy)", "POST", "run/predict", b'{"data": ["hello"], "fn_index": 1}'),
    ("upload", "POST", "gradio_api/upload", b""),
    ("file=", "GET", "gradio_api/file=/etc/hostname", None),
    ("deep link", "GET", "gradio_api/deep_link", None),
]  # fmt: skip


def test_d3_unauthenticated_requests_are_rejected(signed_page: Server, figures: FigureBook) -> None:
    rejected: list[str] = []
    accepted: list[str] = []
    statuses: dict[str, int] = {}
    for what, method, path, body in UNAUTHENTICATED:
        headers = {"content-type": "application/json"} if body is not None else {}
        status, text, _ = _request(signed_page.url + path, method=method, body=body, headers=headers)
        statuses[what] = status
        leaks = [m for m in APP_MARKERS if m in text]
        if status in (401, 403) or (status in (404, 405, 422) and not leaks):
            rejected.append(what)
        elif status == 200 and what.startswith("page") and not leaks and LOGIN_ONLY in text.replace(" ", ""):
            rejected.append(what)  # the login page, with no app config in it
        else:
            accepted.append(f"{what}: {status} {leaks}")
    try:
        from gradio_client import Client

        Client(signed_page.url, verbose=False)
        accepted.append("gradio_client without auth: connected")
    except Exception:  # the client cannot even read the config
        rejected.append("gradio_client without auth")
    n = len(rejected) + len(accepted)
    figures.record("D3", "unauthenticated requests (page, /config, /gradio_api/info, queue join, call/run/api, "
                   "upload, file=, gradio_client) with COOLDOWN_AUTH set",
                   f"{len(rejected)}/{n} rejected (statuses {sorted(set(statuses.values()))})", "100% rejected",
                   not accepted, note="; ".join(accepted[:3]))  # fmt: skip
    assert not accepted, (accepted, statuses)


def test_d3_side_routes_leak_nothing(signed_page: Server, figures: FigureBook) -> None:
    """Routes Gradio leaves open without sign-in (heartbeat, assets, manifest, ...): none shows the app."""
    side = ["gradio_api/startup-events", "gradio_api/app_id", "gradio_api/user", "gradio_api/token",
            "manifest.json", "theme.css", "robots.txt", "gradio_api/login_check",
            "monitoring", "gradio_api/vibe-code", "gradio_api/mcp/schema"]  # fmt: skip
    open_routes: list[str] = []
    leaks: list[str] = []
    for path in side:
        status, text, _ = _request(signed_page.url + path)
        if status == 200:
            open_routes.append(path)
        found = [m for m in (*APP_MARKERS, PASSWORD, "another-secret-pw") if m in text]
        if found:
            leaks.append(f"{path}: {found}")
    figures.record("D3", "side routes open without sign-in / leaking the app or a password",
                   f"open {len(open_routes)}/{len(side)} ({', '.join(open_routes)}); leaking {len(leaks)}",
                   "0 leaking", not leaks, note="; ".join(leaks[:2]))  # fmt: skip
    assert not leaks, leaks


def test_d3_sign_in_works_and_names_the_trainee(signed_page: Server, figures: FigureBook) -> None:
    form = urllib.parse.urlencode({"username": USER, "password": "wrong-password"}).encode()
    ctype = {"content-type": "application/x-www-form-urlencoded"}
    bad, _, _ = _request(signed_page.url + "login", method="POST", body=form, headers=ctype)
    form = urllib.parse.urlencode({"username": USER, "password": PASSWORD}).encode()
    good, text, headers = _request(signed_page.url + "login", method="POST", body=form, headers=ctype)
    cookies = "; ".join(c.split(";")[0] for k, c in headers.items() if k.lower() == "set-cookie")
    jar_status, config, _ = _request(signed_page.url + "config", headers={"cookie": cookies})

    from gradio_client import Client

    from simulator.storage import Store

    client = Client(signed_page.url, auth=(USER, PASSWORD), verbose=False)
    client.predict("ignored", "backfire_brian", "easy", "coach", api_name="/start_call")
    out = client.predict("That sounds exhausting. What happened when the courier came?", api_name="/send")
    with Store.open(f"sqlite:///{signed_page.data / 'cooldown.db'}") as store:
        mine = store.list_sessions(USER)
    ok = bad == 400 and good == 200 and jar_status == 200 and "start_call" in config and len(mine) == 1
    figures.record("D3", "sign-in (/login form, then gradio_client auth=)",
                   f"wrong password {bad}; right password {good}; /config with the cookie {jar_status}; "
                   f"a turn played; sessions stored under '{USER}': {len(mine)}",
                   "sign-in works; the trainee is the signed-in user", ok)  # fmt: skip
    assert bad == 400 and good == 200 and '"success"' in text.replace(" ", "")
    assert jar_status == 200 and "start_call" in config
    assert "nobody came" in str(out[0])
    assert len(mine) == 1 and mine[0].trainee == USER


# --- D7 ------------------------------------------------------------------------------------------


def test_d7_restart_mid_session_keeps_the_transcript(tmp_path: Path, figures: FigureBook) -> None:
    from gradio_client import Client

    from simulator.storage import Store
    from simulator.ui.review import review

    server = _server(tmp_path)
    server.start()
    db = f"sqlite:///{server.data / 'cooldown.db'}"
    try:
        client = Client(server.url, verbose=False)
        client.predict("Restart", "backfire_brian", "easy", "coach", api_name="/start_call")
        played = ["That sounds exhausting. What happened when the courier came?",
                  "So you took the day off and nobody knocked. How did that land for you?"]  # fmt: skip
        for text in played:
            client.predict(text, api_name="/send")
        slow = client.submit("I hear you. tok-slow What would make this right?", api_name="/send")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the third trainee turn is committed before the caller is asked
            with Store.open(db) as store:
                sid = store.list_sessions("Restart")[0].id
                if sum(t.role == "agent" for t in store.load_session(sid).turns) == 3:
                    break
            time.sleep(0.2)
        server.kill9()  # mid-turn: the caller has not answered
        del slow
        restart_s = server.start()

        with Store.open(db) as store:
            record = store.load_session(sid)
            listed = [s.id for s in store.list_sessions("Restart")]
            view = review(store, sid, trainee="Restart")
        agents = [t for t in record.turns if t.role == "agent"]
        kept = [t.text for t in agents if t.text in played]
        third = agents[2].status if len(agents) == 3 else "missing"
        # the same browser session after the restart: the server no longer holds its call
        after = client.predict("Are you still there?", api_name="/send")
        status_line = str(after[3])
        fresh = Client(server.url, verbose=False)
        fresh.predict("Restart", "backfire_brian", "easy", "coach", api_name="/start_call")
        resumed = fresh.predict("Let's start again. What happened?", api_name="/send")
    finally:
        server.stop()
    lost = len(played) - len(kept)
    figures.record("D7", "kill -9 mid-session (2 turns committed, 3rd waiting on the caller), restart",
                   f"lost committed turns {lost}; 3rd trainee turn stored as '{third}'; session in history: "
                   f"{sid in listed}; its debrief view builds: {bool(view.markdown)}; a new call works; "
                   f"restart {restart_s:.0f}s", "0 lost committed turns", lost == 0 and sid in listed)  # fmt: skip
    says_saved = "saved" in status_line.lower()
    figures.record("D7", "what the stale tab sees on its next send after the restart",
                   f"'{status_line.strip()[:80]}' (no crash, no traceback)",
                   "a 'session ended, transcript saved' path", says_saved)  # fmt: skip
    assert lost == 0 and third != "missing"
    assert sid in listed and view.markdown
    assert "Start call" in status_line and says_saved, status_line  # a clear next step, not a crash
    assert "Traceback" not in json.dumps(after, default=str)
    assert "I was home" in str(resumed[0])
