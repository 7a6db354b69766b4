"""Training the appraiser's heads: features, targets, fits, calibration, thresholds and the issue's target figures.

Used by `scripts/train_appraiser.py` (the shipped weights) and `cooldown appraiser train` (an
organisation's own weights). Needs scikit-learn and scipy, which inference does not: install them with
`pip install 'cooldown[train]'`. Deterministic: fixed seeds, liblinear/lbfgs solvers, inputs in the
order given; the same data gives the same weights file.

Heads (all linear): 11 behaviours, a 5-class score head, 5 technique presence heads, one shared "used
manipulatively" head, 5 tactics and the whole-turn "manipulative" gate. Binary thresholds are tuned on
out-of-fold predictions (4 group folds), then every head is refit on all the training items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.errors import CooldownError
from simulator.grading.appraiser.dataset import LabelledTurn
from simulator.grading.appraiser.features import N_FEATURES, extract
from simulator.grading.appraiser.weights import (
    B_SLICE,
    BEHAVIOURS,
    M_ROW,
    N_HEADS,
    S_SLICE,
    T_SLICE,
    TACTICS,
    TECHNIQUES,
    USE_ROW,
    X_SLICE,
    save_weights,
)
from simulator.grading.integrity import strip_injection_spans
from simulator.grading.labels import TurnVerdict

if TYPE_CHECKING:
    from scipy import sparse

SEED = 20240607
C_BINARY = 4.0
C_SCORE = 2.0
PAIR_WEIGHT = 0.0
"""Weight of each counterfactual pair's difference row in the `manipulative` and `use:manipulative` heads
(0 = off, as the shipped weights were trained).

A pair is two turns of one `meta.group` with a `meta.pair_axis`, one manipulative and one not, that differ
by one decision criterion. Besides the two turns themselves, the head then sees the difference of their
feature vectors labelled 1 (and its negation labelled 0): a pairwise constraint that puts the weight on the
clause that flips the decision rather than on the words both turns share. Measured on 450 turns by three
authors the model never saw (data/pending, r9-r11): 3.0 against 0 moved `manipulative` F1 0.58 -> 0.61,
pairs right 30% -> 33% and ethical uses called manipulative 23% -> 20%. Not switched on yet because the
weights retrained with it call one shipped persona's acceptable offer manipulative (docs/grading-quality.md,
"Pair constraints")."""
NEGATIVE = ("fact_confrontation", "dismissal", "blame")
PACKAGE_DATA = Path(__file__).resolve().parent / "data"


class TrainingUnavailable(CooldownError):
    """scikit-learn or scipy is missing, so weights cannot be trained here."""


def _require_sklearn() -> None:
    try:
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise TrainingUnavailable(
            f"training the appraiser needs scikit-learn and scipy ({exc}); install them with "
            "`pip install 'cooldown[train]'`"
        ) from exc


def shipped_training_files() -> list[Path]:
    """The files the shipped weights are trained on: our own turns first, then the gold suites, each sorted."""
    from evals.suites import SUITES_DIR

    return sorted(PACKAGE_DATA.glob("*.jsonl")) + sorted(SUITES_DIR.glob("*.jsonl"))


def group_of(case: LabelledTurn) -> str:
    """The item's group (`meta.group`), else its id: items of one group are never split across folds."""
    return str(case.meta.get("group") or case.id)


def featurise(cases: Sequence[LabelledTurn]) -> sparse.csr_matrix:
    """The design matrix, built with the runtime feature code on the runtime's grading view."""
    _require_sklearn()
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, case in enumerate(cases):
        ctx = [(u.role, u.text) for u in case.context]
        idx, val = extract(strip_injection_spans(case.trainee_turn), ctx, case.scenario)
        rows.extend([i] * len(idx))
        cols.extend(idx.tolist())
        vals.extend(val.tolist())
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(cases), N_FEATURES), dtype=np.float64)


def targets(cases: Sequence[LabelledTurn]) -> dict[str, np.ndarray]:
    """Label arrays per head."""
    golds = [c.gold for c in cases]
    out: dict[str, np.ndarray] = {}
    for b in BEHAVIOURS:
        out[f"behaviour:{b.value}"] = np.array([b in g.behaviours for g in golds], dtype=int)
    for t in TECHNIQUES:
        out[f"technique:{t.value}"] = np.array([g.uses(t) is not None for g in golds], dtype=int)
    for x in TACTICS:
        out[f"tactic:{x.value}"] = np.array([x in g.manipulation_tactics for g in golds], dtype=int)
    out["use:manipulative"] = np.array([any(t.use == "manipulative" for t in g.techniques) for g in golds], dtype=int)
    out["has_technique"] = np.array([bool(g.techniques) for g in golds], dtype=int)
    out["manipulative"] = np.array([g.manipulative for g in golds], dtype=int)
    out["score"] = np.array([g.perspective_taking for g in golds], dtype=int)
    pair_ids: dict[str, int] = {}
    out["pair_id"] = np.array(
        [pair_ids.setdefault(group_of(c), len(pair_ids)) if c.meta.get("pair_axis") else -1 for c in cases],
        dtype=int,
    )
    return out


def _pair_differences(X: sparse.csr_matrix, y: np.ndarray, pair_id: np.ndarray) -> sparse.csr_matrix | None:
    """Rows `x_flagged - x_clean` for every counterfactual pair in X whose two turns disagree on y."""
    flagged: list[int] = []
    clean: list[int] = []
    for pid in np.unique(pair_id[pair_id >= 0]):
        idx = np.flatnonzero(pair_id == pid)
        if len(idx) != 2 or y[idx[0]] == y[idx[1]]:
            continue
        hi, lo = (idx[0], idx[1]) if y[idx[0]] else (idx[1], idx[0])
        flagged.append(int(hi))
        clean.append(int(lo))
    if not flagged:
        return None
    diff: sparse.csr_matrix = (X[flagged] - X[clean]).tocsr()
    return diff


def fit_binary_with_pairs(X: sparse.csr_matrix, y: np.ndarray, pair_id: np.ndarray) -> tuple[np.ndarray, float]:
    """`fit_binary`, plus each counterfactual pair's difference as a pairwise constraint (`PAIR_WEIGHT`)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    diff = _pair_differences(X, y, pair_id)
    if diff is None or y.min() == y.max() or PAIR_WEIGHT <= 0:
        return fit_binary(X, y)
    n = diff.shape[0]
    X_aug = sparse.vstack([X, diff, -diff]).tocsr()
    y_aug = np.concatenate([y, np.ones(n, dtype=int), np.zeros(n, dtype=int)])
    positives = int(y.sum())
    balanced = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    weight = np.concatenate([balanced, np.full(2 * n, PAIR_WEIGHT)])
    model = LogisticRegression(C=C_BINARY, solver="liblinear", random_state=SEED, max_iter=2000, tol=1e-3)
    model.fit(X_aug, y_aug, sample_weight=weight)
    return model.coef_[0], float(model.intercept_[0])


def fit_binary(X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, float]:
    """One logistic head; a label never (or always) seen gets a constant far from the threshold."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return np.zeros(X.shape[1]), (8.0 if y[0] else -8.0)
    model = LogisticRegression(
        C=C_BINARY, class_weight="balanced", solver="liblinear", random_state=SEED, max_iter=2000, tol=1e-3
    )
    model.fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def fit_score(X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 0-4 score head (multinomial); classes absent from training get a very low bias."""
    from sklearn.linear_model import LogisticRegression

    W = np.zeros((5, X.shape[1]))
    b = np.full(5, -30.0)
    if y.min() == y.max():
        b[int(y[0])] = 0.0
        return W, b
    model = LogisticRegression(C=C_SCORE, solver="lbfgs", max_iter=500, tol=1e-3, random_state=SEED)
    model.fit(X, y)
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: the second class's logit
        W[int(model.classes_[1])] = model.coef_[0]
        b[int(model.classes_[1])] = model.intercept_[0]
        b[int(model.classes_[0])] = 0.0
        return W, b
    for k, cls in enumerate(model.classes_):
        W[int(cls)] = model.coef_[k]
        b[int(cls)] = model.intercept_[k]
    return W, b


def fit_all(X: sparse.csr_matrix, y: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fit every head on (X, y); returns W (N_HEADS x features) and b."""
    W = np.zeros((N_HEADS, X.shape[1]))
    b = np.zeros(N_HEADS)
    for i, beh in enumerate(BEHAVIOURS):
        W[B_SLICE.start + i], b[B_SLICE.start + i] = fit_binary(X, y[f"behaviour:{beh.value}"])
    W[S_SLICE], b[S_SLICE] = fit_score(X, y["score"])
    for i, t in enumerate(TECHNIQUES):
        W[T_SLICE.start + i], b[T_SLICE.start + i] = fit_binary(X, y[f"technique:{t.value}"])
    mask = y["has_technique"] == 1
    if mask.sum() >= 2:
        W[USE_ROW], b[USE_ROW] = fit_binary_with_pairs(X[mask], y["use:manipulative"][mask], y["pair_id"][mask])
    for i, x in enumerate(TACTICS):
        W[X_SLICE.start + i], b[X_SLICE.start + i] = fit_binary(X, y[f"tactic:{x.value}"])
    W[M_ROW], b[M_ROW] = fit_binary_with_pairs(X, y["manipulative"], y["pair_id"])
    return W, b


def binary_rows() -> list[tuple[int, str]]:
    """(row, target name) of every binary head."""
    rows = [(B_SLICE.start + i, f"behaviour:{b.value}") for i, b in enumerate(BEHAVIOURS)]
    rows += [(T_SLICE.start + i, f"technique:{t.value}") for i, t in enumerate(TECHNIQUES)]
    rows += [(USE_ROW, "use:manipulative")]
    rows += [(X_SLICE.start + i, f"tactic:{x.value}") for i, x in enumerate(TACTICS)]
    rows += [(M_ROW, "manipulative")]
    return rows


def out_of_fold_logits(X: sparse.csr_matrix, y: dict[str, np.ndarray], groups: list[str]) -> np.ndarray:
    """Every head's logits for every training item, each from a model that did not see its group."""
    from sklearn.model_selection import GroupKFold

    oof = np.zeros((X.shape[0], N_HEADS))
    for train_idx, val_idx in GroupKFold(n_splits=4).split(X, groups=groups):
        sub = {k: v[train_idx] for k, v in y.items()}
        W, b = fit_all(X[train_idx], sub)
        oof[val_idx] = X[val_idx] @ W.T + b
    return oof


def calibrate(oof_logits: np.ndarray, y: dict[str, np.ndarray]) -> np.ndarray:
    """Platt scaling per binary head and a temperature for the score softmax, fitted on out-of-fold logits.

    Returns the (N_HEADS, 2) table `weights.calib`: `(a, b)` with `p = sigmoid(a * logit + b)`; the score
    rows hold `(1 / T, 0)`.
    """
    from sklearn.linear_model import LogisticRegression

    calib = np.tile(np.array([1.0, 0.0]), (N_HEADS, 1))
    for row, name in binary_rows():
        truth = y[name]
        mask = y["has_technique"] == 1 if name == "use:manipulative" else np.ones(len(truth), dtype=bool)
        if not mask.any() or truth[mask].min() == truth[mask].max():
            continue
        model = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000)
        model.fit(oof_logits[mask, row].reshape(-1, 1), truth[mask])
        calib[row] = (float(model.coef_[0][0]), float(model.intercept_[0]))
    scores = oof_logits[:, S_SLICE]
    best_t, best_nll = 1.0, np.inf
    for t in np.round(np.arange(0.5, 4.01, 0.1), 2):
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -float(np.mean(logp[np.arange(len(z)), y["score"]]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    calib[S_SLICE] = (1.0 / best_t, 0.0)
    return calib


def tune_thresholds(
    X: sparse.csr_matrix, y: dict[str, np.ndarray], groups: list[str], oof_logits: np.ndarray | None = None
) -> np.ndarray:
    """Per-head thresholds that maximise out-of-fold F1 (4 group folds), shrunk towards 0.5."""
    logits = out_of_fold_logits(X, y, groups) if oof_logits is None else oof_logits
    return thresholds_for(logits, y)


def thresholds_for(logits: np.ndarray, y: dict[str, np.ndarray]) -> np.ndarray:
    """Per-head thresholds that maximise F1 on held-out `logits` (out-of-fold or unseen authors), shrunk
    towards 0.5."""
    from sklearn.metrics import f1_score

    oof = 1.0 / (1.0 + np.exp(-logits))
    thresholds = np.full(N_HEADS, 0.5)
    grid = np.round(np.arange(0.2, 0.81, 0.05), 2)
    for row, name in binary_rows():
        truth = y[name]
        mask = y["has_technique"] == 1 if name == "use:manipulative" else np.ones(len(truth), dtype=bool)
        if truth[mask].sum() < 3:
            continue
        scores = [f1_score(truth[mask], oof[mask, row] >= t, zero_division=0) for t in grid]
        best = float(grid[int(np.argmax(scores))])
        thresholds[row] = round(0.5 + 0.7 * (best - 0.5), 3)
    return thresholds


BLEND_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
BLENDED_ROWS: tuple[int, ...] = (*range(B_SLICE.start, B_SLICE.stop), *range(S_SLICE.start, S_SLICE.stop))
"""Heads whose reading-model share is fitted on the held-out authors: the behaviours and the score."""
PERSUASION_ROWS: tuple[int, ...] = (
    *range(T_SLICE.start, T_SLICE.stop), USE_ROW, *range(X_SLICE.start, X_SLICE.stop), M_ROW
)
PERSUASION_SHARE = 0.3
"""The reading model's share of the technique, use, tactic and whole-turn heads. It does not see the
scenario's facts, which those decisions need (is the claim true, whose interest it serves), so its share
is not left to the log loss alone: `scripts/persuasion_share.py` takes the lowest leave-one-author-out log
loss on r9-r11 among the shares (0-0.7) at which every shipped persona's example offers still grade as
intended. For the shipped reading model (U, seed 20261203) that is 0.3; 0.4-0.7 call Ruth's honest outage
credit manipulative, 0.0 misgrades Brian's and Grace's remedies (`data/dev2/README.md`, U-share)."""


def fit_blend(
    linear: np.ndarray, encoder: np.ndarray, y: dict[str, np.ndarray], rows: Sequence[int] = BLENDED_ROWS
) -> tuple[float, np.ndarray, np.ndarray]:
    """The reading model's share of the logits of `rows`, then thresholds and calibration of the blend.

    Every input is from held-out turns (authors neither model was trained on). The share is the one whose
    calibrated blend has the lowest log loss summed over `rows`; thresholds and Platt scaling are then
    fitted on that blend as `tune_thresholds` and `calibrate` do out of fold. Only the entries of `rows`
    in the returned thresholds and calibration are meaningful.

    Returns:
        (share, thresholds, calibration table).
    """
    best: tuple[float, float] | None = None
    for share in BLEND_GRID:
        logits = (1.0 - share) * linear + share * encoder
        calib = calibrate(logits, y)
        loss = calibrated_log_loss(logits, calib, y, set(rows))
        if best is None or loss < best[1] - 1e-9:
            best = (share, loss)
    assert best is not None
    logits = (1.0 - best[0]) * linear + best[0] * encoder
    return best[0], thresholds_for(logits, y), calibrate(logits, y)


def calibrated_log_loss(logits: np.ndarray, calib: np.ndarray, y: dict[str, np.ndarray], rows: set[int]) -> float:
    """Log loss of the calibrated heads in `rows` (the score as one 5-way term), summed over the cases."""
    total = 0.0
    for row, name in binary_rows():
        if row not in rows:
            continue
        truth = y[name]
        mask = y["has_technique"] == 1 if name == "use:manipulative" else np.ones(len(truth), dtype=bool)
        p = 1.0 / (1.0 + np.exp(-(calib[row, 0] * logits[mask, row] + calib[row, 1])))
        p = np.clip(p, 1e-6, 1 - 1e-6)
        total -= float(np.sum(truth[mask] * np.log(p) + (1 - truth[mask]) * np.log(1 - p)))
    if S_SLICE.start in rows:
        z = logits[:, S_SLICE] * calib[S_SLICE.start, 0]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= float(np.sum(logp[np.arange(len(z)), y["score"]]))
    return total


def train_weights(train: Sequence[LabelledTurn], out: Path, meta: dict[str, Any], *, tune: bool = True) -> str:
    """Fit every head on `train` and write the weights file `out`. Returns its version hash.

    Args:
        train: The training items (their `split` is not looked at).
        out: The weights file to write.
        meta: Training summary stored in the file (seed and C values are added).
        tune: Tune the binary thresholds on out-of-fold predictions; False keeps them all at 0.5 (fast
            path for tests; calibration still uses out-of-fold logits).
    """
    _require_sklearn()
    np.random.seed(SEED)
    X = featurise(train)
    y = targets(train)
    cols = np.flatnonzero(np.asarray(abs(X).sum(axis=0)).ravel() > 0)
    Xc = X[:, cols].tocsr()
    groups = [str(c.meta.get("group", c.id)) for c in train]  # as the shipped weights were trained
    oof_logits = out_of_fold_logits(Xc, y, groups)
    thresholds = tune_thresholds(Xc, y, groups, oof_logits) if tune else np.full(N_HEADS, 0.5)
    calib = calibrate(oof_logits, y)
    W, b = fit_all(Xc, y)
    full_meta = {"seed": SEED, "c_binary": C_BINARY, "c_score": C_SCORE, "train_items": len(train), **meta}
    if PAIR_WEIGHT > 0:  # only then, so weights trained without pairs keep the same bytes (and version)
        full_meta["pair_weight"] = PAIR_WEIGHT
    return save_weights(out, cols, W, b, thresholds, full_meta, calib)


def matched_pairs(cases: Sequence[LabelledTurn]) -> list[list[int]]:
    """The matched pairs the pairs target counts, as the two halves' indices into `cases`: turns of one
    `meta.group` marked as a pair, exactly two of them, one manipulative and one not."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        if c.meta.get("category") == "pair" or c.meta.get("pair_axis"):
            groups.setdefault(str(c.meta.get("group")), []).append(i)
    gold = [c.gold.manipulative for c in cases]
    return [ix for ix in groups.values() if len(ix) == 2 and gold[ix[0]] != gold[ix[1]]]


def target_metrics(cases: Sequence[LabelledTurn], preds: Sequence[TurnVerdict]) -> dict[str, Any]:
    """The issue's target figures for one prediction set."""
    from sklearn.metrics import cohen_kappa_score, f1_score

    golds = [c.gold for c in cases]
    ts, ps = [g.perspective_taking for g in golds], [v.perspective_taking for v in preds]
    out: dict[str, Any] = {"n": len(cases)}
    out["score_qwk"] = round(float(cohen_kappa_score(ts, ps, weights="quadratic", labels=[0, 1, 2, 3, 4])), 3)
    out["manipulative_f1"] = round(float(f1_score([g.manipulative for g in golds], [v.manipulative for v in preds],
                                                  zero_division=0)), 3)  # fmt: skip
    neg_t = [any(b in g.behaviours for b in NEGATIVE) for g in golds]
    neg_p = [any(b in v.behaviours for b in NEGATIVE) for v in preds]
    tp = sum(a and b for a, b in zip(neg_t, neg_p, strict=True))
    out["negative_recall"] = round(tp / max(1, sum(neg_t)), 3)
    out["negative_precision"] = round(tp / max(1, sum(neg_p)), 3)
    for b in NEGATIVE:
        t = [b in g.behaviours for g in golds]
        p = [b in v.behaviours for v in preds]
        out[f"{b}_f1"] = round(float(f1_score(t, p, zero_division=0)), 3)
    eth = [(c, v) for c, v in zip(cases, preds, strict=True)
           if c.gold.techniques and all(t.use == "ethical" for t in c.gold.techniques) and not c.gold.manipulative]
    out["ethical_called_manipulative"] = round(sum(v.manipulative for _, v in eth) / max(1, len(eth)), 3)
    cue = [(c, v) for c, v in zip(cases, preds, strict=True)
           if c.meta.get("category") == "surface_cue" and c.gold.perspective_taking <= 1]
    out["surface_cue_scored_le1"] = round(sum(v.perspective_taking <= 1 for _, v in cue) / max(1, len(cue)), 3)
    pairs = matched_pairs(cases)
    right = sum(all(preds[i].manipulative == golds[i].manipulative for i in ix) for ix in pairs)
    out["pairs_right"] = f"{right}/{len(pairs)}"
    out["pairs_right_share"] = round(right / max(1, len(pairs)), 3)
    return out


def target_metrics_with_ci(
    cases: Sequence[LabelledTurn], preds: Sequence[TurnVerdict], figures: Sequence[str], *, resamples: int = 400
) -> dict[str, tuple[float, float, float]]:
    """`target_metrics`' `figures` as (point, low, high): a 95% bootstrap CI over turns, `resamples` draws from a
    fixed seed (0), so every prediction set on the same turns is resampled alike."""
    point = target_metrics(cases, preds)
    rng = np.random.default_rng(0)
    boots = [rng.integers(0, len(cases), len(cases)) for _ in range(resamples)]
    samples = [target_metrics([cases[i] for i in b], [preds[i] for i in b]) for b in boots]
    out = {}
    for name in figures:
        vals = sorted(float(s[name]) for s in samples)
        out[name] = (float(point[name]), vals[int(0.025 * len(vals))], vals[int(0.975 * len(vals)) - 1])
    return out


HELDOUT_DATA = PACKAGE_DATA / "heldout"
"""Turns by authors no model here is trained on; the blend with the reading model is fitted on them."""


ENCODER_ONLY_DATA = PACKAGE_DATA / "encoder_only"
"""Turns only the reading model is trained on (authors r12-r14; docs/grading-quality.md, "The reading model")."""


def encoder_only_files() -> list[Path]:
    """`data/encoder_only/*.jsonl`, sorted: extra training turns for the reading model alone."""
    return sorted(ENCODER_ONLY_DATA.glob("*.jsonl"))


def heldout_files() -> list[Path]:
    """The held-out authors' files (`data/heldout/*.jsonl`), sorted."""
    return sorted(HELDOUT_DATA.glob("*.jsonl"))


def train_blended_weights(
    train: Sequence[LabelledTurn],
    heldout: Sequence[LabelledTurn],
    encoder_paths: Sequence[Path],
    out: Path,
    meta: dict[str, Any],
) -> str:
    """Fit the linear heads on `train` (thresholds and calibration out of fold, as `train_weights` does),
    then the reading model's share of the `BLENDED_ROWS` heads, their thresholds and their calibration on
    `heldout` (authors neither model saw), and the thresholds and calibration of the `PERSUASION_ROWS` at
    `PERSUASION_SHARE`. `encoder_paths` (one reading model, or several whose logits are averaged) must sit
    in the folder of `out`, under distinct names: the weights file names them and pins their versions.
    Returns the weights' version."""
    from simulator.grading.appraiser.encoder import encoder_spec, last_customer_line, load_reading_models
    from simulator.grading.integrity import reading_view

    _require_sklearn()
    for encoder_path in encoder_paths:
        if encoder_path.parent.resolve() != out.parent.resolve():
            raise ValueError(f"the reading model {encoder_path} must be in the folder of {out}")
    if len({p.name for p in encoder_paths}) != len(encoder_paths):
        raise ValueError(f"the reading models {[str(p) for p in encoder_paths]} need distinct file names")
    np.random.seed(SEED)
    X = featurise(train)
    y = targets(train)
    cols = np.flatnonzero(np.asarray(abs(X).sum(axis=0)).ravel() > 0)
    Xc = X[:, cols].tocsr()
    groups = [str(c.meta.get("group", c.id)) for c in train]
    oof_logits = out_of_fold_logits(Xc, y, groups)
    thresholds = tune_thresholds(Xc, y, groups, oof_logits)
    calib = calibrate(oof_logits, y)
    W, b = fit_all(Xc, y)
    linear = featurise(heldout)[:, cols].tocsr() @ W.T + b
    encoder = load_reading_models(encoder_paths)
    read = [
        encoder.logits(
            last_customer_line([(u.role, u.text) for u in case.context]),
            reading_view(case.trainee_turn),
            case.scenario,
        )
        for case in heldout
    ]
    y_held = targets(heldout)
    share, held_thresholds, held_calib = fit_blend(np.asarray(linear), np.array(read), y_held)
    rows = list(BLENDED_ROWS)
    thresholds[rows], calib[rows] = held_thresholds[rows], held_calib[rows]
    persuasion = list(PERSUASION_ROWS)
    blend = (1.0 - PERSUASION_SHARE) * np.asarray(linear) + PERSUASION_SHARE * np.array(read)
    thresholds[persuasion] = thresholds_for(blend, y_held)[persuasion]
    calib[persuasion] = calibrate(blend, y_held)[persuasion]
    shares = np.zeros(N_HEADS)
    shares[rows] = share
    shares[persuasion] = PERSUASION_SHARE
    full_meta = {
        "seed": SEED, "c_binary": C_BINARY, "c_score": C_SCORE, "train_items": len(train), **meta,
        "heldout_items": len(heldout),
        "encoder": {**encoder_spec(encoder_paths, encoder), "blend": shares.tolist()},
    }  # fmt: skip
    if PAIR_WEIGHT > 0:
        full_meta["pair_weight"] = PAIR_WEIGHT
    return save_weights(out, cols, W, b, thresholds, full_meta, calib)
