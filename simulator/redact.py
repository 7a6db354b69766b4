"""Redact personal data from transcript text before it leaves the app (exports, datasets, logs).

`redact_pii(text)` replaces what it finds with a bracketed kind (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`,
`[ACCOUNT]`, `[POSTCODE]`, `[NAME]`) and returns what it replaced, as positions in the original text:

* emails; phone numbers in international (`+44 7700 900123`, `+1 (415) 555-0132`, `0044 ...`), UK
  (`07700 900123`, `020 7946 0018`) and US (`(415) 555-0132`, `415.555.0132`) formats; card numbers,
  only Luhn-valid runs of 13-19 digits (spaces or dashes allowed); IBAN-shaped account numbers; UK sort codes
  and account numbers that follow the words "sort code" / "account"; UK postcodes.
* names, deliberately simply: capitalised words after "my name is", "I'm", "this is", "call me", "my
  husband/daughter/colleague ...", "spoke to", "thanks", "hello", ...,
  after a title (Mr, Mrs, Ms, Dr, ...), or that are in a list of ~300 common first names (with the
  capitalised word after them taken as a surname). `redact_texts` finds names in a whole transcript first,
  so a name introduced once ("my name is Zara Okonkwo") is redacted wherever it appears again ("Thanks,
  Zara"). There is no NER model: lowercase names, names not introduced by a cue and not in the list, and
  names spelled out letter by letter are missed. Measure before relying on it (RELIABILITY E7).

Detection works on the original text and resolves overlaps by priority (email, card, IBAN, account,
phone, postcode, name), so one kind never eats half of another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

PiiKind = Literal["email", "card", "iban", "account", "phone", "postcode", "name"]
_PRIORITY: dict[PiiKind, int] = {
    "email": 0, "card": 1, "iban": 2, "account": 3, "phone": 4, "postcode": 5, "name": 6,
}  # fmt: skip


class Redaction(BaseModel):
    """One replaced span: its kind and where it was in the original text (the text itself is not kept)."""

    model_config = ConfigDict(frozen=True)

    kind: PiiKind
    start: int
    end: int

    @property
    def placeholder(self) -> str:
        """What replaced the span, e.g. `[CARD]`."""
        return f"[{self.kind.upper()}]"


# --- numbers -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NUMBER_RUN = re.compile(r"(?<![\w@])(?:\+\s?)?\(?\d+\)?(?:(?:[ .\-]|\s?\(0\)\s?|(?<=\))\s?)\(?\d+\)?)*")
_DIGITS = re.compile(r"\d+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SORT_CODE = re.compile(r"(?i:sort[ -]?code)\D{0,12}(\d{2}[- ]?\d{2}[- ]?\d{2})\b")
_ACCOUNT = re.compile(r"(?i:account|acct|a/c)\D{0,20}?(\d{8}|\d{4}[ -]\d{4})\b")
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b")
_NOT_A_PHONE = re.compile(r"(?i)\b(?:order|ref(?:erence)?|tracking|invoice|case|ticket|parcel|booking)\b[^.\n]{0,20}$")


def luhn_valid(digits: str) -> bool:
    """True when `digits` (digits only) passes the Luhn checksum."""
    total = 0
    for n, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if n % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_like(text: str) -> bool:
    """IBAN-shaped (country, check digits, 11-30 more) with at least 10 digits; the checksum is not
    required, so a mistyped IBAN is still redacted."""
    code = text.replace(" ", "")
    return 15 <= len(code) <= 34 and sum(ch.isdigit() for ch in code) >= 10


def _phone_ok(digits: str, plus: bool) -> bool:
    if plus:
        return 8 <= len(digits) <= 15
    if digits.startswith("0"):
        return len(digits) in (10, 11)
    if len(digits) == 11 and digits.startswith("1"):
        return True
    return len(digits) == 10 and digits[0] in "23456789"


def _phone_window(text: str, groups: list[tuple[int, int]], used: list[bool], i: int, lead: str) -> int | None:
    """The last group of the longest phone-shaped window starting at group `i`, or None."""
    plus = "+" in lead
    best = None
    for j in range(i, min(len(groups), i + 17)):  # a phone never needs more than 17 digits (trunk 0 included)
        if used[j]:
            break
        parts = [text[a:b] for a, b in groups[i : j + 1] if text[a - 1 : b + 1] != "(0)"]
        digits = "".join(parts)
        if len(digits) > 17:
            break
        intl = plus
        if not intl and digits.startswith("00") and digits[2:3] not in ("", "0"):
            intl, digits = True, digits[2:]
        if _phone_ok(digits, intl):
            best = j
    return best


def _number_spans(text: str) -> list[tuple[PiiKind, int, int]]:
    """Cards (Luhn) and phones inside runs of digit groups."""
    found: list[tuple[PiiKind, int, int]] = []
    for run in _NUMBER_RUN.finditer(text):
        groups = [(m.start() + run.start(), m.end() + run.start()) for m in _DIGITS.finditer(run.group())]
        used = [False] * len(groups)
        # cards: the longest Luhn-valid window of 13-19 digits joined only by one space or dash
        for i in range(len(groups)):
            best, digits = None, ""
            for j in range(i, min(len(groups), i + 19)):  # a window never needs more than 19 groups
                if used[j] or (j > i and text[groups[j - 1][1] : groups[j][0]] not in ("", " ", "-")):
                    break
                digits += text[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    best = j
            if best is not None:
                found.append(("card", groups[i][0], groups[best][1]))
                used[i : best + 1] = [True] * (best - i + 1)
        # phones: from each unused group, the longest window that is a plausible number
        lead = run.group()[: groups[0][0] - run.start()] if groups else ""
        i = 0
        while i < len(groups):
            matched = _phone_window(text, groups, used, i, lead if i == 0 else "")
            if matched is None:
                i += 1
                continue
            start = run.start() + len(lead) - len(lead.lstrip()) if i == 0 and lead.strip() else groups[i][0]
            if _NOT_A_PHONE.search(text[max(0, start - 40) : start]):
                i += 1
                continue
            end = groups[matched][1]
            if text[end : end + 1] == ")":
                end += 1
            found.append(("phone", start, end))
            i = matched + 1
    return found


# --- names ---------------------------------------------------------------------------------------

_NAME_WORD = r"[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)*"
_CUE = re.compile(
    r"(?:\b(?i:my name is|my name's|name's|name is|i'm|i am|this is|it's|call me|speaking with|speak to|"
    r"ask for|talking to|spoke to|spoke with|dealt with|named|signed|regards|thanks|thank you|cheers|hi|hello|"
    r"dear|my (?:husband|wife|partner|son|daughter|mum|mom|mother|dad|father|brother|sister|friend|colleague|"
    r"neighbour|neighbor|boss|manager|carer|flatmate|landlord|landlady))[,:]?\s+)"
    rf"({_NAME_WORD}(?:\s+{_NAME_WORD})?)"
)
_TITLE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?\s+({_NAME_WORD}(?:[\s-]{_NAME_WORD})?)")
_CAPITALISED = re.compile(_NAME_WORD)

# Capitalised words that follow a cue ("I'm Sorry", "This is Acme") but are not names.
_NOT_NAMES = frozenset(
    """A An And The This That These Those It Its I Im We You Your Yours Our Ours My Me He She They Them His Her
    Not No Yes So Very Really Just Only Still Also Even Sorry Afraid Here There Now Then Today Tomorrow Calling
    Ringing Phoning Trying Going Looking Waiting Writing From With About For To Of On In At By Please Thanks
    Thank Okay Ok Well Oh Hi Hello Hey Dear Customer Service Support Team Manager Agent Sir Madam Mr Mrs Ms Dr
    What Why How When Where Who Which Whatever Absolutely Definitely Honestly Frankly Seriously Happy Glad Sure
    Fine Good Great Right Sure Fed Furious Angry Upset Done Finished Told Sick Tired Monday Tuesday Wednesday
    Thursday Friday Saturday Sunday January February March April May June July August September October November
    December Christmas Easter Amazon Royal Mail Ltd Limited Account Order Refund Delivery Bank Card Email Phone
    Policy Tracking Courier Parcel Package Cooldown Because But Or If As All Any Every One Two Three""".split()
)

FIRST_NAMES = frozenset(
    """Aaron Abdul Abigail Adam Adrian Ahmed Aidan Aisha Alan Albert Alex Alexander Alexandra Alice Alison Amanda
    Amara Amelia Amir Amy Ana Andrea Andrew Angela Anna Anne Anthony Antonio Arjun Arthur Ashley Austin Ava Barbara
    Ben Benjamin Beth Betty Brandon Brenda Brian Bridget Bruce Caitlin Callum Cameron Carl Carlos Carol Caroline
    Catherine Charles Charlie Charlotte Chen Chloe Chris Christine Christopher Claire Connor Craig Daniel Danielle
    Darren David Deborah Declan Dennis Diana Diane Dominic Donald Donna Dorothy Douglas Dylan Edward Eleanor Elena
    Eliza Elizabeth Ella Ellie Emily Emma Eric Erin Ethan Eva Evelyn Fatima Fiona Florence Francesca Freddie Gary
    Gavin George Georgia Gemma Gordon Graham Gregory Hannah Harry Harvey Hassan Heather Helen Henry Holly Hugo Ian
    Imogen Isaac Isabel Isabella Isla Ivan Jack Jacob Jade James Jamie Jane Janet Jasmine Jason Javier Jean Jennifer
    Jenny Jeremy Jessica Joan Joanna Joe John Jonathan Jordan Jose Joseph Joshua Joyce Juan Judith Julia Julie Justin
    Karen Kate Katherine Kathleen Katie Keith Kelly Kenneth Kevin Kieran Kimberly Kyle Laura Lauren Leah Leo Leon
    Liam Lily Linda Lisa Logan Louise Lucas Lucy Luis Luke Lydia Maria Marie Martin Mary Matthew Maya Megan Melissa
    Mia Michael Michelle Mohamed Mohammed Molly Muhammad Nancy Naomi Natalie Nathan Neil Nicholas Nicola Nicole Noah
    Nora Oliver Olivia Omar Oscar Owen Pamela Patricia Patrick Paul Paula Peter Philip Phoebe Poppy Priya Rachel Rahul
    Raj Ravi Raymond Rebecca Richard Robert Robin Roger Ronald Rosie Ross Ruby Ruth Ryan Sadie Samantha Samuel Sandra
    Sara Sarah Scarlett Scott Sean Sebastian Sharon Shirley Simon Sofia Sophia Sophie Stephanie Stephen Steven Stuart
    Susan Tariq Teresa Theo Thomas Timothy Tobias Tom Tony Tracy Tyler Victoria Vincent Virginia Walter Wei William
    Yasmin Yusuf Zachary Zoe Aaliyah Chidi Kwame Ngozi Olu Mei Hiroshi Yuki Sanjay Anil Deepak Sunita Pooja Nadia
    Layla Khalid Ibrahim Mustafa Leila Siobhan Niamh Aoife Ciaran Eoin Sinead Rhys Gareth Bethan Dafydd Mateo Diego
    Lucia Pablo Marta Pierre Camille Lukas Hans Greta Piotr Agnieszka Olga Dmitri Tatiana Kofi Ama Femi Tunde""".split()
)
"""~340 common first names (UK/US/international); ambiguous words (Will, May, Mark, Grace, Hope, Frank) left out."""


def _name_spans(text: str, known: frozenset[str]) -> list[tuple[PiiKind, int, int]]:
    found: list[tuple[PiiKind, int, int]] = []

    def add_words(start: int, phrase: str) -> None:
        offset = 0
        for word in phrase.split():
            at = phrase.index(word, offset)
            offset = at + len(word)
            if word.strip(".,") not in _NOT_NAMES:
                found.append(("name", start + at, start + at + len(word)))
            else:
                break

    for m in _CUE.finditer(text):
        add_words(m.start(1), m.group(1))
    for m in _TITLE.finditer(text):
        add_words(m.start(1), m.group(1))
    words = list(_CAPITALISED.finditer(text))
    for n, w in enumerate(words):
        base = re.split(r"['’]", w.group())[0]
        if base in FIRST_NAMES or base in known:
            found.append(("name", w.start(), w.start() + len(base)))
            nxt = words[n + 1] if n + 1 < len(words) else None
            spaced = nxt is not None and re.fullmatch(r"[ \t]+", text[w.end() : nxt.start()]) is not None
            if nxt is not None and spaced and nxt.group() not in _NOT_NAMES:
                found.append(("name", nxt.start(), nxt.end()))
    return found


def find_names(text: str) -> set[str]:
    """The name words `redact_pii` would find in `text` (for carrying names across a transcript)."""
    return {text[a:b] for _, a, b in _name_spans(text, frozenset())}


# --- putting it together -------------------------------------------------------------------------


def _spans(text: str, known: frozenset[str]) -> list[tuple[PiiKind, int, int]]:
    spans: list[tuple[PiiKind, int, int]] = [("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    spans += [("iban", m.start(), m.end()) for m in _IBAN.finditer(text) if _iban_like(m.group())]
    spans += [("account", m.start(1), m.end(1)) for m in _SORT_CODE.finditer(text)]
    spans += [("account", m.start(1), m.end(1)) for m in _ACCOUNT.finditer(text)]
    spans += _number_spans(text)
    spans += [("postcode", m.start(), m.end()) for m in _POSTCODE.finditer(text)]
    spans += _name_spans(text, known)
    return spans


def redact_pii(text: str, known_names: Iterable[str] = ()) -> tuple[str, list[Redaction]]:
    """`text` with personal data replaced by `[KIND]` placeholders, and what was replaced.

    Args:
        text: Any text (a transcript turn, a grade's evidence quote, a log line).
        known_names: Name words found elsewhere in the same transcript (see `redact_texts`); each is
            redacted wherever it appears capitalised.

    Returns:
        The redacted text and the redactions, positions in the original `text`, in order.
    """
    known = frozenset(n for n in known_names if len(n) > 1 and n[0].isupper() and n not in _NOT_NAMES)
    chosen: list[tuple[PiiKind, int, int]] = []
    for kind, start, end in sorted(_spans(text, known), key=lambda s: (_PRIORITY[s[0]], s[1] - s[2], s[1])):
        if end > start and all(end <= a or start >= b for _, a, b in chosen):
            chosen.append((kind, start, end))
    chosen.sort(key=lambda s: s[1])
    out: list[str] = []
    pos = 0
    for kind, start, end in chosen:
        out += [text[pos:start], f"[{kind.upper()}]"]
        pos = end
    out.append(text[pos:])
    return "".join(out), [Redaction(kind=k, start=a, end=b) for k, a, b in chosen]


def redact_texts(texts: Sequence[str]) -> list[str]:
    """Redact several texts of one transcript: names found in any of them are redacted in all of them."""
    known: set[str] = set()
    for text in texts:
        known |= find_names(text)
    return [redact_pii(text, known)[0] for text in texts]


def redact_cards(text: str) -> str:
    """Only Luhn-valid card numbers replaced by `[CARD]` (cheap enough for every log record)."""
    if sum(ch.isdigit() for ch in text) < 13:
        return text
    spans = [s for s in _number_spans(text) if s[0] == "card"]
    for _, start, end in sorted(spans, key=lambda s: -s[1]):
        text = text[:start] + "[CARD]" + text[end:]
    return text
