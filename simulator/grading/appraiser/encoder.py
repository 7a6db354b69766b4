"""The appraiser's reading model: a small transformer that reads the caller's last line and the turn together.

The linear heads (`weights`) see words and hand-written decision features; they cannot see that "the
records show it was delivered" argues with "it never came", or that one clause ("tell me if you'd rather
have store credit") makes a default honest. This model can: MiniLM-L6 (6 layers, 384 wide; the
`all-MiniLM-L6-v2` sentence encoder, Apache-2.0) fine-tuned here as a cross-encoder over
`customer: <last caller line> [SEP] <trainee turn>` with one logit per appraiser head (pooled over the pair,
or over the turn alone: `POOLINGS`)
(`weights.HEAD_NAMES`), trained only on the project's own authored turns (`scripts/train_encoder.py`).

A model trained with the scenario (`meta["scenario_tokens"]`) also reads the scenario's facts as a prefix:
the pair attends to the scenario's tokens, which attend only to each other. So the scenario's keys and
values at every layer depend on the scenario alone; they are computed once per scenario and cached
(`Encoder.prefix`), and a turn costs about what it costs without them.

Inference is numpy only: a WordPiece tokenizer over the shipped `encoder_vocab.txt` and the BERT forward
pass over int8 weights (per-row scales) in `encoder.npz`. About 10-40 ms per turn on one core.
"""

from __future__ import annotations

import hashlib
import json
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np

from simulator.grading.appraiser.weights import N_HEADS, AppraiserWeightsError
from simulator.resources import package_path

ENCODER_FILE: Final = "encoder.npz"
VOCAB_FILE: Final = "encoder_vocab.txt"
DEFAULT_ENCODER: Final = package_path("simulator.grading.appraiser", "data", ENCODER_FILE)
DEFAULT_VOCAB: Final = package_path("simulator.grading.appraiser", "data", VOCAB_FILE)
MAX_TOKENS: Final = 160
"""Longest input the model reads; longer inputs lose words from the longer segment first (as in training)."""
CUSTOMER_PREFIX: Final = "customer: "
SCENARIO_TOKENS: Final = 256
"""Longest scenario the model reads (its first tokens); scenario positions start at `MAX_TOKENS`."""
_PREFIX_CACHE_SIZE: Final = 64
POOLINGS: Final = ("pair", "turn")
"""How a model pools its last layer into the heads' input (`meta["pooling"]`, "pair" when absent): the mean
over the whole pair, or over the turn's tokens only (segment 1, with its closing [SEP]). With "turn" the
caller's line is still attended to, but its words are not averaged in as if the agent had said them."""


def scenario_text(scenario: str | None) -> str:
    """The scenario as the model reads it: whitespace collapsed, the grader brief's instruction dropped.

    Training scenarios are plain paragraphs of facts; a persona's `grader_brief()` has the same facts
    under headings, plus an instruction to the grader that says nothing about the case."""
    if not scenario:
        return ""
    text = scenario.replace("(use it to judge whether the agent's claims are honest)", "")
    return " ".join(text.split())


def last_customer_line(context: Sequence[tuple[str, str]]) -> str:
    """The caller's last line in `(role, text)` context, oldest first: the first segment the model reads."""
    return next((text for role, text in reversed(context) if role == "customer"), "")


# --- tokenizer (BERT uncased WordPiece, as the model was trained) ------------------------------------


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _basic_words(text: str) -> list[str]:
    """Clean, lower-case, strip accents and split on whitespace and punctuation (BERT's basic tokenizer)."""
    chars: list[str] = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            chars.append(" ")
        elif cat in ("Cc", "Cf"):
            continue
        elif _is_cjk(cp):
            chars.extend((" ", ch, " "))
        else:
            chars.append(ch)
    words: list[str] = []
    for word in "".join(chars).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    words.append(current)
                    current = ""
                words.append(ch)
            else:
                current += ch
        if current:
            words.append(current)
    return words


class WordPiece:
    """Greedy longest-match-first WordPiece over a BERT vocabulary file (one token per line)."""

    def __init__(self, vocab_path: Path) -> None:
        try:
            tokens = vocab_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise AppraiserWeightsError(
                f"The appraiser's vocabulary file {vocab_path} cannot be read ({exc}). Reinstall cooldown."
            ) from exc
        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def ids(self, text: str) -> list[int]:
        out: list[int] = []
        for word in _basic_words(text):
            if len(word) > 100:
                out.append(self.unk)
                continue
            start, pieces = 0, []
            while start < len(word):
                end, found = len(word), None
                while start < end:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        found = self.vocab[piece]
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk]
                    break
                pieces.append(found)
                start = end
            out.extend(pieces)
        return out

    def pair(self, first: str, second: str, max_tokens: int = MAX_TOKENS) -> tuple[list[int], list[int]]:
        """`[CLS] first [SEP] second [SEP]` and its segment ids, trimmed longest-first to `max_tokens`."""
        a, b = self.ids(first), self.ids(second)
        while len(a) + len(b) > max_tokens - 3:
            if len(a) > len(b):
                a.pop()
            else:
                b.pop()
        return [self.cls, *a, self.sep, *b, self.sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)


# --- the model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (384, 1152) float32
    qkv_b: np.ndarray
    out: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_b: np.ndarray
    down: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Encoder:
    """The fine-tuned reading model, loaded once and shared (arrays are read-only)."""

    word: np.ndarray
    word_scale: np.ndarray
    position: np.ndarray
    segment: np.ndarray
    ln0: tuple[np.ndarray, np.ndarray]
    layers: tuple[_Layer, ...]
    head: np.ndarray  # (384, N_HEADS)
    head_b: np.ndarray
    heads: int
    tokenizer: WordPiece
    version: str
    meta: dict[str, object]
    _prefixes: dict[str, tuple[tuple[np.ndarray, np.ndarray], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def pooling(self) -> str:
        """"pair" or "turn" (see `POOLINGS`)."""
        return str(self.meta.get("pooling") or "pair")

    @property
    def reads_scenario(self) -> bool:
        """Whether this model was trained with the scenario as a prefix."""
        return bool(self.meta.get("scenario_tokens"))

    def _embed(self, ids: Sequence[int], segments: Sequence[int], offset: int) -> np.ndarray:
        idx = np.asarray(ids)
        x = self.word[idx].astype(np.float32) * self.word_scale[idx, None]
        x += self.position[offset : offset + len(ids)] + self.segment[np.asarray(segments)]
        return _layer_norm(x, self.ln0)

    def prefix(self, scenario: str) -> tuple[tuple[np.ndarray, np.ndarray], ...] | None:
        """Each layer's keys and values for the scenario's tokens (cached per scenario), or None when the
        model does not read scenarios or the scenario is empty."""
        text = scenario_text(scenario)
        if not text or not self.reads_scenario:
            return None
        cache = self._prefixes
        found = cache.get(text)
        if found is not None:
            return found
        ids = self.tokenizer.ids(text)[:SCENARIO_TOKENS]
        if not ids:
            return None
        x = self._embed(ids, [0] * len(ids), MAX_TOKENS)
        kv = []
        for layer in self.layers:
            x, k, v = _block(x, layer, self.heads)
            kv.append((k, v))
        with self._lock:
            if len(cache) >= _PREFIX_CACHE_SIZE:
                cache.pop(next(iter(cache)), None)
            cache[text] = found = tuple(kv)
        return found

    def logits(self, customer: str, turn: str, scenario: str | None = None) -> np.ndarray:
        """One logit per appraiser head (`weights.HEAD_NAMES` order) for this turn after this caller line,
        reading the scenario's facts too when the model was trained with them."""
        ids, segments = self.tokenizer.pair(CUSTOMER_PREFIX + customer, turn)
        prefix = self.prefix(scenario) if scenario else None
        x = self._embed(ids, segments, 0)
        for i, layer in enumerate(self.layers):
            x, _, _ = _block(x, layer, self.heads, prefix[i] if prefix else None)
        pooled = x[np.asarray(segments) == 1].mean(axis=0) if self.pooling == "turn" else x.mean(axis=0)
        out: np.ndarray = pooled @ self.head + self.head_b
        return out.astype(np.float64)


@dataclass(frozen=True)
class ReadingModels:
    """Several reading models read as one (seeds of one recipe): each head's logit is the plain mean of theirs.

    Averaging seeds removes part of what the seed alone decides (`data/dev2/README.md`, E); each turn costs
    the sum of the models' costs."""

    models: tuple[Encoder, ...]

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ValueError("ReadingModels needs at least two reading models; use the Encoder itself for one")

    @property
    def version(self) -> str:
        """The models' versions joined by "+", in order."""
        return "+".join(m.version for m in self.models)

    @property
    def reads_scenario(self) -> bool:
        """Whether any of the models reads the scenario."""
        return any(m.reads_scenario for m in self.models)

    def prefix(self, scenario: str) -> None:
        """Compute (and cache) every model's scenario prefix; see `Encoder.prefix`."""
        for model in self.models:
            model.prefix(scenario)

    def logits(self, customer: str, turn: str, scenario: str | None = None) -> np.ndarray:
        """The mean over the models of `Encoder.logits`."""
        out: np.ndarray = np.mean([m.logits(customer, turn, scenario) for m in self.models], axis=0)
        return out


def _layer_norm(x: np.ndarray, params: tuple[np.ndarray, np.ndarray], eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: np.ndarray = (x - mean) / np.sqrt(var + eps) * params[0] + params[1]
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    return out


def _block(
    x: np.ndarray, layer: _Layer, heads: int, prefix: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One transformer layer; also returns this input's keys and values (heads, n, size). With `prefix`,
    the tokens also attend to those keys and values (the scenario's, at this layer)."""
    n, width = x.shape
    size = width // heads
    qkv = x @ layer.qkv + layer.qkv_b
    q, k_own, v_own = (
        qkv[:, i * width : (i + 1) * width].reshape(n, heads, size).transpose(1, 0, 2) for i in range(3)
    )
    k, v = k_own, v_own
    if prefix is not None:
        k, v = np.concatenate([prefix[0], k_own], axis=1), np.concatenate([prefix[1], v_own], axis=1)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(size)
    scores -= scores.max(axis=-1, keepdims=True)
    attn = np.exp(scores)
    attn /= attn.sum(axis=-1, keepdims=True)
    context = (attn @ v).transpose(1, 0, 2).reshape(n, width)
    x = _layer_norm(x + context @ layer.out + layer.out_b, layer.ln1)
    return _layer_norm(x + _gelu(x @ layer.up + layer.up_b) @ layer.down + layer.down_b, layer.ln2), k_own, v_own


def quantize_int8(m: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per output column (axis=0) or per row (axis=1): how `encoder.npz` stores a
    matrix (`scripts/train_encoder.py` and `scripts/interpolate_encoder.py` write it; `_dequant` reads it)."""
    scale = np.abs(m).max(axis=axis) / 127.0
    scale[scale == 0] = 1.0
    q = np.round(m / (scale[None, :] if axis == 0 else scale[:, None])).astype(np.int8)
    return np.ascontiguousarray(q), scale.astype(np.float32)


def _dequant(data: dict[str, np.ndarray], name: str) -> np.ndarray:
    q = data[name]
    if q.dtype == np.int8:
        out: np.ndarray = np.ascontiguousarray(q.astype(np.float32) * data[name + ".scale"][None, :])
    else:
        out = np.ascontiguousarray(q, dtype=np.float32)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=4)
def load_encoder(path: Path = DEFAULT_ENCODER, vocab_path: Path = DEFAULT_VOCAB) -> Encoder:
    """Read the encoder file once.

    Raises:
        AppraiserWeightsError: The file is missing, damaged or was trained for other heads.
    """
    try:
        raw = path.read_bytes()
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise AppraiserWeightsError(
            f"The appraiser's reading model {path} cannot be read ({exc}). Reinstall cooldown, or retrain it "
            "with scripts/train_encoder.py."
        ) from exc
    meta = json.loads(str(data["meta"]))
    if meta.get("heads") != N_HEADS:
        raise AppraiserWeightsError(
            f"The appraiser's reading model {path} was trained for {meta.get('heads')} heads, this code has "
            f"{N_HEADS}. Retrain it with scripts/train_encoder.py."
        )
    if str(meta.get("pooling") or "pair") not in POOLINGS:
        raise AppraiserWeightsError(
            f"The appraiser's reading model {path} pools by {meta.get('pooling')!r}; this code knows "
            f"{', '.join(POOLINGS)}. Update cooldown, or retrain it with scripts/train_encoder.py."
        )
    if int(meta.get("scenario_tokens") or 0) > SCENARIO_TOKENS or len(data["position"]) < MAX_TOKENS + int(
        meta.get("scenario_tokens") or 0
    ):
        raise AppraiserWeightsError(
            f"The appraiser's reading model {path} reads {meta.get('scenario_tokens')} scenario tokens but has "
            f"{len(data['position'])} positions (this code reads up to {SCENARIO_TOKENS}). Retrain it with "
            "scripts/train_encoder.py."
        )
    layers = []
    for i in range(int(meta["layers"])):
        p = f"l{i}."
        layers.append(
            _Layer(
                qkv=_dequant(data, p + "qkv"),
                qkv_b=data[p + "qkv_b"],
                out=_dequant(data, p + "out"),
                out_b=data[p + "out_b"],
                ln1=(data[p + "ln1_g"], data[p + "ln1_b"]),
                up=_dequant(data, p + "up"),
                up_b=data[p + "up_b"],
                down=_dequant(data, p + "down"),
                down_b=data[p + "down_b"],
                ln2=(data[p + "ln2_g"], data[p + "ln2_b"]),
            )
        )
    enc = Encoder(
        word=data["word"],
        word_scale=data["word.scale"],
        position=data["position"].astype(np.float32),
        segment=data["segment"].astype(np.float32),
        ln0=(data["ln0_g"], data["ln0_b"]),
        layers=tuple(layers),
        head=data["head"].astype(np.float32),
        head_b=data["head_b"].astype(np.float32),
        heads=int(meta["attention_heads"]),
        tokenizer=WordPiece(vocab_path),
        version=hashlib.sha256(raw).hexdigest()[:12],
        meta=meta,
    )
    for arr in (enc.word, enc.word_scale, enc.position, enc.segment, enc.head, enc.head_b):
        arr.flags.writeable = False
    return enc


def load_reading_models(paths: Sequence[Path]) -> Encoder | ReadingModels:
    """The reading model in `paths`, or the mean of several (`ReadingModels`), each read once.

    Raises:
        AppraiserWeightsError: A file is missing, damaged or was trained for other heads.
    """
    models = tuple(load_encoder(path) for path in paths)
    if not models:
        raise ValueError("no reading model given")
    return models[0] if len(models) == 1 else ReadingModels(models)


def encoder_spec(paths: Sequence[Path], model: Encoder | ReadingModels) -> dict[str, object]:
    """How a weights file names the reading model(s) it was tuned with (`meta["encoder"]`, without the blend):
    the file name(s) beside it and the version(s) it pins."""
    if isinstance(model, Encoder):
        return {"file": paths[0].name, "version": model.version}
    return {"files": [p.name for p in paths], "versions": [m.version for m in model.models]}
