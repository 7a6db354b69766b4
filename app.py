"""Cooldown's web page: thin Gradio wiring over `simulator` (placeholder until the trainee UI lands).

Run with `cooldown app` (or `make run`). Serves on 127.0.0.1 by default; no share links, no analytics.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from collections.abc import AsyncIterator

import gradio as gr

from simulator.config import Settings, load_settings
from simulator.llm import get_model
from simulator.llm.base import ChatModel

PLACEHOLDER_PROMPT = (
    "A phone call to a customer-service line. The CUSTOMER is angry: a parcel marked delivered never "
    "arrived. The customer speaks in short, annoyed sentences.\n"
)


def build(settings: Settings) -> gr.Blocks:
    """The page. Per-browser state lives in gr.State; nothing per-trainee in module globals."""
    caller: ChatModel = get_model("caller", settings)

    async def reply(message: str, history: list[dict[str, str]]) -> AsyncIterator[str]:
        text = (message or "").strip()[: settings.max_turn_chars]
        if not text:
            yield "(say something to the caller first)"
            return
        lines = [PLACEHOLDER_PROMPT]
        for m in history[-8:]:
            who = "AGENT" if m["role"] == "user" else "CUSTOMER"
            lines.append(f"{who}: {m['content']}")
        lines.append(f"AGENT: {text}\nCUSTOMER:")
        out = ""
        async for chunk in caller.stream_completion(
            "\n".join(lines), stop=["\nAGENT:", "\nCUSTOMER:", "\n\n"], max_tokens=80
        ):
            out += chunk
            yield out.strip()

    with gr.Blocks(title="Cooldown", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Cooldown\nPractise turning angry callers around. "
            f"Caller model: **{caller.info.label}**. The full trainee page (personas, mood, feedback, "
            "debrief) is on its way; this page proves the model path works."
        )
        gr.ChatInterface(reply, chatbot=gr.Chatbot(height=420), fill_height=False)
    return demo


def launch(host: str | None = None, port: int | None = None) -> None:
    """Start the server (blocking)."""
    settings = load_settings()
    demo = build(settings)
    demo.queue(default_concurrency_limit=16, max_size=100)
    demo.launch(
        server_name=host or settings.host,
        server_port=port or settings.port,
        share=False,
        show_error=False,
        allowed_paths=[],
        max_file_size="1mb",
    )


if __name__ == "__main__":
    launch()
