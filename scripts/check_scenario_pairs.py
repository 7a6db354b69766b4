"""Check a scenario-pair training file (brief: simulator/grading/appraiser/data/briefs/brief_train_scenario_pairs.md).

usage: python3 scripts/check_scenario_pairs.py FILE
"""
import json
import re
import sys
from collections import Counter, defaultdict

BEH = {"open_question", "reflection", "validation", "perspective_taking", "needs_check", "fact_confrontation",
       "dismissal", "blame", "solution_offer", "information", "apology"}
TECH = {"anchoring", "halo", "loss_aversion", "choice_architecture", "reciprocity"}
TAC = {"false_urgency", "guilt_tripping", "intimidation", "deception", "pressure"}
problems: list[str] = []
ids: set[str] = set()
groups: defaultdict[str, list[dict]] = defaultdict(list)
fam_scen: defaultdict[tuple, set] = defaultdict(set)
n = 0
for k, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not line.strip():
        continue
    n += 1
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f"line {k}: not JSON ({e})")
        continue
    i = r.get("id", "")
    if not re.fullmatch(r"[a-z0-9]+-\d{4}", i):
        problems.append(f"line {k}: id must look like sp1-0001")
    if i in ids:
        problems.append(f"{i}: duplicate id")
    ids.add(i)
    for key in ("scenario", "persona", "context", "trainee_turn", "gold", "meta"):
        if key not in r:
            problems.append(f"{i}: missing {key}")
    if r.get("split") != "train":
        problems.append(f"{i}: split must be \"train\"")
    ctx = r.get("context", [])
    if not ctx or any(set(u) != {"role", "text"} or u["role"] not in ("customer", "agent") for u in ctx) \
            or ctx[-1]["role"] != "customer":
        problems.append(f"{i}: context must be a list of {{role, text}} ending with the customer")
    meta = r.get("meta", {})
    for key in ("group", "version", "family", "changed_fact", "relies_on_changed_fact", "note", "voice"):
        if key not in meta:
            problems.append(f"{i}: meta needs {key}")
    if meta.get("version") not in ("A", "B"):
        problems.append(f"{i}: meta.version must be A or B")
    if meta.get("category") != "scenario_pair" or meta.get("pair_axis") != "truth":
        problems.append(f"{i}: meta.category must be scenario_pair and pair_axis truth")
    groups[meta.get("group")].append(r)
    fam_scen[(meta.get("family"), meta.get("version"))].add(r.get("scenario"))
    g = r.get("gold", {})
    s = g.get("perspective_taking")
    if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= 4:
        problems.append(f"{i}: perspective_taking must be 0-4")
    for b in g.get("behaviours", []):
        if b not in BEH:
            problems.append(f"{i}: unknown behaviour {b!r}")
    mu = False
    for t in g.get("techniques", []):
        if t.get("technique") not in TECH or t.get("use") not in ("ethical", "manipulative"):
            problems.append(f"{i}: bad technique {t}")
        mu |= t.get("use") == "manipulative"
        if not t.get("evidence") or t["evidence"] not in r.get("trainee_turn", ""):
            problems.append(f"{i}: evidence must be a verbatim substring of trainee_turn")
    for x in g.get("manipulation_tactics", []):
        if x not in TAC:
            problems.append(f"{i}: unknown tactic {x!r}")
    if g.get("manipulative") is not (mu or bool(g.get("manipulation_tactics"))):
        problems.append(f"{i}: manipulative must be true exactly when a use is manipulative or a tactic present")
flips: Counter[bool] = Counter()
for gid, items in groups.items():
    if len(items) != 2 or {x["meta"].get("version") for x in items} != {"A", "B"}:
        problems.append(f"group {gid}: needs exactly one A and one B item")
        continue
    a, b = items
    if a["trainee_turn"] != b["trainee_turn"] or a["context"] != b["context"]:
        problems.append(f"group {gid}: A and B must have the same context and trainee_turn")
    if a["scenario"] == b["scenario"]:
        problems.append(f"group {gid}: A and B scenarios must differ")
    if a["meta"].get("family") != b["meta"].get("family"):
        problems.append(f"group {gid}: A and B must be in one family")
    flips[a["gold"].get("manipulative") != b["gold"].get("manipulative")] += 1
for (fam, ver), texts in fam_scen.items():
    if len(texts) != 1:
        problems.append(f"family {fam} version {ver}: {len(texts)} different scenario texts; use one")
fams = {f for f, _ in fam_scen}
print(f"{n} items, {len(groups)} pairs, {len(fams)} families, {flips[True]} pairs flip `manipulative`, "
      f"{len(problems)} problems")
for p in problems:
    print(" -", p)
