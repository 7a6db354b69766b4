"""Inter-rater agreement on RUBRIC labels: Cohen's kappa per label, quadratic kappa on the 0-4 score.

Raters' verdicts are compared on the ids they all labelled. Used by `cooldown label agreement` and
`scripts/blind_agreement.py`. Kappa is 1.0 when both raters are constant and identical (no chance
correction possible), NaN for no items; each figure has a 95% bootstrap interval over items (fixed seed).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from simulator.grading.labels import Behaviour, Tactic, Technique

Verdict = Mapping[str, Any]
"""A verdict as its JSON dict (`perspective_taking`, `behaviours`, `techniques`, `manipulation_tactics`...)."""
SCORE_LABEL = "score (quadratic kappa)"
N_BOOT = 1000


def kappa(a: list[int], b: list[int], k: int = 2, quadratic: bool = False) -> float:
    """Cohen's kappa of two raters over classes 0..k-1 (quadratic weights for ordinal labels)."""
    n = len(a)
    if n == 0:
        return float("nan")
    obs = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        obs[x][y] += 1
    ra = [sum(obs[i]) for i in range(k)]
    cb = [sum(obs[i][j] for i in range(k)) for j in range(k)]

    def w(i: int, j: int) -> float:
        return ((i - j) ** 2) / ((k - 1) ** 2) if quadratic else (0.0 if i == j else 1.0)

    num = sum(w(i, j) * obs[i][j] for i in range(k) for j in range(k))
    den = sum(w(i, j) * ra[i] * cb[j] / n for i in range(k) for j in range(k))
    return 1.0 if den == 0 else 1 - num / den


def features(v: Verdict) -> dict[str, int]:
    """The binary RUBRIC labels of a verdict (behaviours, technique presence, manipulative, tactics)."""
    out = {f"behaviour.{b.value}": int(b.value in v.get("behaviours", [])) for b in Behaviour}
    techs = {t["technique"]: t["use"] for t in v.get("techniques", [])}
    for t in Technique:
        out[f"technique.{t.value}"] = int(t.value in techs)
    out["manipulative"] = int(bool(v.get("manipulative")))
    for x in Tactic:
        out[f"tactic.{x.value}"] = int(x.value in v.get("manipulation_tactics", []))
    return out


def label_values(v: Verdict) -> dict[str, Any]:
    """Every label compared for disagreements: the score, each binary label, and each technique's use."""
    out: dict[str, Any] = {"perspective_taking": int(v["perspective_taking"]), **features(v)}
    uses = {t["technique"]: t["use"] for t in v.get("techniques", [])}
    for t in Technique:
        out[f"technique_use.{t.value}"] = uses.get(t.value, "none")
    return out


@dataclass
class PairAgreement:
    """Two raters' agreement on the ids both labelled."""

    rater_a: str
    rater_b: str
    items: int
    rows: list[dict[str, Any]] = field(default_factory=list)


def _stat(name: str, a: list[int], b: list[int], boots: list[list[int]], k: int, quadratic: bool) -> dict[str, Any]:
    value = kappa(a, b, k, quadratic)
    samples = sorted(kappa([a[i] for i in s], [b[i] for i in s], k, quadratic) for s in boots)
    lo, hi = samples[int(0.025 * len(samples))], samples[int(0.975 * len(samples)) - 1]
    binary = k == 2
    return {
        "label": name,
        "kappa": round(value, 3),
        "ci95": [round(lo, 3), round(hi, 3)],
        "agreement": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 3),
        "a_positives": sum(a) if binary else None,
        "b_positives": sum(b) if binary else None,
    }


def pair_agreement(name_a: str, a: Mapping[str, Verdict], name_b: str, b: Mapping[str, Verdict]) -> PairAgreement:
    """Kappa per label (and quadratic kappa on the score) over the ids both raters labelled."""
    ids = sorted(set(a) & set(b))
    out = PairAgreement(name_a, name_b, len(ids))
    if not ids:
        return out
    rng = random.Random(0)
    boots = [[rng.randrange(len(ids)) for _ in ids] for _ in range(N_BOOT)]

    def column(v: Mapping[str, Verdict], get: Callable[[Verdict], int]) -> list[int]:
        return [get(v[i]) for i in ids]

    def score(v: Verdict) -> int:
        return int(v["perspective_taking"])

    out.rows.append(_stat(SCORE_LABEL, column(a, score), column(b, score), boots, 5, True))
    for key in features({}):
        def get(v: Verdict, key: str = key) -> int:
            return features(v)[key]

        out.rows.append(_stat(key, column(a, get), column(b, get), boots, 2, False))
    return out


def all_pairs(raters: Mapping[str, Mapping[str, Verdict]]) -> list[PairAgreement]:
    """`pair_agreement` for every pair of raters, in the order given."""
    return [pair_agreement(x, raters[x], y, raters[y]) for x, y in combinations(raters, 2)]


def disagreements(raters: Mapping[str, Mapping[str, Verdict]]) -> list[dict[str, Any]]:
    """For adjudication: every (id, label) the raters who labelled the id do not all agree on.

    Each entry: `id`, `label` and `values` (rater -> value). Ids labelled by one rater only are skipped.
    """
    ids = sorted({i for v in raters.values() for i in v})
    out: list[dict[str, Any]] = []
    for item in ids:
        by_rater = {name: label_values(v[item]) for name, v in raters.items() if item in v}
        if len(by_rater) < 2:
            continue
        for label in next(iter(by_rater.values())):
            values = {name: labels[label] for name, labels in by_rater.items()}
            if len(set(values.values())) > 1:
                out.append({"id": item, "label": label, "values": values})
    return out
