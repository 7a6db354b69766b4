"""Text made safe for the page: HTML escaping, neutralised Markdown, highlighted evidence.

Everything the trainee types and everything a model says is data. These helpers guarantee it reaches
the browser as text: HTML we build escapes every piece of it, and Markdown that embeds it has raw HTML,
images and links disarmed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|#~])")


def esc(text: object) -> str:
    """HTML-escape any value (quotes included), for text inside HTML we build."""
    return html.escape(str(text), quote=True)


def md_text(text: str) -> str:
    """Escape a plain string for inclusion in Markdown: no emphasis, links, images or HTML survive."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def safe_markdown(markdown: str) -> str:
    """Markdown written by our own code that quotes untrusted text, with HTML, images and links disarmed.

    Tables, bold and lists (our own structure) keep working; `<tag>` shows as text, `![x](url)` and
    `[x](javascript:...)` show as their literal characters, so nothing loads or runs.
    """
    out = markdown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("![", "!\\[").replace("](", "\\](")
    return re.sub(r"(?i)\b(javascript|data|vbscript):", r"\1&#58;", out)


def find_spans(text: str, quotes: Sequence[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """Where each (quote, kind) occurs in `text`: sorted, non-overlapping (start, end, kind) spans.

    A quote that is not an exact substring is skipped (evidence must be verbatim; docs/rubric.md §3). When two
    quotes overlap, the earlier-starting (then longer) one wins, and a `manipulative` kind wins a tie.
    """
    found: list[tuple[int, int, str]] = []
    for quote, kind in quotes:
        q = quote.strip()
        if not q:
            continue
        start = text.find(q)
        if start >= 0:
            found.append((start, start + len(q), kind))
    found.sort(key=lambda s: (s[0], -(s[1] - s[0]), s[2] != "manipulative"))
    spans: list[tuple[int, int, str]] = []
    for start, end, kind in found:
        if spans and start < spans[-1][1]:
            continue
        spans.append((start, end, kind))
    return spans


def highlight(text: str, quotes: Sequence[tuple[str, str]]) -> str:
    """`text` as escaped HTML with each evidence quote wrapped in `<mark class="ev ev-KIND">`.

    Args:
        text: The trainee's turn as stored.
        quotes: (evidence, kind) pairs; kind is `ethical` or `manipulative`.
    """
    out: list[str] = []
    pos = 0
    for start, end, kind in find_spans(text, quotes):
        out.append(esc(text[pos:start]))
        cls = "manipulative" if kind == "manipulative" else "ethical"
        out.append(f'<mark class="ev ev-{cls}">{esc(text[start:end])}</mark>')
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def excerpt(text: str, limit: int = 120) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
