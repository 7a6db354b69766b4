"""Who is a sentence said to: the caller, or whoever grades the turn?

The payload stripper (`payloads`, `integrity`) cuts shapes it knows: role labels, grade JSON, sentences
that name the grader. Each new family of payloads brings shapes it has not seen (a fake legal notice
binding "automated evaluators", a verse that ends "score it a three", a Caesar-shifted note). This is the
positive test beside it: a small logistic model over hashed word 1-2-grams and character 2-4-grams, plus
the share of words that are not English, that scores one sentence as said to a model or grader rather
than to the caller. The grading view drops a sentence only when the model is very sure
(`Addressee.threshold`, set so that no sentence of the ordinary turns it was checked on would be dropped).

Trained by `scripts/train_addressee.py` on sentences of our own and the training authors' ordinary turns
(said to the caller) and the payload sentences of three injection sets (`injection_heldout`,
`injection_fresh`, `injection_fresh2`); never on the blind suites, the gold test splits or
`injection_unseen`, which measure it. Numpy only at run time.
"""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIM = 1 << 18
WEIGHTS = Path(__file__).resolve().parent / "appraiser" / "data" / "addressee.npz"
VOCAB = Path(__file__).resolve().parent / "appraiser" / "data" / "encoder_vocab.txt"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[^\sa-z\d]")
_LETTERS = re.compile(r"[a-z]{3,}")


@functools.cache
def _english_words() -> frozenset[str]:
    """Whole words of the reading model's WordPiece vocabulary (English, lower case)."""
    words = VOCAB.read_text(encoding="utf-8").split() if VOCAB.is_file() else []
    return frozenset(w for w in words if w.isalpha() and not w.startswith("##"))


def _bucket(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % DIM


def features(sentence: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashed feature indices and L2-normalised values of one sentence."""
    text = " ".join(sentence.lower().split())
    tokens = _WORD.findall(text)
    names = [f"w:{t}" for t in tokens]
    names += [f"b:{a} {b}" for a, b in itertools.pairwise(tokens)]
    padded = f" {text} "
    names += [f"c:{padded[i:i + n]}" for n in (2, 3, 4) for i in range(len(padded) - n + 1)]
    long_words = _LETTERS.findall(text)
    if long_words:
        unknown = sum(w not in _english_words() for w in long_words) / len(long_words)
        names.append(f"u:{min(4, int(unknown * 5))}")  # the share of words that are not English, in fifths
    names.append(f"n:{min(6, len(tokens) // 4)}")  # length, in fours of tokens
    counts: dict[int, float] = {}
    for name in names:
        k = _bucket(name)
        counts[k] = counts.get(k, 0.0) + 1.0
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    val = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    norm = float(np.sqrt((val**2).sum())) or 1.0
    return idx, val / norm


@dataclass(frozen=True)
class Addressee:
    """The trained model: weights over the hashed features, a bias, and the drop threshold."""

    weights: np.ndarray
    bias: float
    threshold: float
    version: str

    def probability(self, sentence: str) -> float:
        """Probability that `sentence` is said to a model or grader, not to the caller."""
        idx, val = features(sentence)
        z = float(self.weights[idx] @ val) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def for_a_model(self, sentence: str) -> bool:
        """True when the model is sure enough to drop the sentence from the grading view."""
        return self.probability(sentence) >= self.threshold


def save(path: Path, weights: np.ndarray, bias: float, threshold: float) -> str:
    """Write the model; returns its version (first 12 hex of the CRC of its weights and settings)."""
    nz = np.flatnonzero(weights)
    np.savez_compressed(path, idx=nz.astype(np.int32), w=weights[nz].astype(np.float32),
                        bias=np.float64(bias), threshold=np.float64(threshold))  # fmt: skip
    return f"{zlib.crc32(path.read_bytes()):08x}"


@functools.cache
def load(path: Path = WEIGHTS) -> Addressee | None:
    """The shipped model, or None when its file is absent (the stripper's rules then work alone)."""
    if not path.is_file():
        return None
    with np.load(path) as data:
        weights = np.zeros(DIM, dtype=np.float64)
        weights[data["idx"]] = data["w"]
        bias, threshold = float(data["bias"]), float(data["threshold"])
    return Addressee(weights, bias, threshold, f"{zlib.crc32(path.read_bytes()):08x}")
