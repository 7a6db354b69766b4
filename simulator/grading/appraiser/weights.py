"""The appraiser's trained weights: file format, loading (once, immutable) and the linear heads in numpy.

The weights file (`data/appraiser_weights.npz`, written by `scripts/train_appraiser.py`) holds one
stacked matrix for every head, restricted to the feature columns that training saw:

* `cols` (int32, C): feature columns kept; `W` (float32, H x C) and `b` (float32, H): the heads;
* `thresholds` (float32, H): decision thresholds for the binary heads (unused for the score rows);
* `meta` (a JSON string): head names, hashing parameters and the training summary.

Rows, in order: 11 behaviours (docs/rubric.md order), 5 score classes (0-4, softmax), 5 technique-presence heads,
1 "used manipulatively" head shared by all techniques, 5 tactics. Inference needs numpy only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np

from simulator.errors import CooldownError
from simulator.grading.appraiser.features import HASH_BITS, N_FEATURES
from simulator.grading.labels import Behaviour, Tactic, Technique

DEFAULT_WEIGHTS: Final = Path(__file__).parent / "data" / "appraiser_weights.npz"

BEHAVIOURS: Final[tuple[Behaviour, ...]] = tuple(Behaviour)
TECHNIQUES: Final[tuple[Technique, ...]] = tuple(Technique)
TACTICS: Final[tuple[Tactic, ...]] = tuple(Tactic)
HEAD_NAMES: Final[tuple[str, ...]] = (
    *(f"behaviour:{b.value}" for b in BEHAVIOURS),
    *(f"score:{i}" for i in range(5)),
    *(f"technique:{t.value}" for t in TECHNIQUES),
    "use:manipulative",
    *(f"tactic:{t.value}" for t in TACTICS),
)
B_SLICE: Final = slice(0, len(BEHAVIOURS))
S_SLICE: Final = slice(B_SLICE.stop, B_SLICE.stop + 5)
T_SLICE: Final = slice(S_SLICE.stop, S_SLICE.stop + len(TECHNIQUES))
USE_ROW: Final = T_SLICE.stop
X_SLICE: Final = slice(USE_ROW + 1, USE_ROW + 1 + len(TACTICS))
N_HEADS: Final = X_SLICE.stop


class AppraiserWeightsError(CooldownError):
    """The appraiser's weights file is missing or does not match this code."""


@dataclass(frozen=True)
class Weights:
    """Immutable trained heads. Arrays are read-only, so sharing one instance across sessions is safe."""

    cols: np.ndarray
    WT: np.ndarray
    """The heads transposed (C x H), so one turn's columns are a contiguous row gather."""
    b: np.ndarray
    thresholds: np.ndarray
    lookup: np.ndarray
    """Feature column → index into `cols`, or -1 for columns training never saw."""
    version: str
    """First 12 hex characters of the SHA-256 of the weights file."""
    meta: dict[str, Any]

    def logits(self, features: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Raw head outputs (H,) for one sparse feature vector `(indices, values)`."""
        idx, vals = features
        if idx.size == 0:
            return self.b.astype(np.float64)
        pos = self.lookup[idx]
        keep = pos >= 0
        out: np.ndarray = vals[keep] @ self.WT[pos[keep]] + self.b
        return out


def save_weights(
    path: Path, cols: np.ndarray, W: np.ndarray, b: np.ndarray, thresholds: np.ndarray, meta: dict[str, Any]
) -> str:
    """Write a weights file (used by the training script). Returns its version hash."""
    if W.shape != (N_HEADS, len(cols)) or b.shape != (N_HEADS,) or thresholds.shape != (N_HEADS,):
        raise AppraiserWeightsError(f"weights have shape {W.shape}, expected ({N_HEADS}, {len(cols)})")
    meta = {**meta, "heads": list(HEAD_NAMES), "hash_bits": HASH_BITS, "n_features": N_FEATURES}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        np.savez_compressed(
            fh,
            cols=cols.astype(np.int32),
            W=W.astype(np.float32),
            b=b.astype(np.float32),
            thresholds=thresholds.astype(np.float32),
            meta=np.array(json.dumps(meta, sort_keys=True)),
        )
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=4)
def load_weights(path: Path = DEFAULT_WEIGHTS) -> Weights:
    """Load and check a weights file once per process (cached; the result is immutable).

    Raises:
        AppraiserWeightsError: The file is missing, unreadable, or was trained for other features/labels.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AppraiserWeightsError(
            f"cannot read the appraiser weights at {path} ({exc}). Retrain them with "
            "`python scripts/train_appraiser.py` or reinstall Cooldown."
        ) from exc
    try:
        import io

        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            cols, W, b = data["cols"], data["W"], data["b"]
            thresholds = data["thresholds"]
            meta = json.loads(str(data["meta"]))
    except (ValueError, KeyError, OSError) as exc:
        raise AppraiserWeightsError(
            f"{path} is not a valid appraiser weights file ({exc}). Retrain with scripts/train_appraiser.py."
        ) from exc
    if meta.get("heads") != list(HEAD_NAMES) or meta.get("n_features") != N_FEATURES:
        raise AppraiserWeightsError(
            f"{path} was trained for different labels or features than this code. "
            "Retrain with `python scripts/train_appraiser.py`."
        )
    if W.shape != (N_HEADS, len(cols)) or (cols.size and (cols.min() < 0 or cols.max() >= N_FEATURES)):
        raise AppraiserWeightsError(f"{path} has inconsistent array shapes; retrain it.")
    WT = np.ascontiguousarray(W.T, dtype=np.float64)
    lookup = np.full(N_FEATURES, -1, dtype=np.int64)
    lookup[cols] = np.arange(len(cols))
    b = b.astype(np.float64)
    for arr in (cols, WT, b, thresholds, lookup):
        arr.setflags(write=False)
    return Weights(
        cols=cols,
        WT=WT,
        b=b,
        thresholds=thresholds,
        lookup=lookup,
        version=hashlib.sha256(raw).hexdigest()[:12],
        meta=meta,
    )
