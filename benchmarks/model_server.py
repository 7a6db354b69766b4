"""A scripted OpenAI-compatible model server on loopback, with a fixed latency and token rate.

The capacity benchmark points both roles at it, so its figures measure Cooldown and not a model:

* `POST .../chat/completions`, streamed (SSE) or whole; a request that forces a tool (`tool_choice`, how
  langchain asks llama.cpp-style servers for structured output) or asks for a JSON response format gets a
  valid `GraderOutput` as the tool call's arguments or as the content;
* `POST .../completions` (transcript-form callers), streamed or whole;
* `GET .../models`.

Any path prefix is accepted (`/caller/v1/chat/completions`, `/grader/v1/...`), so the two roles can use
different base URLs on one server and keep separate concurrency slots in Cooldown (slots are per base
URL). Timing: the first token comes `latency_s` after the request; the rest stream at `tokens_per_s`
(a token is taken as 4 characters); a whole reply arrives after the same total time.

Run it on its own, e.g. to try `cooldown app` against it::

    python -m benchmarks.model_server --port 8089 --latency 0.3 --tokens-per-s 50
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CHARS_PER_TOKEN = 4
CALLER_LINES: tuple[str, ...] = (
    "I took the whole day off for this and nobody knocked, not once.",
    "Don't tell me it was delivered. I was sitting right by the door all afternoon.",
    "Fine. So what are you actually going to do about it?",
    "It was meant to be a birthday present, and now I've got nothing to give.",
    "Thursday is too late, the birthday is Saturday. Can you do better than that?",
)
GRADE: dict[str, Any] = {
    "reasoning": "The agent acknowledges the caller's situation without arguing with it.",
    "behaviours": [],
    "perspective_taking": 1,
    "techniques": [],
    "manipulation_tactics": [],
    "manipulative": False,
    "tip": "Name what the caller lost before offering anything.",
    "better_phrasing": "You gave up a whole day for this; what would help most now?",
}
"""A valid, technique-free `GraderOutput` (as `benchmarks.fixtures.grader_output`), so grades succeed."""


class ServerTiming(BaseModel):
    """How fast the scripted model answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_s: float = Field(default=0.3, ge=0, le=60)
    """Time from request to the first token (or to the whole reply, less its tokens' time)."""
    tokens_per_s: float = Field(default=50.0, gt=0, le=100_000)
    """Output rate after the first token."""


class ServerStats:
    """Requests served, by kind (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def add(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1


def _tokens(text: str) -> list[str]:
    return [text[i : i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a log line per request would cost more than the reply."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "owned_by": "bench"}]})
        elif self.path.rstrip("/").endswith("/health"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "the body is not JSON", "type": "invalid_request_error"}})
            return
        path = self.path.rstrip("/")
        if path.endswith("/chat/completions"):
            self._chat(body)
        elif path.endswith("/completions"):
            self._completion(body)
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    # -- replies -----------------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "scripted")
        tool = _forced_tool(body)
        if tool is not None or _wants_json(body):
            self.server.stats.add("structured")
            args = json.dumps(GRADE)
            self._wait(len(_tokens(args)))
            if tool is not None:
                message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                     "function": {"name": tool, "arguments": args}}]}  # fmt: skip
                finish = "tool_calls"
            else:
                message, finish = {"role": "assistant", "content": args}, "stop"
            self._json(200, _envelope("chat.completion", model, [{"index": 0, "message": message,
                                                                   "finish_reason": finish}]))  # fmt: skip
            return
        text = self.server.next_line()
        if body.get("stream"):
            self.server.stats.add("chat_stream")
            self._sse(model, "chat.completion.chunk", text,
                      lambda tok: {"delta": {"role": "assistant", "content": tok}})  # fmt: skip
            return
        self.server.stats.add("chat")
        self._wait(len(_tokens(text)))
        self._json(200, _envelope("chat.completion", model, [{"index": 0, "message": {"role": "assistant",
                                  "content": text}, "finish_reason": "stop"}]))  # fmt: skip

    def _completion(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "scripted")
        text = " " + self.server.next_line() + "\n"
        if body.get("stream"):
            self.server.stats.add("completion_stream")
            self._sse(model, "text_completion", text, lambda tok: {"text": tok})
            return
        self.server.stats.add("completion")
        self._wait(len(_tokens(text)))
        self._json(200, _envelope("text_completion", model, [{"index": 0, "text": text, "finish_reason": "stop"}]))

    def _wait(self, n_tokens: int) -> None:
        timing = self.server.timing
        time.sleep(timing.latency_s + max(0, n_tokens - 1) / timing.tokens_per_s)

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, model: str, kind: str, text: str, choice: Any) -> None:
        """Stream `text` as server-sent events in HTTP/1.1 chunks, at the configured latency and rate."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        timing = self.server.timing
        started = time.monotonic()
        time.sleep(timing.latency_s)
        for n, tok in enumerate(_tokens(text)):
            due = started + timing.latency_s + n / timing.tokens_per_s
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._chunk(_envelope(kind, model, [{"index": 0, **choice(tok), "finish_reason": None}]))
        end = choice("")
        end.get("delta", {}).pop("content", None)
        self._chunk(_envelope(kind, model, [{"index": 0, **end, "finish_reason": "stop"}]))
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _chunk(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The tool a request forces (`tool_choice`), else its only tool; None for a plain chat request."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return str(name)
    if tools and choice != "none":
        return str(tools[0].get("function", {}).get("name") or "GraderOutput")
    functions = body.get("functions") or []
    if functions:
        return str(functions[0].get("name") or "GraderOutput")
    return None


def _wants_json(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


def _envelope(kind: str, model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"bench-{uuid.uuid4().hex[:12]}", "object": kind, "created": int(time.time()), "model": model,
            "choices": choices}  # fmt: skip


class ScriptedServer(ThreadingHTTPServer):
    """The scripted model server: one thread per connection, replies cycled through `CALLER_LINES`."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, timing: ServerTiming | None = None) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the scripted model server listens on loopback only, not {host}")
        super().__init__((host, port), _Handler)
        self.timing = timing or ServerTiming()
        self.stats = ServerStats()
        self._n = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (append a role prefix and `/v1` for a base URL)."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def next_line(self) -> str:
        with self._lock:
            line = CALLER_LINES[self._n % len(CALLER_LINES)]
            self._n += 1
        return line

    def start(self) -> ScriptedServer:
        """Serve in a daemon thread (for tests); `shutdown()` stops it."""
        threading.Thread(target=self.serve_forever, name="scripted-model-server", daemon=True).start()
        return self


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: serve until interrupted; prints `READY <url>` once listening."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds to the first token")
    parser.add_argument("--tokens-per-s", type=float, default=50.0, help="output tokens per second")
    args = parser.parse_args(argv)
    server = ScriptedServer(port=args.port, timing=ServerTiming(latency_s=args.latency, tokens_per_s=args.tokens_per_s))
    print(f"READY {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(json.dumps(server.stats.counts), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
