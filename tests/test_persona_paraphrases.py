"""The persona-offer paraphrases (`data/persona_paraphrases/`) stay tied to the offers they reword."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.persona.consistency import example_offers
from simulator.persona.loader import load_persona, persona_files

DATA = Path(__file__).resolve().parents[1] / "simulator" / "grading" / "appraiser" / "data" / "persona_paraphrases"


def _offers() -> dict[tuple[str, str], str]:
    return {
        (persona.id, kind): offer
        for persona in (load_persona(path) for path in persona_files())
        for kind, offer in example_offers(persona)
    }


def test_every_paraphrase_rewords_a_current_example_offer_and_every_offer_has_some() -> None:
    offers = _offers()
    lines = [line for f in sorted(DATA.glob("*.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()]
    items = [json.loads(line) for line in lines if line.strip()]
    assert items, f"no paraphrases in {DATA}"
    for it in items:
        key = (it["persona"], it["kind"])
        assert key in offers, f"{it['id']}: {key} is not an example offer of a shipped persona"
        assert it["original"] == offers[key], (
            f"{it['id']}: the persona's example offer changed; rewrite its paraphrases "
            f"(data/persona_paraphrases/brief.md)"
        )
        assert it["paraphrase"].strip() and it["paraphrase"] != it["original"]
    assert {(it["persona"], it["kind"]) for it in items} == set(offers)
