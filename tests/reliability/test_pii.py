"""RELIABILITY §8 E7: personal data is redacted from exports, and card numbers never reach the logs.

200 synthetic calls are generated here with seeded fake names, emails, phone numbers (UK, US and
international formats) and Luhn-valid card numbers, stored through `Store.import_session`, and exported
with `render(..., redact=True)` as JSON and Markdown. Every planted item is looked for in its own turn
(names) or anywhere in the export (numbers, emails). The names pool here is written independently of
`simulator.redact.FIRST_NAMES`, so the name figure measures the rules, not a shared list; it is also split by
how the name appeared (introduced with a cue, after a title, or bare).
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.grading.labels import Technique, TechniqueUse, TurnGrade, TurnVerdict
from simulator.logs import configure_logging
from simulator.redact import FIRST_NAMES, luhn_valid, redact_pii
from simulator.storage import SessionRecord, Store, TurnRecord, persona_content_hash
from simulator.storage.export import render
from simulator.storage.text import TEXT_CANON

from .conftest import FigureBook
from .support import BRIAN, FakeServer, caller_model, fast_db_url, play, sse_response, start_session

pytestmark = [pytest.mark.reliability]

SUITES = Path(__file__).resolve().parents[2] / "evals" / "suites"
FIRST = """Abebe Adaeze Aiko Alejandro Aleksander Amaya Anders Anouk Arash Astrid Aurelia Bartosz Beatriz Bilal
Bronwen Caoimhe Cedric Chiamaka Cormac Dagny Darius Delphine Dimitra Ebony Efua Elif Emeka Esme Fergus Folasade
Gabriela Giles Gunnar Hamish Hana Ifeoma Ingrid Isidore Jahid Jolene Kamala Keanu Kenji Lachlan Leandro Lorna
Magnus Malachi Marisol Mirela Moira Nkechi Norah Obinna Odette Orla Pedro Percy Rafaela Rosalind Rupert Saoirse
Selin Seren Soraya Stellan Sunniva Tamsin Tomasz Ulrike Valentina Wendell Ximena Yara Zainab Zoltan Emma James
Olivia Daniel Sarah Michael Laura David Hannah Thomas Chloe Samuel Priya Omar Fatima Liam Megan Ryan Aisha Jack
Sophie Ahmed Lucy Ben Rebecca Connor""".split()
LAST = """Abara Achterberg Bakshi Blackwood Carvalho Castellanos Dlamini Donnelly Eriksen Fairweather Fitzgerald
Gallagher Grzegorczyk Haddad Halvorsen Ibekwe Jankowski Kowalczyk Lindqvist MacAllister Mbeki Montgomery Nakamura
Nwosu Okonkwo Oyelaran Pemberton Quigley Rasmussen Ramirez Sandoval Szabo Thistlewood Underhill Valdivia
Whitlock Yamamoto Zielinski Patel Smith Jones Taylor Brown Wilson Evans Thompson Khan Murphy Walker Wright
Robinson Clarke Hughes Edwards Green Hall Wood Harris""".split()
DOMAINS = ["example.com", "mail.example.co.uk", "post.example.org", "inbox.example.net", "example.ie"]


def _luhn_number(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


def fake_card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "mc", "amex", "discover", "visa19", "maestro13"])
    digits = {
        "visa": lambda: _luhn_number(rng, "4", 16), "mc": lambda: _luhn_number(rng, f"5{rng.randint(1, 5)}", 16),
        "amex": lambda: _luhn_number(rng, rng.choice(["34", "37"]), 15),
        "discover": lambda: _luhn_number(rng, "6011", 16), "visa19": lambda: _luhn_number(rng, "4", 19),
        "maestro13": lambda: _luhn_number(rng, "50", 13),
    }[kind]()  # fmt: skip
    style = rng.choice(["spaces", "dashes", "plain"])
    if style == "plain":
        return digits
    if kind == "amex":
        groups = [digits[:4], digits[4:10], digits[10:]]
    else:
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return (" " if style == "spaces" else "-").join(groups)


def fake_phone(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    area = f"{rng.randint(2, 9)}{d(2)}"
    return rng.choice([
        f"07{d(3)} {d(6)}", f"07{d(9)}", f"+44 7{d(3)} {d(6)}", f"+44 (0)20 {d(4)} {d(4)}", f"020 {d(4)} {d(4)}",
        f"0161 {d(3)} {d(4)}", f"01{d(3)} {d(6)}", f"({area}) {d(3)}-{d(4)}", f"{area}-{d(3)}-{d(4)}",
        f"{area}.{d(3)}.{d(4)}", f"+1 {area} {d(3)} {d(4)}", f"1-{area}-{d(3)}-{d(4)}",
        f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", f"+49 30 {d(8)}", f"+61 4{d(2)} {d(3)} {d(3)}",
        f"+353 8{d(1)} {d(3)} {d(4)}", f"0044 7{d(3)} {d(6)}", f"+91 9{d(4)} {d(5)}",
    ])  # fmt: skip


def fake_email(rng: random.Random, first: str, last: str) -> str:
    user = rng.choice([f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", f"{last}_{first}",
                       f"{first}{rng.randint(1970, 2005)}", f"{first}.{last}+orders"])  # fmt: skip
    if rng.random() < 0.7:
        user = user.lower()
    return f"{user}@{rng.choice(DOMAINS)}"


@dataclass
class Planted:
    """What one generated turn contains: (kind, value) items; names carry how they appeared."""

    items: list[tuple[str, str]] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)  # (word, how: cue | title | bare)


def fake_call(rng: random.Random) -> list[tuple[str, str, Planted]]:
    """One call: (role, text, planted) turns, with filler that carries numbers that are not PII."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    other_first, other_last = rng.choice(FIRST), rng.choice(LAST)
    email, phone, card = fake_email(rng, first, last), fake_phone(rng), fake_card(rng)
    phone2 = fake_phone(rng)
    turns: list[tuple[str, str, Planted]] = []

    def add(role: str, text: str, items: list[tuple[str, str]], names: list[tuple[str, str]]) -> None:
        turns.append((role, text, Planted(items, names)))

    intro = rng.random() < 0.75
    if intro:
        cue = rng.choice(["My name is {f} {l}", "It's {f} {l} here", "This is {f} {l}", "I'm {f} {l}",
                          "Yes, hello, {f} {l} speaking"])  # fmt: skip
        cue_how = "bare" if "speaking" in cue else "cue"
        add("customer", cue.format(f=first, l=last) + " and I have been waiting twelve days for order 48213377.",
            [], [(first, cue_how), (last, cue_how)])  # fmt: skip
    else:
        add("customer", "I have been waiting twelve days for order 48213377 and nobody calls back.", [], [])
    add("agent", rng.choice([f"I'm sorry, Mr {last}, that is a long wait. What happened when you rang before?",
                             f"Mrs {last}, that sounds exhausting. What happened the first time you called?"]),
        [], [(last, "title")])  # fmt: skip
    add("customer", rng.choice([f"Ring me on {phone}, I'm not holding again.", f"My number is {phone}.",
                                f"Call me back on {phone} after 5pm, I paid £49.99 on 12/03/2024."]),
        [("phone", phone)], [])  # fmt: skip
    add("agent", rng.choice([f"Thanks {first}. I have {phone} down; what would make this right?",
                             f"{first}, I hear you. Is {phone} the best number?"]),
        [("phone", phone)], [(first, "bare, introduced earlier" if intro else "bare")])  # fmt: skip
    add("customer", rng.choice([f"I paid with my card, {card}, and you charged me twice.",
                                f"The card was {card}, expiry 09/27.", f"Card number {card}, check it yourself!"]),
        [("card", card)], [])  # fmt: skip
    add("agent", f"I'll send the refund confirmation to {email} today. Is that right?", [("email", email)], [])
    add("customer", rng.choice([f"No, use {email}. Or my husband {other_first} {other_last} on {phone2}.",
                                f"Email {email}, or ask for {other_first} {other_last} on {phone2}.",
                                f"It's {email}. My daughter {other_first} set it up, she's on {phone2}."]),
        [("email", email), ("phone", phone2)], [(other_first, "bare")])  # fmt: skip
    if other_last in turns[-1][1]:
        turns[-1][2].names.append((other_last, "bare"))
    return turns


def record_of(turns: list[tuple[str, str, Planted]], trainee: str) -> SessionRecord:
    sid = str(uuid.uuid4())
    now = datetime.now(UTC)
    persona = BRIAN.read_text(encoding="utf-8")
    rows = []
    for n, (role, text, _) in enumerate(turns):
        grades = []
        if role == "agent":
            verdict = TurnVerdict(perspective_taking=3, techniques=[
                TechniqueUse(technique=Technique.RECIPROCITY, use="ethical", evidence=text[:80])])  # fmt: skip
            grades = [TurnGrade(status="graded", verdict=verdict, grader="local:appraiser", grader_version="t",
                                tip=f"Good: you used what they told you ({text[:40]}).")]  # fmt: skip
        rows.append(TurnRecord(
            id=str(uuid.uuid4()), session_id=sid, index=n, role=role, text=text, status="final",
            text_canon=TEXT_CANON, text_altered=False, created_at=now, updated_at=now, grades=grades,
        ))  # fmt: skip
    return SessionRecord(
        id=sid, trainee=trainee, persona_name="Brian", persona_hash=persona_content_hash(persona),
        difficulty="normal", caller_model="fake", grader="local:appraiser", mode="coach", created_at=now,
        persona_text=persona, turns=rows, turn_count=len(rows),
    )  # fmt: skip


def _card_pattern(card: str) -> re.Pattern[str]:
    digits = re.sub(r"\D", "", card)
    return re.compile(r"[ -]?".join(digits))


@pytest.fixture(scope="module")
def calls() -> Iterator[tuple[Store, list[tuple[str, list[tuple[str, str, Planted]]]]]]:
    rng = random.Random(20240607)
    url, folder = fast_db_url("pii.db")
    store = Store.open(url)
    made: list[tuple[str, list[tuple[str, str, Planted]]]] = []
    for _ in range(200):
        turns = fake_call(rng)
        record = record_of(turns, trainee=f"Trainee {rng.choice(FIRST)}")
        made.append((str(store.import_session(record)), turns))
    yield store, made
    store.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_e7_exports_redact_planted_pii(calls: tuple[Store, list], figures: FigureBook) -> None:
    store, made = calls
    found = {k: 0 for k in ("card", "email", "phone")}
    missed: dict[str, list[str]] = {k: [] for k in found}
    names_by_how: dict[str, list[int]] = {}
    name_misses: list[str] = []
    for sid, turns in made:
        record = store.load_session(sid)
        as_json = render(record, "json", redact=True)
        markdown = render(record, "md", redact=True)
        redacted = SessionRecord.model_validate_json(as_json)
        everything = as_json + markdown
        assert record.trainee not in everything
        for (_, _, planted), turn in zip(turns, redacted.turns, strict=True):
            for kind, value in planted.items:
                leaked = _card_pattern(value).search(everything) if kind == "card" else value in everything
                if leaked:
                    missed[kind].append(value)
                else:
                    found[kind] += 1
            for word, how in planted.names:
                turn_texts = turn.text + " ".join(g.tip or "" for g in turn.grades)
                hit = re.search(rf"\b{re.escape(word)}\b", turn_texts) is None
                tally = names_by_how.setdefault(how, [0, 0])
                tally[0] += hit
                tally[1] += 1
                if not hit:
                    name_misses.append(f"{word} ({how})")
    totals = {k: found[k] + len(missed[k]) for k in found}
    rates = {k: found[k] / totals[k] for k in found}
    names_hit = sum(v[0] for v in names_by_how.values())
    names_total = sum(v[1] for v in names_by_how.values())
    name_rate = names_hit / names_total
    for kind in ("card", "email", "phone"):
        figures.record("E7", f"{kind}s redacted in exports (200 synthetic calls, JSON + Markdown)",
                       f"{found[kind]}/{totals[kind]} ({rates[kind]:.1%})", ">= 99%", rates[kind] >= 0.99,
                       note="missed e.g. " + ", ".join(missed[kind][:3]) if missed[kind] else "")  # fmt: skip
    split = "; ".join(f"{how} {v[0]}/{v[1]}" for how, v in sorted(names_by_how.items()))
    listed = sum(w in FIRST_NAMES for w in FIRST)
    figures.record("E7", "names redacted in exports (pool independent of the redactor's list)",
                   f"{names_hit}/{names_total} ({name_rate:.1%}); by how they appeared: {split}", ">= 90%",
                   name_rate >= 0.90, note=f"{listed}/{len(FIRST)} of the test's first names are in the redactor's "
                   "list; missed e.g. " + ", ".join(sorted(set(name_misses))[:6]))  # fmt: skip
    assert totals["card"] >= 200 and totals["email"] >= 400 and totals["phone"] >= 600
    for kind in ("card", "email", "phone"):
        assert rates[kind] >= 0.99, (kind, missed[kind][:10])
    assert name_rate >= 0.90, sorted(set(name_misses))[:20]


def test_e7_false_redactions_on_ordinary_turns(figures: FigureBook) -> None:
    """Ordinary trainee turns (gold suites) mostly pass untouched: what the rules take that is not PII."""
    turns: list[str] = []
    for name in ("gold_listening.jsonl", "gold_persuasion.jsonl"):
        with (SUITES / name).open(encoding="utf-8") as fh:
            turns += [json.loads(line)["trainee_turn"] for line in fh if line.strip()]
    changed = [(t, redact_pii(t)) for t in turns]
    touched = [(t, r) for t, (_, r) in changed if r]
    kinds: dict[str, int] = {}
    for _, reds in touched:
        for r in reds:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
    examples = [t[r[0].start : r[0].end] for t, r in touched[:5]]
    figures.record("E7", f"ordinary gold turns with something redacted (false redactions, {len(turns)} turns)",
                   f"{len(touched)} ({len(touched) / len(turns):.1%}); by kind {kinds}", "informational (low)",
                   True, note="e.g. " + ", ".join(examples))  # fmt: skip
    assert len(touched) / len(turns) < 0.10


@pytest.mark.anyio
async def test_e7_no_raw_card_numbers_in_logs(figures: FigureBook) -> None:
    """A call whose trainee reads card numbers aloud, with DEBUG logging and the client loggers forced on."""
    rng = random.Random(7)
    cards = [fake_card(rng) for _ in range(200)]
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    buffer = io.StringIO()
    url, folder = fast_db_url("pii-logs.db")
    try:
        configure_logging(logging.DEBUG)
        handler = next(h for h in root.handlers if getattr(h, "_cooldown", False))
        handler.setStream(buffer)  # type: ignore[attr-defined]
        for name in ("openai", "httpx", "httpcore", "langchain_openai"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        log = logging.getLogger("simulator.test_pii")
        for card in cards:  # the worst case: code that logs what the trainee typed
            log.info("trainee said: %s", f"my card is {card}, please refund it")
            log.debug("payload %s", json.dumps({"messages": [{"role": "user", "content": f"card {card}"}]}))
        store = Store.open(url)
        server = FakeServer(lambda r, n: sse_response(["Fine, ", "read it again then."]))
        session = start_session(store, caller_model(server))
        seam_turns = 0
        for card in cards[:5]:  # through the real seam, with every client logger at DEBUG
            if session.ended:
                break
            await play(session, f"That sounds so frustrating. You read me {card}; what happened with it?")
            seam_turns += 1
        store.close()
    finally:
        for h in list(root.handlers):
            if h not in before[1]:
                root.removeHandler(h)
        root.setLevel(before[0])
        for name in ("openai", "httpx", "httpcore", "langchain_openai"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        shutil.rmtree(folder, ignore_errors=True)
    text = buffer.getvalue()
    leaked = [c for c in cards if _card_pattern(c).search(text)]
    placeholders = text.count("[CARD]")
    figures.record("E7", "raw card numbers in logs (DEBUG, client loggers on, 200 cards + 5 real-seam turns)",
                   f"{len(leaked)} leaked; {placeholders} [CARD] placeholders in {len(text):,} log chars; "
                   f"{seam_turns} turns through the seam", "0",
                   not leaked)  # fmt: skip
    assert placeholders >= 400, "the log did not carry the cards at all: the test is not looking"
    assert not leaked, leaked[:5]
