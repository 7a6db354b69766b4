"""Logging that never writes a secret, and never lets user text forge log lines.

`configure_logging()` installs a filter on the root handler that redacts `Authorization: Bearer …`,
anything shaped like an OpenAI key (`sk-…`), the literal values of every configured key, and card numbers
(Luhn-valid 13-19 digit runs, `simulator.redact.redact_cards`); and escapes
CR/LF/ESC in messages so a trainee's text cannot fake a log line or send terminal control codes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?bearer\s+)[^\s'\",]+"),
    re.compile(r"(?i)(api[-_]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",]+"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),
]
_CONTROL = str.maketrans({"\r": "\\r", "\n": "\\n", "\x1b": "\\x1b"})


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with keys and bearer tokens replaced by `[REDACTED]`, and Luhn-valid card numbers by `[CARD]`."""
    from simulator.redact import redact_cards

    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[REDACTED]")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
    return redact_cards(text)


class RedactingFilter(logging.Filter):
    """Redacts secrets and escapes control characters in every record that passes the handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = str(record.msg)
        record.msg = redact(message, self.secrets).translate(_CONTROL)
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def configure_logging(level: int = logging.WARNING, secrets: Iterable[str] = ()) -> None:
    """Root logging to stderr through the redacting filter. Safe to call more than once."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = next((h for h in root.handlers if getattr(h, "_cooldown", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._cooldown = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for f in list(handler.filters):
        handler.removeFilter(f)
    handler.addFilter(RedactingFilter(secrets))
    for noisy in ("httpx", "httpcore", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
