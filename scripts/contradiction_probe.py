"""Can a small cross-encoder learn the truth axis from our pairs? A probe, measured and not shipped.

usage (needs torch and transformers, as scripts/train_encoder.py does):
    python scripts/contradiction_probe.py --base MINILM_DIR [--seed 1] [--epochs 3] [--out DIR]

MiniLM-L6 (the reading model's base) is fine-tuned as one logit over `scenario [SEP] turn`: does the turn state
something the scenario contradicts? Training uses only the training side's matched-pair turns (the shipped
training files, the later authors' files and `encoder_only/`): the manipulative half of a `truth` pair is 1,
every other pair turn 0, with a pairwise margin on the truth pairs. The threshold is the F1-best on the held-out
authors r9-r11; the development sets' truth pairs (r15-r18 and dev2) are then scored: how many pairs the logit
orders right, how many both halves are right at the threshold, and how many turns of the other axes it flags.
Writes every logit to `--out/scores_SEED.json`. Reads no blind data. Result: docs/grading-quality.md, "Two seeds
averaged, and what a grader blind to the scenario can reach".
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "simulator" / "grading" / "appraiser" / "data"
TRAIN_FILES = ["train_authored.jsonl", "train_r*/*.jsonl", "encoder_only/*.jsonl"]


def pair_turns(files: list[Path]) -> list[dict[str, Any]]:
    """Every matched-pair turn with a scenario: its text, pair group, axis and whether it contradicts."""
    out = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            meta = row.get("meta", {})
            if not meta.get("pair_axis") or not row.get("scenario"):
                continue
            contradicts = meta["pair_axis"] == "truth" and row["gold"]["manipulative"]
            group = f"{path.name}:{meta.get('group')}"
            out.append({"id": row["id"], "scenario": row["scenario"], "turn": row["trainee_turn"], "group": group,
                        "axis": meta["pair_axis"], "y": int(contradicts)})  # fmt: skip
    return out


def train_and_score(base: Path, seed: int, epochs: int) -> dict[str, list[dict[str, Any]]]:
    """Fine-tune on the training side, then score r9-r11 and the development sets."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    train = pair_turns(sorted(p for pattern in TRAIN_FILES for p in DATA.glob(pattern)))
    held = pair_turns(sorted((DATA / "heldout").glob("*.jsonl")))
    dev = pair_turns([DATA / "dev" / "authors_r15_r18.jsonl", DATA / "dev2" / "dev2.jsonl"])
    positives = sum(t["y"] for t in train)
    print(f"{len(train)} training turns ({positives} contradict), {len(held)} r9-r11, {len(dev)} dev", flush=True)
    tok = AutoTokenizer.from_pretrained(str(base))

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(base))
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, items: list[dict[str, Any]]) -> Any:
            enc = tok([i["scenario"] for i in items], [i["turn"] for i in items], truncation="only_first",
                      max_length=320, padding=True, return_tensors="pt")  # fmt: skip
            return self.head(self.bert(**enc).last_hidden_state[:, 0]).squeeze(-1)

    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    pos_weight = torch.tensor((len(train) - positives) / max(1, positives))
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(train):
        groups.setdefault(t["group"], []).append(i)
    truth_pairs = [sorted(ix, key=lambda i: -train[i]["y"]) for ix in groups.values()
                   if len(ix) == 2 and sum(train[i]["y"] for i in ix) == 1]  # fmt: skip
    started = time.time()
    for epoch in range(epochs):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        for start in range(0, len(order), 16):
            items = [train[i] for i in order[start : start + 16]]
            y = torch.tensor([float(i["y"]) for i in items])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(items), y, pos_weight=pos_weight)
            pairs = model([train[i] for ix in rng.sample(truth_pairs, 4) for i in ix]).view(-1, 2)
            loss = loss + torch.nn.functional.relu(1.0 - (pairs[:, 0] - pairs[:, 1])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: {time.time() - started:.0f} s, last loss {loss.item():.3f}", flush=True)
    model.eval()
    with torch.no_grad():
        for items in (held, dev):
            for start in range(0, len(items), 32):
                chunk = items[start : start + 32]
                for item, logit in zip(chunk, model(chunk).tolist(), strict=True):
                    item["logit"] = logit
    return {"held": held, "dev": dev}


def report(scores: dict[str, list[dict[str, Any]]]) -> None:
    """Print the threshold fitted on r9-r11 and the pair figures on r9-r11 and the development sets."""
    held = scores["held"]
    logits, y = np.array([h["logit"] for h in held]), np.array([h["y"] for h in held])
    def f1(th: float) -> float:
        return float(2 * ((logits >= th) & (y == 1)).sum() / ((logits >= th).sum() + y.sum()))

    best = max(np.unique(logits), key=f1)
    print(f"threshold, F1-best on r9-r11: {best:.2f}")
    for name, items in (("r9-r11", held), ("dev + dev2", scores["dev"])):
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            groups.setdefault(item["group"], []).append(item)
        truth = [sorted(g, key=lambda i: -i["y"]) for g in groups.values()
                 if len(g) == 2 and g[0]["axis"] == "truth" and sum(i["y"] for i in g) == 1]  # fmt: skip
        ordered = sum(g[0]["logit"] > g[1]["logit"] for g in truth)
        right = sum(g[0]["logit"] >= best > g[1]["logit"] for g in truth)
        other = [i for i in items if i["axis"] != "truth"]
        flagged = sum(i["logit"] >= best for i in other)
        print(f"{name}: truth pairs {len(truth)}, ordered right {ordered}, both halves right at the threshold "
              f"{right}; other axes' turns flagged {flagged} of {len(other)}")  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="the all-MiniLM-L6-v2 folder (train_encoder's --base)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    scores = train_and_score(args.base, args.seed, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scores_{args.seed}.json").write_text(json.dumps(scores), encoding="utf-8")
    report(scores)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
