"""Checks answers.jsonl against items.jsonl and schema.json (stdlib only). Prints problems, then a summary."""
import json, re
schema = json.load(open("schema.json"))
items = {json.loads(l)["item"]: json.loads(l)["message"] for l in open("items.jsonl") if l.strip()}
props, req = schema["properties"], schema["required"]
defs = schema["$defs"]
enum = {k: set(v["enum"]) for k, v in defs.items() if "enum" in v}
problems, seen = [], set()
for n, line in enumerate(open("answers.jsonl"), 1):
    if not line.strip():
        continue
    try:
        row = json.loads(line)
    except ValueError as e:
        problems.append(f"line {n}: not JSON ({e})"); continue
    item, out = row.get("item"), row.get("output")
    if item not in items:
        problems.append(f"line {n}: unknown item {item!r}"); continue
    if item in seen:
        problems.append(f"{item}: answered twice")
    seen.add(item)
    if not isinstance(out, dict):
        problems.append(f"{item}: 'output' must be an object"); continue
    extra = set(out) - set(props); missing = set(req) - set(out)
    if extra: problems.append(f"{item}: keys not in the schema: {sorted(extra)}")
    if missing: problems.append(f"{item}: missing keys: {sorted(missing)}")
    m = re.search(r"⟦TRAINEE-[0-9a-f]+⟧\n(.*)\n⟦/TRAINEE-", items[item], re.S)
    turn = m.group(1) if m else items[item]
    if not isinstance(out.get("perspective_taking"), int) or not 0 <= out.get("perspective_taking", -1) <= 4:
        problems.append(f"{item}: perspective_taking must be an integer 0-4")
    if not isinstance(out.get("manipulative"), bool):
        problems.append(f"{item}: manipulative must be true or false")
    for b in out.get("behaviours", []):
        if b not in enum["Behaviour"]: problems.append(f"{item}: unknown behaviour {b!r}")
    for t in out.get("manipulation_tactics", []):
        if t not in enum["Tactic"]: problems.append(f"{item}: unknown tactic {t!r}")
    for f in out.get("techniques", []):
        if set(f) != {"technique", "evidence", "reasoning", "use"}:
            problems.append(f"{item}: a technique needs exactly technique, evidence, reasoning, use")
        if f.get("technique") not in enum["Technique"]: problems.append(f"{item}: unknown technique {f.get('technique')!r}")
        if f.get("use") not in ("ethical", "manipulative"): problems.append(f"{item}: use must be ethical or manipulative")
        if not f.get("evidence") or f["evidence"] not in turn:
            problems.append(f"{item}: evidence {f.get('evidence')!r} is not copied exactly from the trainee's turn")
    derived = bool(out.get("manipulation_tactics")) or any(f.get("use") == "manipulative" for f in out.get("techniques", []))
    if isinstance(out.get("manipulative"), bool) and out["manipulative"] != derived:
        problems.append(f"{item}: manipulative must be true exactly when a technique is used manipulatively or a tactic is listed")
for p in problems: print(p)
print(f"{len(seen)} answered of {len(items)}; {len(set(items) - seen)} missing; {len(problems)} problems")
