"""Test-wide guards.

* No test may reach the network beyond this machine: connections to anything but loopback and unix
  sockets fail the test.
* Only tests marked `integration` (or `browser`) may start the embedded model server; unit tests use the
  project's `FakeChatModel` at the LLM seam.
* Cooldown's data directory and tiktoken cache point into a temporary folder, never the user's.

`load_script` imports one of `scripts/*.py` by name, for the tests of the training and diagnostic scripts.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["COOLDOWN_RAISE_ERRORS"] = "1"
_KEEP = {"COOLDOWN_RAISE_ERRORS", "COOLDOWN_UPDATE_SCREENSHOTS"}  # test switches, not Cooldown settings
for _var in [v for v in os.environ if v.startswith("COOLDOWN_") and v not in _KEEP]:
    del os.environ[_var]
os.environ.pop("OPENAI_API_KEY", None)


class NetworkBlocked(AssertionError):
    """A test tried to reach a host other than this machine."""


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}; tests may only use loopback")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise NetworkBlocked(f"test tried to connect to {address!r}; tests may only use loopback")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """CLI flags set COOLDOWN_* variables for the process; no test may leak them into the next."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    data = tmp_path_factory.mktemp("cooldown-data")
    monkeypatch.setenv("COOLDOWN_DATA_DIR", str(data))
    shared_cache = Path(tmp_path_factory.getbasetemp()) / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(shared_cache))
    yield


@pytest.fixture(autouse=True)
def _no_embedded_server_in_unit_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    markers = {m.name for m in request.node.iter_markers()}
    if markers & {"integration", "browser"}:
        return
    from simulator.llm import embedded

    def refuse(self: object, timeout_s: float = 0) -> str:
        raise AssertionError(
            "a unit test tried to start the embedded model server; use FakeChatModel, "
            "or mark the test @pytest.mark.integration"
        )

    monkeypatch.setattr(embedded.EmbeddedServer, "start", refuse)


@pytest.fixture
def load_script() -> Callable[[str], ModuleType]:
    """`load_script("offer_logits")`: `scripts/offer_logits.py` imported as a module."""

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
