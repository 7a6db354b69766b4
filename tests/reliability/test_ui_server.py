"""RELIABILITY §8 D1, D2, D4, D5 against the real page in a subprocess, over HTTP with `gradio_client`.

The page is `app.build(settings, deps)` with a fake caller (the app's test hook), launched with the
shipped `launch_kwargs` on a free loopback port in its own process. The fake caller logs every call to a
file and answers with the last thing the agent said, so a session that sees another session's text shows.
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .conftest import FigureBook
from .support import BRIAN, ROOT, load_corpus

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

LAUNCHER = r"""
import importlib.util, re, sys
from pathlib import Path
from simulator.config import load_settings
from simulator.llm.base import ModelInfo
from simulator.llm.fake import FakeChatModel
from simulator.storage import Store
from simulator.ui.deps import AppDeps, local_grader

root, data, port, calls = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
spec = importlib.util.spec_from_file_location("cooldown_app", root / "app.py")
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
settings = load_settings(data_dir=data, llm_grading=False)

def echo(request):
    last = [m.content for m in request.messages if m.role == "user"][-1:] or [""]
    token = re.findall(r"tok-[a-z0-9]+", last[0])
    with calls.open("a") as fh:
        fh.write("call\n")
    return f"You keep saying {token[-1] if token else 'that'}, but I was home all day."

fake = FakeChatModel(default_reply="I was home all day.")
fake._info = ModelInfo(role="caller", provider="fake", model="fake-echo", prompt_form="chat")
fake.enqueue(*([echo] * 100000))
store = Store.open(settings.resolved_database_url())
demo = app.build(settings, AppDeps(fake, local_grader(), None, store))
demo.queue(default_concurrency_limit=16, max_size=100)
print("DATA", settings.resolved_database_url(), flush=True)
demo.launch(**app.launch_kwargs(settings, "127.0.0.1", port), quiet=True, prevent_thread_lock=False)
"""


@dataclass
class Page:
    url: str
    data: Path
    calls: Path
    db: Path

    def model_calls(self) -> int:
        return len(self.calls.read_text().splitlines()) if self.calls.exists() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    work = tmp_path_factory.mktemp("ui-rel")
    data, calls, script = work / "data", work / "calls.log", work / "launch.py"
    data.mkdir()
    script.write_text(LAUNCHER)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("COOLDOWN_RAISE_ERRORS", None)
    child = subprocess.Popen(
        [sys.executable, str(script), str(ROOT), str(data), str(port), str(calls)],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(child.stdout or []), daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail("the page did not start:\n" + "".join(out)[-3000:])
        try:
            with urllib.request.urlopen(url + "config", timeout=5):
                break
        except OSError:
            time.sleep(0.5)
    else:
        child.kill()
        pytest.fail("the page did not answer within 120 s:\n" + "".join(out)[-3000:])
    try:
        yield Page(url, data, calls, data / "cooldown.db")
    finally:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()


def _client(page: Page) -> Any:
    from gradio_client import Client

    return Client(page.url, verbose=False)


def test_d2_private_files_are_never_served(page: Page, figures: FigureBook) -> None:
    secret_tmp = Path("/tmp") / f"cooldown-secret-{os.getpid()}.txt"
    secret_tmp.write_text("TEMP-SECRET")
    env_file = page.data / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-test-CANARY-env\n")
    targets = {
        "/etc/passwd": b"root:",
        str(page.db): b"SQLite format",
        str(BRIAN): b"identity:",
        str(env_file): b"CANARY",
        str(ROOT / "simulator" / "ui" / "app.py"): b"def build",
        str(ROOT / "prompts" / "caller_guidelines.md"): b"Never repeat the internal",
        str(secret_tmp): b"TEMP-SECRET",
    }
    routes = load_corpus("path_traversal.yaml")["routes"]
    served: list[str] = []
    statuses: dict[int, int] = {}
    for target, marker in targets.items():
        for route in routes:
            path = route.replace("{target}", target)
            try:
                with urllib.request.urlopen(page.url + path, timeout=10) as response:
                    body = response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if marker in body:
                        served.append(path)
            except urllib.error.HTTPError as exc:
                statuses[exc.code] = statuses.get(exc.code, 0) + 1
            except (urllib.error.URLError, ValueError, http_client_errors()):
                statuses[0] = statuses.get(0, 0) + 1
    secret_tmp.unlink()
    n = len(targets) * len(routes)
    figures.record("D2", "file-access / traversal requests served", f"{len(served)} of {n} (statuses {statuses})",
                   "0 of N served", not served, note="; ".join(served[:3]))  # fmt: skip
    assert not served, served


def http_client_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def test_d5_server_side_limits(page: Page, figures: FigureBook) -> None:
    client = _client(page)
    client.predict("Limits", "backfire_brian", "normal", "coach", api_name="/start_call")
    before = page.model_calls()
    verdicts = {}
    for name, bad in (("empty", ""), ("whitespace", " \n\t  "), ("50k", "x" * 50_000), ("nul", "\x00\x00")):
        out = client.predict(bad, api_name="/send")
        verdicts[name] = out[3]
    calls = page.model_calls() - before
    rejected = sum(("empty" in v or "limit" in v) for v in verdicts.values())
    figures.record("D5", "empty / whitespace / 50k / NUL-only turns via gradio_client",
                   f"rejected {rejected}/{len(verdicts)}; LLM calls {calls}",
                   "all rejected in the handler; 0 LLM calls", rejected == len(verdicts) and calls == 0)  # fmt: skip
    assert rejected == len(verdicts) and calls == 0, verdicts


DANGEROUS_TAGS = {"script", "iframe", "svg", "style", "object", "embed", "details", "math", "base", "form", "meta"}


class _LiveMarkup(HTMLParser):
    """Collects markup that would act in a browser: dangerous elements, on* handlers, javascript: or remote URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS:
            self.live.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.live.append(f"<{tag} {name}=>")
            if name in ("href", "src", "action", "formaction", "xlink:href") and (
                value.startswith(("javascript:", "data:text/html")) or "evil.example" in value
            ):
                self.live.append(f"<{tag} {name}={value[:30]}>")


def live_markup(text: str) -> list[str]:
    parser = _LiveMarkup()
    parser.feed(text)
    parser.close()
    return parser.live


def _html_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _html_strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _html_strings(v)


def test_d4_xss_fixtures_render_inert(page: Page, figures: FigureBook) -> None:
    """Trainee turns with script/markup: the page's own HTML (mood, feedback, debrief, transcript) escapes them.

    The chat bubbles are markdown rendered in the browser with Gradio's sanitiser (`tests/test_browser_ui.py`
    runs the page in Chromium); here we check the HTML the server builds itself, which Gradio shows raw.
    """
    payloads = load_corpus("xss.yaml")["payloads"]
    client = _client(page)
    client.predict("Xss", "backfire_brian", "easy", "coach", api_name="/start_call")
    live: list[str] = []
    for payload in payloads:
        out = client.predict(payload, api_name="/send")
        for text in _html_strings(out[1:3]):  # mood and feedback panels: HTML built by the server
            live += live_markup(text)
    debrief = client.predict(api_name="/end_call")
    html_outputs = [debrief[0], debrief[4]]  # outcome and annotated transcript (gr.HTML)
    for text in _html_strings(html_outputs):
        live += live_markup(text)
    transcript = "".join(_html_strings(debrief[4]))
    escaped = sum(html.escape(p.split(">")[0], quote=False)[:12] in transcript for p in payloads if "<" in p)
    figures.record("D4", "XSS fixtures live in server-built HTML (panels, debrief, transcript)",
                   f"{len(live)} live elements/attrs from {len(payloads)} payloads; {escaped} escaped in transcript",
                   "0 script-capable markup", not live, note="; ".join(live[:2]))  # fmt: skip
    assert not live, live


def test_d1_concurrent_sessions_stay_isolated(page: Page, figures: FigureBook) -> None:
    clients, turns = 5, 12
    results: dict[int, list[str]] = {}
    errors: list[str] = []
    barrier = threading.Barrier(clients)

    def trainee(k: int) -> None:
        try:
            client = _client(page)
            client.predict(f"Iso{k}", "backfire_brian", "easy", "coach", api_name="/start_call")
            barrier.wait(60)
            seen = []
            for i in range(turns):
                out = client.predict(f"I hear you. What happened next? tok-c{k}t{i}", api_name="/send")
                seen.append(str(out[0]))
            results[k] = seen
        except Exception as exc:  # reported below
            errors.append(f"client {k}: {type(exc).__name__}: {exc}")

    started = time.perf_counter()
    threads = [threading.Thread(target=trainee, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    elapsed = time.perf_counter() - started
    cross = 0
    for k, seen in results.items():
        for shown in seen:
            cross += len({m for m in re.findall(r"tok-c(\d+)t", shown) if int(m) != k})
    from simulator.storage import Store

    with Store.open(f"sqlite:///{page.db}") as store:
        for k in range(clients):
            for summary in store.list_sessions(f"Iso{k}"):
                for turn in store.load_session(summary.id).turns:
                    cross += len({m for m in re.findall(r"tok-c(\d+)t", turn.text) if int(m) != k})
    done = sum(len(v) for v in results.values())
    figures.record("D1", f"{clients} concurrent clients x {turns} turns",
                   f"cross-session turns {cross}; turns completed {done}/{clients * turns}; errors {len(errors)}; "
                   f"{elapsed:.0f}s", "0 cross-session turns", cross == 0 and not errors,
                   note="; ".join(errors[:2]))  # fmt: skip
    assert not errors, errors
    assert cross == 0 and done == clients * turns
