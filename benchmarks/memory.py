"""Figure 6: memory: peak RSS of the app with the embedded model, and the memory each call session adds.

Measured in a fresh child process (`python -m benchmarks.memory --probe`), so nothing else the
benchmarks loaded is counted: it builds the Gradio app (`app.build`), then opens 10 and then 50
concurrent `CallSession`s (three trainee turns each, with a shared scripted caller: sessions share the
model server, whose memory is counted once). The embedded servers' high-water marks are read from the
servers the other figures ran, so this figure runs last. RSS deltas per session are reported with
Python's own allocation count (tracemalloc) beside them, as RSS moves in allocator-sized steps.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, check, measured, peak_rss_mb, rss_mb
from benchmarks.fixtures import PERSONA, ROOT, TRAINEE_TURNS, ScriptedModel, bench_settings, local_grader, open_store

SESSION_COUNTS = (10, 50)


async def _probe(roles: list[str], turns_per_session: int = 3) -> dict[str, Any]:
    from simulator.call.session import CallSession
    from simulator.llm import get_model
    from simulator.llm.factory import embedded_server_for

    out: dict[str, Any] = {"rss_start_mb": rss_mb()}
    with tempfile.TemporaryDirectory(prefix="cooldown-mem-") as tmp:
        settings = bench_settings(Path(tmp))
        sys.path.insert(0, str(ROOT))
        import app

        app.build(settings)
        out["rss_app_built_mb"] = rss_mb()
        servers: dict[str, Any] = {}
        for role in roles:
            model = get_model(role, settings)  # type: ignore[arg-type]
            await model.generate([_msg("Say hello.")], max_tokens=8)
            await model.aclose()
            servers[role] = embedded_server_for(role, settings)  # type: ignore[arg-type]
        for role, server in servers.items():
            out[f"server_{role}_rss_mb"] = rss_mb(server.pid) if server.pid else None
            out[f"server_{role}_peak_mb"] = peak_rss_mb(server.pid) if server.pid else None
        store = open_store(Path(tmp) / "db")
        grader = local_grader()
        caller = ScriptedModel(0.0)
        sessions: list[Any] = []
        await _open(sessions, 1, store, grader, caller, settings, turns_per_session)  # warm every code path once
        sessions.clear()
        gc.collect()
        tracemalloc.start()
        base_rss, base_py = rss_mb(), tracemalloc.get_traced_memory()[0]
        for n in SESSION_COUNTS:
            await _open(sessions, n - len(sessions), store, grader, caller, settings, turns_per_session)
            gc.collect()
            out[f"sessions_{n}_rss_delta_mb"] = (rss_mb() or 0) - (base_rss or 0)
            out[f"sessions_{n}_py_delta_mb"] = (tracemalloc.get_traced_memory()[0] - base_py) / 2**20
        tracemalloc.stop()
        out["sessions_alive"] = len([s for s in sessions if isinstance(s, CallSession)])
        out["app_peak_rss_mb"] = peak_rss_mb()
        store.close()
        for server in servers.values():
            server.stop()
    return out


def _msg(text: str) -> Any:
    from simulator.llm.base import Message

    return Message(role="user", content=text)


async def _open(
    sessions: list[Any], n: int, store: Any, grader: Any, caller: Any, settings: Any, turns: int
) -> None:
    from simulator.call.session import CallSession

    for _ in range(n):
        s = CallSession.start(store, PERSONA, caller_model=caller, local_grader=grader, settings=settings,
                              opening_index=0)  # fmt: skip
        for text in TRAINEE_TURNS[:turns]:
            async for _ev in s.take_turn(text):
                pass
        sessions.append(s)


def probe_in_child(roles: list[str], turns_per_session: int = 3, timeout_s: float = 600) -> dict[str, Any]:
    """Run the probe in a fresh interpreter and return its figures."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--probe", ",".join(roles), str(turns_per_session)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory probe failed ({proc.returncode}): {proc.stderr[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run(*, quick: bool, embedded: bool = True) -> Figure:
    """Measure figure 6 (after the figures that start the embedded servers)."""
    fig = Figure(key="memory", title="Memory: app with the embedded model, and per concurrent session")
    with measured(fig):
        data = probe_in_child([], 1 if quick else 3)
        data["turns_per_session"] = 1 if quick else 3
        fig.numbers.update(data)
        roles = []
        if embedded:  # the servers the other benchmarks ran in this process (their high-water marks)
            from simulator.llm.embedded import POOL

            for server in POOL.servers():
                if server.pid:
                    role = "grader" if "grader" in str(server.log_path or "") else "caller"
                    roles.append(role)
                    data[f"server_{role}_rss_mb"] = rss_mb(server.pid)
                    data[f"server_{role}_peak_mb"] = peak_rss_mb(server.pid)
                    fig.numbers[f"server_{role}_peak_mb"] = data[f"server_{role}_peak_mb"]
        servers = sum(v for k, v in data.items() if k.startswith("server_") and k.endswith("_peak_mb") and v)
        total = (data.get("app_peak_rss_mb") or 0) + servers
        fig.numbers["total_peak_mb"] = total
        fig.targets.append(check(f"peak RSS, app + embedded servers ({', '.join(roles) or 'none'})", total,
                                 unit=" MiB", goal="info"))  # fmt: skip
        fig.targets[-1].verdict = "info"
        for n in SESSION_COUNTS:
            per = data[f"sessions_{n}_rss_delta_mb"] / n * 1024
            py = data[f"sessions_{n}_py_delta_mb"] / n * 1024
            fig.numbers[f"per_session_kib_{n}"] = {"rss": per, "python": py}
            t = check(f"added memory per session ({n} sessions)", per, unit=" KiB", goal="info",
                      note=f"Python allocations {py:,.0f} KiB/session")  # fmt: skip
            t.verdict = "info"
            fig.targets.append(t)
        if embedded and "grader" not in roles:
            fig.notes.append("only the servers started by earlier figures are counted (quick: caller only)")
    return fig


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--probe":
        roles = [r for r in sys.argv[2].split(",") if r]
        turns = int(sys.argv[3]) if len(sys.argv) >= 4 else 3
        print(json.dumps(asyncio.run(_probe(roles, turns))))
