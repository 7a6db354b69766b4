"""The appraiser's trained weights: file format, loading (once, immutable) and the linear heads in numpy.

The weights file (`data/appraiser_weights.npz`, written by `scripts/train_appraiser.py`) holds one
stacked matrix for every head, restricted to the feature columns that training saw:

* `cols` (int32, C): feature columns kept; `W` (float32, H x C) and `b` (float32, H): the heads;
* `thresholds` (float32, H): decision thresholds for the binary heads (unused for the score rows);
* `calib` (float32, H x 2, optional): Platt scaling `(a, b)` per binary head, `p = sigmoid(a * logit + b)`,
  fitted on out-of-fold predictions; the score rows hold the softmax temperature as `(1 / T, 0)`.
  Confidence comes from these calibrated probabilities; decisions still use `thresholds`;
* `meta` (a JSON string): head names, hashing parameters and the training summary.

Rows, in order: 11 behaviours (docs/rubric.md order), 5 score classes (0-4, softmax), 5 technique-presence heads,
1 "used manipulatively" head shared by all techniques, 5 tactics, and one whole-turn "manipulative" head
that gates the other two (a turn it calls clean keeps its techniques, as ethical uses, and loses its
tactics). Inference needs numpy only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from simulator.errors import CooldownError
from simulator.grading.appraiser.features import HASH_BITS, N_FEATURES
from simulator.grading.labels import Behaviour, Tactic, Technique
from simulator.resources import package_path

if TYPE_CHECKING:
    from simulator.grading.appraiser.encoder import Encoder, ReadingModels

WEIGHTS_FILE: Final = "appraiser_weights.npz"
DEFAULT_WEIGHTS: Final = package_path("simulator.grading.appraiser", "data", WEIGHTS_FILE)

BEHAVIOURS: Final[tuple[Behaviour, ...]] = tuple(Behaviour)
TECHNIQUES: Final[tuple[Technique, ...]] = tuple(Technique)
TACTICS: Final[tuple[Tactic, ...]] = tuple(Tactic)
HEAD_NAMES: Final[tuple[str, ...]] = (
    *(f"behaviour:{b.value}" for b in BEHAVIOURS),
    *(f"score:{i}" for i in range(5)),
    *(f"technique:{t.value}" for t in TECHNIQUES),
    "use:manipulative",
    *(f"tactic:{t.value}" for t in TACTICS),
    "manipulative",
)
B_SLICE: Final = slice(0, len(BEHAVIOURS))
S_SLICE: Final = slice(B_SLICE.stop, B_SLICE.stop + 5)
T_SLICE: Final = slice(S_SLICE.stop, S_SLICE.stop + len(TECHNIQUES))
USE_ROW: Final = T_SLICE.stop
X_SLICE: Final = slice(USE_ROW + 1, USE_ROW + 1 + len(TACTICS))
M_ROW: Final = X_SLICE.stop
"""The whole-turn "manipulative" head: a gate over the technique-use and tactic heads."""
N_HEADS: Final = M_ROW + 1


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
    calib: np.ndarray | None = None
    """(H, 2) Platt parameters (see the module docstring), or None for uncalibrated weights."""
    encoder: Encoder | ReadingModels | None = None
    """The reading model (or the mean of several) whose logits are blended with the linear heads' (None:
    linear heads alone)."""
    blend: np.ndarray | None = None
    """(H,) the reading model's share of each head's logit: `(1 - share) * linear + share * encoder`."""

    def turn_logits(
        self, features: tuple[np.ndarray, np.ndarray], customer: str, turn: str, scenario: str | None = None
    ) -> np.ndarray:
        """Every head's logit for one turn: the linear heads over `features`, blended with the reading
        model over the caller's last line and the turn (and the scenario, if that model reads one) when
        the weights name one."""
        return self.blended(*self.logit_parts(features, customer, turn, scenario))

    def logit_parts(
        self, features: tuple[np.ndarray, np.ndarray], customer: str, turn: str, scenario: str | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The two logits `turn_logits` blends: the linear heads' and the reading model's (None when these
        weights blend none)."""
        linear = self.logits(features)
        if self.encoder is None or self.blend is None:
            return linear, None
        return linear, self.encoder.logits(customer, turn, scenario)

    def blended(self, linear: np.ndarray, reading: np.ndarray | None) -> np.ndarray:
        """Each head's logit: `(1 - share) * linear + share * reading`, or `linear` without a reading model."""
        if reading is None or self.blend is None:
            return linear
        out: np.ndarray = linear + self.blend * (reading - linear)
        return out

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of every binary head (H,); the score rows hold the score softmax."""
        a = self.calib[:, 0] if self.calib is not None else np.ones(N_HEADS)
        c = self.calib[:, 1] if self.calib is not None else np.zeros(N_HEADS)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-(a * logits + c)))
        scaled = logits[S_SLICE] * a[S_SLICE.start]
        soft = np.exp(scaled - scaled.max())
        out[S_SLICE] = soft / soft.sum()
        return out

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
    path: Path,
    cols: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    thresholds: np.ndarray,
    meta: dict[str, Any],
    calib: np.ndarray | None = None,
) -> str:
    """Write a weights file (used by the training script). Returns its version hash."""
    if W.shape != (N_HEADS, len(cols)) or b.shape != (N_HEADS,) or thresholds.shape != (N_HEADS,):
        raise AppraiserWeightsError(f"weights have shape {W.shape}, expected ({N_HEADS}, {len(cols)})")
    meta = {**meta, "heads": list(HEAD_NAMES), "hash_bits": HASH_BITS, "n_features": N_FEATURES}
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "cols": cols.astype(np.int32),
        "W": W.astype(np.float32),
        "b": b.astype(np.float32),
        "thresholds": thresholds.astype(np.float32),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    if calib is not None:
        arrays["calib"] = calib.astype(np.float32)
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def weights_file(path: Path) -> Path:
    """The weights file a setting names: the file itself, or `appraiser_weights.npz` inside a folder.

    Raises:
        AppraiserWeightsError: Nothing usable is there.
    """
    path = Path(path).expanduser()
    candidate = path / WEIGHTS_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise AppraiserWeightsError(
            f"no appraiser weights at {candidate}: point COOLDOWN_APPRAISER_WEIGHTS at a folder written by "
            "`cooldown appraiser train` (or its .npz file), or unset it to use the shipped weights"
        )
    return candidate


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
            calib = data["calib"].astype(np.float64) if "calib" in data.files else None
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
    if calib is not None and calib.shape != (N_HEADS, 2):
        raise AppraiserWeightsError(f"{path} has a calibration table of shape {calib.shape}; retrain it.")
    encoder, blend = _blended_encoder(path, meta)
    WT = np.ascontiguousarray(W.T, dtype=np.float64)
    lookup = np.full(N_FEATURES, -1, dtype=np.int64)
    lookup[cols] = np.arange(len(cols))
    b = b.astype(np.float64)
    for arr in (cols, WT, b, thresholds, lookup, *([calib] if calib is not None else [])):
        arr.setflags(write=False)
    return Weights(
        cols=cols,
        WT=WT,
        b=b,
        thresholds=thresholds,
        lookup=lookup,
        version=hashlib.sha256(raw).hexdigest()[:12],
        meta=meta,
        calib=calib,
        encoder=encoder,
        blend=blend,
    )


def _blended_encoder(
    path: Path, meta: dict[str, Any]
) -> tuple[Encoder | ReadingModels | None, np.ndarray | None]:
    """The reading model a weights file was tuned with (`meta["encoder"]`: one `file`, or several `files`
    averaged): each the file of that name beside the weights file, else the shipped one (a copy of the
    shipped weights elsewhere keeps working). Either way each must be the very version the blend,
    thresholds and calibration were fitted on."""
    spec = meta.get("encoder")
    if not spec:
        return None, None
    from simulator.grading.appraiser.encoder import DEFAULT_ENCODER, ReadingModels, load_encoder

    files = spec.get("files") or [spec.get("file")]
    versions = spec.get("versions") or [spec.get("version")]
    if len(files) != len(versions) or not all(isinstance(f, str) and f for f in files):
        raise AppraiserWeightsError(f"{path} names its reading models in a malformed way; retrain it.")
    models = []
    for name, version in zip(files, versions, strict=True):
        beside = path.parent / name
        shipped = DEFAULT_ENCODER.parent / name
        where = beside if beside.is_file() or not shipped.is_file() else shipped
        encoder = load_encoder(where)
        if encoder.version != version:
            raise AppraiserWeightsError(
                f"{path} was tuned with reading model {version}, but {where} is {encoder.version}. "
                f"Put the reading model it was tuned with beside it as {beside.name}, reinstall Cooldown, or "
                "retrain both with scripts/train_encoder.py and scripts/train_appraiser.py."
            )
        models.append(encoder)
    shares = np.asarray(spec.get("blend"), dtype=np.float64)
    if shares.shape != (N_HEADS,) or not ((shares >= 0) & (shares <= 1)).all():
        raise AppraiserWeightsError(f"{path} has a malformed reading-model blend; retrain it.")
    shares.setflags(write=False)
    return (models[0] if len(models) == 1 else ReadingModels(tuple(models))), shares
