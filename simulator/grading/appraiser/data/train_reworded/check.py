import json, sys
items = {json.loads(l)["pair"]: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
probs = []; done = set()
for n, line in enumerate(open(sys.argv[2]), 1):
    if not line.strip(): continue
    try: o = json.loads(line)
    except Exception as e: probs.append(f"line {n}: not JSON ({e})"); continue
    p = o.get("pair")
    if p not in items: probs.append(f"line {n}: unknown pair {p!r}"); continue
    if p in done: probs.append(f"line {n}: pair {p} twice")
    done.add(p)
    it = items[p]; turns = o.get("turns")
    if not isinstance(turns, list) or len(turns) != 2: probs.append(f"{p}: need exactly 2 turns"); continue
    for want, got in zip(it["turns"], turns):
        if got.get("id") != want["id"]: probs.append(f"{p}: turn id {got.get('id')!r}, expected {want['id']!r} (same order as the item)")
        t = got.get("trainee_turn") or ""
        if len(t.split()) < 3: probs.append(f"{p} {want['id']}: trainee_turn missing or too short")
        if t.strip() == want["trainee_turn"].strip(): probs.append(f"{p} {want['id']}: unchanged wording")
        ev = got.get("evidence", [])
        if len(ev) != len(want["techniques"]): probs.append(f"{p} {want['id']}: {len(want['techniques'])} techniques need {len(want['techniques'])} evidence strings, got {len(ev)}")
        for e in ev:
            if not isinstance(e, str) or len(e.strip()) < 4 or e not in t: probs.append(f"{p} {want['id']}: evidence {e!r} is not a verbatim substring of the new turn (or too short)")
    if len(turns) == 2 and turns[0].get("trainee_turn") == turns[1].get("trainee_turn"): probs.append(f"{p}: both turns identical")
missing = [p for p in items if p not in done]
print(f"{len(done)} of {len(items)} pairs reworded; {len(missing)} missing" + (f" (first: {missing[0]})" if missing else ""))
for x in probs[:50]: print(x)
print(f"{len(probs)} problems")
