"""The ablation row issue 13 asked for and no session had measured: SmolLM2's contextual embeddings.

    .venv/bin/python scripts/embedding_probe.py embed [--shard K/N]   # one llama.cpp thread per shard
    .venv/bin/python scripts/embedding_probe.py probe [--blind] [--personas] [--injection]

`embed` runs the SmolLM2-135M GGUF that Cooldown carries (llama.cpp, one thread, mean pooling) over
"Customer: <caller's last line> / Agent: <the turn's reading view>" for every turn of the training pool,
the held-out authors r9-r11, the development set r15-r18 and (for the report only) the first blind suite,
and caches the 576-number vectors with their timings under `.cooldown-cache/smollm2-embeddings/`.

`probe` fits the appraiser's linear heads exactly as shipped (`training.fit_all`) on the training pool
for three inputs: the n-grams, cues and decision features (the shipped linear part); those plus the
standardised embeddings times a scale; the embeddings alone. The scale is chosen on r9-r11; the figures
are threshold-free so that no tuning hides a difference: AUC of the `manipulative`, "used manipulatively"
(turns with a technique), deception and the three negative-behaviour heads, and the score's quadratic κ
(argmax). The shipped appraiser (linear heads blended with the reading model) is scored beside them, and
so is the shipped recipe with the embeddings added to its linear heads (blended at the shipped shares).
`--blind` adds the first blind suite; it decides nothing. `--personas` grades the persona check's example
offers (`persona/consistency.py`) and `--injection` RELIABILITY A1's unseen payload families with the
combined recipe, embedding those turns on the spot.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser import training as tr  # noqa: E402
from simulator.grading.appraiser.appraise import _decode, appraise_with  # noqa: E402
from simulator.grading.appraiser.dataset import LabelledTurn, load_cases, load_many  # noqa: E402
from simulator.grading.appraiser.encoder import last_customer_line  # noqa: E402
from simulator.grading.appraiser.features import extract  # noqa: E402
from simulator.grading.appraiser.weights import (  # noqa: E402
    DEFAULT_WEIGHTS,
    HEAD_NAMES,
    M_ROW,
    S_SLICE,
    USE_ROW,
    Weights,
    load_weights,
)
from simulator.grading.integrity import reading_view, strip_injection_spans  # noqa: E402

CACHE = ROOT / ".cooldown-cache" / "smollm2-embeddings"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SCALES = (0.02, 0.05, 0.1, 0.2)
HEADS = {"manipulative": M_ROW, "use:manipulative": USE_ROW,
         **{h: HEAD_NAMES.index(h) for h in ("tactic:deception", "behaviour:fact_confrontation",
                                              "behaviour:dismissal", "behaviour:blame")}}  # fmt: skip


def sets() -> dict[str, list[LabelledTurn]]:
    data = tr.PACKAGE_DATA
    return {
        "train": [c for c in load_many(tr.shipped_training_files()) if c.split == "train"],
        "heldout r9-r11": load_many(sorted((data / "heldout").glob("*.jsonl"))),
        "dev r15-r18": load_many(sorted((data / "dev").glob("*.jsonl"))),
        "blind": load_cases(ROOT / "evals" / "suites" / "blind.jsonl"),
    }


def pair_text(case: LabelledTurn) -> str:
    customer = last_customer_line([(u.role, u.text) for u in case.context]) or ""
    return f"Customer: {customer}\nAgent: {reading_view(case.trainee_turn)}"[:1500]


def embed(shard: int, of: int) -> None:
    vector = embedder()
    unique = sorted({c.id: c for cases in sets().values() for c in cases}.items())[shard::of]
    ids, vecs, secs = [], [], []
    for k, (case_id, case) in enumerate(unique):
        started = time.perf_counter()
        vecs.append(vector(pair_text(case)))
        secs.append(time.perf_counter() - started)
        ids.append(case_id)
        if k % 500 == 0:
            print(f"shard {shard}: {k}/{len(unique)}", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / f"shard{shard}of{of}.npz", ids=np.array(ids), vecs=np.stack(vecs), secs=np.array(secs))


def load_embeddings() -> tuple[dict[str, np.ndarray], np.ndarray]:
    table: dict[str, np.ndarray] = {}
    secs = []
    for f in sorted(CACHE.glob("shard*.npz")):
        with np.load(f) as d:
            table.update(zip(d["ids"].tolist(), d["vecs"], strict=True))
            secs.extend(d["secs"].tolist())
    return table, np.array(secs)


def auc(score: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def figures(logits: np.ndarray, cases: list[LabelledTurn]) -> dict[str, float]:
    from sklearn.metrics import cohen_kappa_score

    y = tr.targets(cases)
    out = {}
    for name, row in HEADS.items():
        key = "manipulative" if name == "manipulative" else name
        if name == "use:manipulative":
            mask = y["has_technique"] == 1
            out[name] = auc(logits[mask, row], y[key][mask])
        else:
            out[name] = auc(logits[:, row], y[key])
    pred = logits[:, S_SLICE].argmax(axis=1)
    out["score κ"] = float(cohen_kappa_score(y["score"], pred, weights="quadratic", labels=[0, 1, 2, 3, 4]))
    return out


_LLM: list[Any] = []


def embedder() -> Callable[[str], np.ndarray]:
    """SmolLM2 through llama.cpp (one thread, mean pooling), loaded once."""
    if not _LLM:
        import llama_cpp

        model_path = next(Path(sys.prefix).rglob(GGUF))
        _LLM.append(llama_cpp.Llama(model_path=str(model_path), embedding=True, n_ctx=512, n_threads=1,
                                    n_threads_batch=1, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                                    verbose=False))  # fmt: skip
    llm = _LLM[0]
    return lambda text: np.asarray(llm.embed(text), dtype=np.float32)


def probe(with_blind: bool, with_personas: bool, with_injection: bool = False) -> None:
    from scipy import sparse

    table, secs = load_embeddings()
    print(f"{len(table)} embeddings; llama.cpp, one thread: median {np.median(secs) * 1000:.0f} ms, "
          f"p95 {np.percentile(secs, 95) * 1000:.0f} ms per turn")  # fmt: skip
    data = sets()
    if not with_blind:
        del data["blind"]
    train = data.pop("train")
    E = np.stack([table[c.id] for c in train])
    mu, sd = E.mean(axis=0), E.std(axis=0) + 1e-6
    shipped = load_weights(DEFAULT_WEIGHTS)
    assert shipped.encoder is not None and shipped.blend is not None
    encoder, share = shipped.encoder, shipped.blend
    sparse_of: dict[str, sparse.csr_matrix] = {}  # featurised once per turn
    read_of: dict[str, np.ndarray] = {}  # the reading model run once per turn

    def features(cases: list[LabelledTurn]) -> sparse.csr_matrix:
        todo = [c for c in cases if c.id not in sparse_of]
        if todo:
            sparse_of.update(zip((c.id for c in todo), tr.featurise(todo), strict=True))
        return sparse.vstack([sparse_of[c.id] for c in cases]).tocsr()

    def reads(cases: list[LabelledTurn]) -> np.ndarray:
        for c in cases:
            if c.id not in read_of:
                ctx = [(u.role, u.text) for u in c.context]
                read_of[c.id] = encoder.logits(last_customer_line(ctx), reading_view(c.trainee_turn), c.scenario)
        return np.stack([read_of[c.id] for c in cases])

    X = features(train)
    cols = np.flatnonzero(np.asarray(abs(X).sum(axis=0)).ravel() > 0)
    y = tr.targets(train)

    def design(cases: list[LabelledTurn], scale: float | None, with_linear: bool = True) -> sparse.csr_matrix:
        parts = [features(cases)[:, cols]] if with_linear else []
        if scale is not None:
            for c in cases:  # turns outside the cache (persona offers, payloads) are embedded here
                if c.id not in table:
                    table[c.id] = embedder()(pair_text(c))
            parts.append(sparse.csr_matrix(scale * (np.stack([table[c.id] for c in cases]) - mu) / sd))
        return sparse.hstack(parts).tocsr()

    def logits_of(heads: tuple[np.ndarray, np.ndarray], cases: list[LabelledTurn], scale: float | None,
                  with_linear: bool = True, blended: bool = False) -> np.ndarray:  # fmt: skip
        W, b = heads
        linear = np.asarray(design(cases, scale, with_linear) @ W.T) + b
        return linear + share * (reads(cases) - linear) if blended else linear  # at the shipped per-head shares

    def fitted(scale: float | None, with_linear: bool = True, blended: bool = False) -> dict[str, np.ndarray]:
        heads = tr.fit_all(design(train, scale, with_linear), y)
        return {name: logits_of(heads, cases, scale, with_linear, blended) for name, cases in data.items()}

    def shipped_logits(cases: list[LabelledTurn]) -> np.ndarray:
        linear = np.stack([shipped.logits(extract(strip_injection_spans(c.trainee_turn),
                                                  [(u.role, u.text) for u in c.context], c.scenario)) for c in cases])
        return linear + share * (reads(cases) - linear)  # what `Weights.turn_logits` computes, turn by turn

    rows: dict[str, dict[str, np.ndarray]] = {
        "shipped: linear heads + reading model": {n: shipped_logits(cs) for n, cs in data.items()},
        "n-grams + cues + decisions (refitted)": fitted(None),
    }
    by_scale = {s: fitted(s) for s in SCALES}

    def held_mean(logits: dict[str, np.ndarray]) -> float:
        return float(np.nanmean(list(figures(logits["heldout r9-r11"], data["heldout r9-r11"]).values())))

    best = max(SCALES, key=lambda s: held_mean(by_scale[s]))
    print("  scale chosen on r9-r11 (mean of the figures): "
          + ", ".join(f"{s}: {held_mean(r):.4f}" for s, r in by_scale.items()))  # fmt: skip
    rows[f"+ SmolLM2 embeddings (scale {best})"] = by_scale[best]
    rows["SmolLM2 embeddings alone"] = fitted(0.1, with_linear=False)
    combined = "shipped recipe + SmolLM2 embeddings in the linear heads"
    rows[combined] = fitted(best, blended=True)
    base = "shipped: linear heads + reading model"
    rng = np.random.default_rng(0)
    for set_name, cases in data.items():
        table_rows = {label: figures(r[set_name], cases) for label, r in rows.items()}
        names = list(table_rows[base])
        print(f"\n{set_name} (n={len(cases)})")
        print(f"{'input':58}" + "".join(f"{n[-16:]:>18}" for n in names))
        for label, f in table_rows.items():
            print(f"{label[:58]:58}" + "".join(f"{f[n]:>18.3f}" for n in names))
        diffs = []  # paired bootstrap over turns: the combined recipe minus the shipped weights
        for _ in range(200):
            idx = rng.integers(0, len(cases), len(cases))
            sample = [cases[i] for i in idx]
            a, b = figures(rows[combined][set_name][idx], sample), figures(rows[base][set_name][idx], sample)
            diffs.append([a[n] - b[n] for n in names])
        lo, hi = np.nanpercentile(np.array(diffs), [2.5, 97.5], axis=0)
        print(f"{'difference, combined - shipped, 95% CI':58}"
              + "".join(f"{f'[{a:+.3f}, {b:+.3f}]':>18}" for a, b in zip(lo, hi, strict=True)))  # fmt: skip
    combined_weights = decoded(rows[combined], data, shipped)
    if with_personas or with_injection:
        combined_heads = tr.fit_all(design(train, best), y)

        def combined_logits(cases: list[LabelledTurn]) -> np.ndarray:
            return logits_of(combined_heads, cases, best, blended=True)

        if with_personas:
            persona_offers(combined_weights, combined_logits)
        if with_injection:
            unseen_injection(combined_weights, combined_logits)


def decoded(logits: dict[str, np.ndarray], data: dict[str, list[LabelledTurn]], shipped: Weights) -> Weights:
    """The issue's target figures for the combined recipe, its thresholds fitted on r9-r11 as the shipped
    recipe fits them, beside the shipped weights' own verdicts."""
    held = "heldout r9-r11"
    combined = replace(shipped, thresholds=tr.thresholds_for(logits[held], tr.targets(data[held])))
    keys = ("score_qwk", "manipulative_f1", "pairs_right", "ethical_called_manipulative", "negative_recall",
            "negative_precision", "surface_cue_scored_le1")  # fmt: skip
    for set_name, cases in data.items():
        if set_name == held:
            continue
        views = [strip_injection_spans(c.trainee_turn) for c in cases]
        base = [appraise_with(shipped, c.trainee_turn, c.context, c.scenario) for c in cases]
        new = [_decode(combined, row, view, c.trainee_turn) for row, view, c in zip(logits[set_name], views, cases,
                                                                                        strict=True)]  # fmt: skip
        a, b = tr.target_metrics(cases, base), tr.target_metrics(cases, new)
        print(f"\n{set_name}, decoded: " + "; ".join(f"{k} {a[k]} -> {b[k]}" for k in keys))
    return combined


def persona_offers(combined: Weights, logits_of: Callable[[list[LabelledTurn]], np.ndarray]) -> None:
    """The persona check's offers (`persona/consistency.py`) under the combined recipe: an acceptable
    remedy's example offer must not be manipulative; a refused offer must not grade as a good turn."""
    from simulator.persona.consistency import graded_as_good_turn
    from simulator.persona.loader import load_persona, persona_files

    cases, intent = [], []
    for path in persona_files():
        persona = load_persona(path)
        context = [{"role": "customer", "text": persona.opening_lines[0]}]
        offers = [(r.example_offer, "acceptable") for r in persona.scenario.acceptable_remedies]
        offers += [(r.example_offer, "refused") for r in persona.scenario.will_not_accept if r.example_offer]
        for n, (offer, kind) in enumerate(offers):
            cases.append(
                LabelledTurn.model_validate(
                    {
                        "id": f"persona-{persona.id}-{n}",
                        "scenario": persona.grader_brief(),
                        "persona": persona.id,
                        "context": context,
                        "trainee_turn": offer,
                        "gold": {"perspective_taking": 2},
                        "split": "test",
                    }
                )
            )
            intent.append(kind)
    failed = 0
    for case, kind, row in zip(cases, intent, logits_of(cases), strict=True):
        v = _decode(combined, row, strip_injection_spans(case.trainee_turn), case.trainee_turn)
        bad = v.manipulative if kind == "acceptable" else graded_as_good_turn(v)
        failed += bad
        if bad:
            print(f"  persona check FAILS: {case.id} ({kind}) {case.trainee_turn!r}: {v.model_dump_json()}")
    print(f"\npersona offers: {len(cases)} checked, {failed} failed")


def unseen_injection(combined: Weights, logits_of: Callable[[list[LabelledTurn]], np.ndarray]) -> None:
    """RELIABILITY A1 on the unseen payload families (`tests/reliability/test_grader_integrity.py`): the
    full turn's score and `manipulative` must equal its base turn's."""
    import json

    from simulator.call.session import clean_turn_text
    from simulator.config import load_settings
    from simulator.errors import InputRejected
    from simulator.tokens import count_tokens

    config = load_settings()

    cases = []
    for line in (ROOT / "evals" / "suites" / "injection_unseen.jsonl").read_text().splitlines():
        row = json.loads(line)
        try:
            full = clean_turn_text(row["trainee_turn"], max_chars=config.max_turn_chars,
                                   max_tokens=config.max_turn_tokens, count=count_tokens)  # fmt: skip
        except InputRejected:
            continue
        for tag, turn in (("base", row["meta"]["base_turn"]), ("full", full)):
            cases.append(LabelledTurn.model_validate({
                "id": f"{row['id']}-{tag}", "scenario": row["scenario"], "context": row["context"],
                "trainee_turn": turn, "gold": {"perspective_taking": 2}, "split": "test"}))  # fmt: skip
    verdicts = [_decode(combined, row, strip_injection_spans(c.trainee_turn), c.trainee_turn)
                for c, row in zip(cases, logits_of(cases), strict=True)]  # fmt: skip
    moved = [f"{b.id[:-5]}: {vb.perspective_taking}->{vf.perspective_taking}"
             for b, vb, vf in zip(cases[::2], verdicts[::2], verdicts[1::2], strict=True)
             if vb.manipulative != vf.manipulative or vb.perspective_taking != vf.perspective_taking]  # fmt: skip
    print(f"\nA1 unseen families: {len(cases) // 2} turns, grade moved on {len(moved)}: {moved}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("embed", "probe"))
    ap.add_argument("--shard", default="0/1", help="K/N: embed every N-th turn starting at K")
    ap.add_argument("--blind", action="store_true", help="also score the first blind suite (report only)")
    ap.add_argument("--personas", action="store_true", help="also run the persona check's offers")
    ap.add_argument("--injection", action="store_true", help="also run RELIABILITY A1's unseen payload families")
    args = ap.parse_args()
    if args.step == "embed":
        k, n = (int(x) for x in args.shard.split("/"))
        embed(k, n)
    else:
        probe(args.blind, args.personas, args.injection)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
