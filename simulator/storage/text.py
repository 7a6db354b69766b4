"""Canonical text: the one form every stored string takes, identical on SQLite and PostgreSQL.

PostgreSQL cannot store NUL (U+0000) in text, and neither backend can encode a lone UTF-16 surrogate
(U+D800..U+DFFF) as UTF-8. So before anything is written, every string is canonicalised the same way:

1. NUL characters are removed.
2. A surrogate *pair* written as two code points is joined into the one character it encodes; any
   surrogate left over (a lone surrogate) becomes U+FFFD REPLACEMENT CHARACTER.

Nothing else changes: no Unicode normalisation, no whitespace trimming, RTL text and emoji are stored
exactly as given. Turns record the scheme (`TEXT_CANON`) and whether canonicalising changed the text.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

TEXT_CANON = "strip-nul+lone-surrogate-fffd/1"
"""The name stored with every turn for the canonicalisation above; bump it if the rules change."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_text(text: str) -> str:
    """Return `text` in canonical stored form (NUL stripped, lone surrogates replaced by U+FFFD).

    Args:
        text: Any Python string, including ones that are not valid Unicode scalar sequences.

    Returns:
        The canonical string; `canonical_text(canonical_text(x)) == canonical_text(x)`.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def canonical_optional(text: str | None) -> str | None:
    """`canonical_text` that passes None through."""
    return None if text is None else canonical_text(text)


def canonical_json(value: Any) -> Any:
    """Canonicalise every string (keys and values) inside a JSON-shaped value."""
    if isinstance(value, str):
        return canonical_text(value)
    if isinstance(value, dict):
        return {canonical_text(str(k)): canonical_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_json(v) for v in value]
    return value


def persona_content_hash(persona_text: str) -> str:
    """The content hash stored with a session's persona snapshot: 'sha256:<hex>' of the canonical text."""
    return "sha256:" + hashlib.sha256(canonical_text(persona_text).encode("utf-8")).hexdigest()
