"""Checks answers.jsonl against items.jsonl and schema.json (stdlib only). Prints problems, then a summary.

The stand-in helpers ran this in their folders (`brief.md`); the chain's own validation is what scores. This copy was
restructured for the linters after they ran it; it makes the same checks.
"""

import json
import re
from typing import Any

TURN = re.compile(r"⟦TRAINEE-[0-9a-f]+⟧\n(.*)\n⟦/TRAINEE-", re.S)


def technique_problems(item: str, finding: Any, turn: str, enum: dict[str, set[str]]) -> list[str]:
    if not isinstance(finding, dict):
        return [f"{item}: a technique must be an object"]
    out = []
    if set(finding) != {"technique", "evidence", "reasoning", "use"}:
        out.append(f"{item}: a technique needs exactly technique, evidence, reasoning, use")
    if finding.get("technique") not in enum["Technique"]:
        out.append(f"{item}: unknown technique {finding.get('technique')!r}")
    if finding.get("use") not in ("ethical", "manipulative"):
        out.append(f"{item}: use must be ethical or manipulative")
    if not finding.get("evidence") or finding["evidence"] not in turn:
        out.append(f"{item}: evidence {finding.get('evidence')!r} is not copied exactly from the trainee's turn")
    return out


def answer_problems(item: str, out: Any, message: str, schema: dict[str, Any]) -> list[str]:
    if not isinstance(out, dict):
        return [f"{item}: 'output' must be an object"]
    enum = {k: set(v["enum"]) for k, v in schema["$defs"].items() if "enum" in v}
    problems = []
    extra, missing = set(out) - set(schema["properties"]), set(schema["required"]) - set(out)
    if extra:
        problems.append(f"{item}: keys not in the schema: {sorted(extra)}")
    if missing:
        problems.append(f"{item}: missing keys: {sorted(missing)}")
    match = TURN.search(message)
    turn = match.group(1) if match else message
    score = out.get("perspective_taking")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 4:
        problems.append(f"{item}: perspective_taking must be an integer 0-4")
    if not isinstance(out.get("manipulative"), bool):
        problems.append(f"{item}: manipulative must be true or false")
    problems += [f"{item}: unknown behaviour {b!r}" for b in out.get("behaviours", []) if b not in enum["Behaviour"]]
    tactics = out.get("manipulation_tactics", [])
    problems += [f"{item}: unknown tactic {t!r}" for t in tactics if t not in enum["Tactic"]]
    findings = out.get("techniques", [])
    for finding in findings:
        problems += technique_problems(item, finding, turn, enum)
    derived = bool(tactics) or any(
        isinstance(f, dict) and f.get("use") == "manipulative" for f in findings
    )
    if isinstance(out.get("manipulative"), bool) and out["manipulative"] != derived:
        problems.append(f"{item}: manipulative must be true exactly when a technique is used manipulatively or a "
                        "tactic is listed")
    return problems


def main() -> None:
    with open("schema.json", encoding="utf-8") as f:
        schema = json.load(f)
    with open("items.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    items = {row["item"]: row["message"] for row in rows}
    problems: list[str] = []
    seen: set[str] = set()
    with open("answers.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                problems.append(f"line {n}: not JSON ({e})")
                continue
            item = row.get("item")
            if item not in items:
                problems.append(f"line {n}: unknown item {item!r}")
                continue
            if item in seen:
                problems.append(f"{item}: answered twice")
            seen.add(item)
            problems += answer_problems(item, row.get("output"), items[item], schema)
    for p in problems:
        print(p)
    print(f"{len(seen)} answered of {len(items)}; {len(set(items) - seen)} missing; {len(problems)} problems")


if __name__ == "__main__":
    main()
