"""Metrics: checked against scikit-learn on random data, plus baselines, CIs and matched pairs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from evals import metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.random(200) < 0.3
    p = np.where(rng.random(200) < 0.8, t, ~t)
    m = np.ones(200, dtype=bool)
    out = metrics.binary_metrics(t, p, m, metrics.resample_index(200))
    assert out["f1"] == pytest.approx(f1_score(t, p), abs=1e-4)
    assert out["precision"] == pytest.approx(precision_score(t, p), abs=1e-4)
    assert out["recall"] == pytest.approx(recall_score(t, p), abs=1e-4)
    assert out["kappa"] == pytest.approx(cohen_kappa_score(t, p), abs=1e-4)
    lo, hi = out["f1_ci"]
    assert lo < out["f1"] < hi and hi - lo < 0.3
    assert out["baseline"]["predicts"] is False and out["baseline"]["f1"] == 0.0
    assert out["baseline"]["accuracy"] == pytest.approx(1 - t.mean(), abs=1e-4)


def test_mask_restricts_to_labelled_items() -> None:
    t = np.array([True, False, True, True])
    p = np.array([True, True, False, True])
    m = np.array([True, True, False, False])
    out = metrics.binary_metrics(t, p, m, metrics.resample_index(4))
    assert (out["n"], out["tp"], out["fp"], out["fn"]) == (2, 1, 1, 0)


def test_quadratic_kappa_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 5, 300)
    p = np.clip(t + rng.integers(-1, 2, 300), 0, 4)
    assert metrics.quadratic_kappa(t, p) == pytest.approx(cohen_kappa_score(t, p, weights="quadratic"), abs=1e-9)
    out = metrics.score_metrics(t, p, metrics.resample_index(300))
    assert out["within_one"] == 1.0
    assert sum(map(sum, out["confusion"])) == 300
    assert out["baseline"]["kappa_quadratic"] == 0.0
    assert out["kappa_quadratic_ci"][0] < out["kappa_quadratic"] < out["kappa_quadratic_ci"][1]


def test_macro_f1_skips_labels_without_positives() -> None:
    t1 = np.array([True, False, True, False])
    p1 = t1.copy()
    t2 = np.zeros(4, dtype=bool)
    m = np.ones(4, dtype=bool)
    out = metrics.macro_f1({"a": (t1, p1, m), "b": (t2, t2, m)}, metrics.resample_index(4))
    assert out["labels"] == 1 and out["value"] == 1.0


def test_pair_accuracy_needs_every_member_right() -> None:
    groups = [
        [(False, False), (True, True)],   # right
        [(False, True), (True, True)],    # one member wrong
        [(False, False), (False, False)],  # not a matched pair (same gold)
    ]
    out = metrics.pair_accuracy(groups)
    assert out["pairs"] == 2 and out["correct"] == 1 and out["accuracy"] == 0.5
    assert out["baseline"] == 0.0


def test_spearman() -> None:
    x = np.array([1.0, 2, 3, 4, 5])
    assert metrics.spearman(x, x * 2) == 1.0
    assert metrics.spearman(x, -x) == -1.0
    assert metrics.spearman(x, np.ones(5)) is None


def test_every_thresholdable_figure_has_a_ci() -> None:
    """Thresholds show the 95% CI beside the value, so precision, recall, accuracy and within-one carry one."""
    rng = np.random.default_rng(4)
    t = rng.random(300) < 0.3
    p = np.where(rng.random(300) < 0.8, t, ~t)
    out = metrics.binary_metrics(t, p, np.ones(300, dtype=bool), metrics.resample_index(300))
    for stat in ("precision", "recall", "accuracy", "f1", "kappa"):
        lo, hi = out[f"{stat}_ci"]
        assert lo < out[stat] < hi, stat
    ts = rng.integers(0, 5, 300)
    ps = np.clip(ts + rng.integers(-2, 3, 300), 0, 4)
    score = metrics.score_metrics(ts, ps, metrics.resample_index(300))
    assert score["within_one_ci"][0] < score["within_one"] < score["within_one_ci"][1]
