"""Small, deterministic word tools shared by the reply planner and the plan check (no models).

- `stems(text)`: the content words of a text, lower-cased and crudely stemmed ("paid" -> "pay",
  "deliveries" -> "deliver"), without stop words; used to match questions to facts and replies to plans.
- `quantities(text)`: every number or date a text mentions, normalised so "three", "3" and "£3" agree
  ("forty-five" -> "45", "2:14 pm" -> "2:14", "Tuesday" -> "tuesday", "tomorrow" -> "tomorrow").
  A caller may only say quantities the persona (or the agent, earlier in the call) has said.
"""

from __future__ import annotations

import re
from functools import lru_cache

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the
    their theirs them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when
    when's where where's which while who who's whom why why's with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves just also really still yes yeah okay ok oh well right
    please thanks thank sorry like get got go going gonna want need know tell told say said think sure
    one thing things anything something everything nothing now then today maybe actually literally
    look see let make made way much many lot bit even ever back
    """.split()
)
"""Function words and fillers that say nothing about a fact (kept out of `stems`)."""

_IRREGULAR = {
    "paid": "pay",
    "bought": "buy",
    "sent": "send",
    "spent": "spend",
    "gave": "give",
    "given": "give",
    "took": "take",
    "taken": "take",
    "broke": "break",
    "broken": "break",
    "burnt": "burn",
    "burned": "burn",
    "went": "go",
    "gone": "go",
    "came": "come",
    "left": "leave",
    "lost": "lose",
    "rang": "ring",
    "rung": "ring",
    "wore": "wear",
    "worn": "wear",
    "kept": "keep",
    "knew": "know",
    "known": "know",
    "died": "die",
    "dead": "die",
    "death": "die",
    "children": "child",
    "kids": "child",
    "kid": "child",
    "costs": "cost",
    "charged": "charge",
    "charges": "charge",
    "money": "pay",
    "payment": "pay",
    "payments": "pay",
    "price": "cost",
    "priced": "cost",
    "parcel": "parcel",
    "delivered": "deliver",
    "delivery": "deliver",
    "deliveries": "deliver",
}

_CVC = re.compile(r"^[^aeiou][aeiou][^aeiouwxy]$")
_WORD = re.compile(r"[a-z0-9£$€]+(?:['’][a-z]+)?(?:[.:][0-9]+)?")


def stem(word: str) -> str:
    """One lower-case word crudely stemmed ("paid" -> "pay", "deliveries" -> "deliver")."""
    word = word.lower().replace("’", "'")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)] + keep
            if suffix in ("ing", "ed") and len(base) >= 3 and base[-1] == base[-2] and base[-1] not in "s":
                if base[-1] != "l" or len(base) >= 6:
                    base = base[:-1]  # "stopped" -> "stop", "cancelled" -> "cancel" (but "called" -> "call")
            elif suffix in ("ing", "ed") and len(base) == 3 and _CVC.match(base):
                base += "e"  # "taking" -> "take", "hoped" -> "hope"
            return _IRREGULAR.get(base, base)
    return word


@lru_cache(maxsize=4096)
def stems(text: str) -> frozenset[str]:
    """The content words of `text`, stemmed, without stop words (numbers are kept, as digits)."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        word = word.strip("£$€")
        if not word or word in STOP_WORDS or word.replace("’", "'") in STOP_WORDS:
            continue
        if word[0].isdigit():
            out.add(_number_text(word))
            continue
        if len(word) < 3 or word in _UNITS or word in _TENS or word in _SCALES:
            continue
        out.add(stem(word))
    for value in _number_words(text):
        out.add(value)
    return frozenset(out)


# --- numbers and dates ----------------------------------------------------------------------------

_UNITS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
"""Number words counted as quantities ("one" is left out: "no one", "this one" are not numbers)."""
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_PHRASE = re.compile(
    r"\b(?:(?:one|a|" + "|".join([*_UNITS, *_TENS]) + r")(?:[\s-]+(?:and[\s-]+)?(?:"
    + "|".join([*_UNITS, *_TENS, *_SCALES, "one"])
    + r"))*|(?:"
    + "|".join(_TENS)
    + r"))\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"(?<![\w.])[£$€]?\d[\d,]*(?:[.:]\d+)?(?:st|nd|rd|th|am|pm|%|k)?\b", re.IGNORECASE)
DATE_WORDS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday tomorrow yesterday tonight weekend fortnight
    january february march april may june july august september october november december
    """.split()
)
"""Day, month and relative-date words counted as quantities ("today" is left out: "I want it today"
commits to no date)."""
_DATE = re.compile(r"\b(" + "|".join(sorted(DATE_WORDS - {"may"})) + r")\b", re.IGNORECASE)
_MAY_MONTH = re.compile(
    r"\b(?:in|on|of|since|until|by|from|early|late|mid|last|next|this)\s+may\b|\bmay\s+\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?may\b",
    re.IGNORECASE,
)
"""'May' is a month only where a date reads so ("in May", "May 3", "3rd of May"), never the verb."""


def _number_text(token: str) -> str:
    token = token.lower().strip("£$€").rstrip("%")
    token = re.sub(r"(st|nd|rd|th|am|pm)$", "", token).replace(",", "")
    if token.endswith("k") and token[:-1].replace(".", "").isdigit():
        return str(int(float(token[:-1]) * 1000))
    if ":" in token:
        return token
    try:
        value = float(token)
    except ValueError:
        return token
    return str(int(value)) if value == int(value) else f"{value:g}"


def _phrase_value(phrase: str) -> int | None:
    words = [w for w in re.split(r"[\s-]+", phrase.lower()) if w and w != "and"]
    if not any(w in _UNITS or w in _TENS or w in _SCALES for w in words):
        return None
    if words and words[0] in ("a", "one") and (len(words) == 1 or words[1] not in _SCALES):
        words = words[1:]  # "a sixty percent rise": the article is not a number
    total = current = 0
    for word in words:
        if word in ("a", "one"):
            current += 1
        elif word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
    return total + current


def _number_words(text: str) -> list[str]:
    values = []
    for match in _NUMBER_PHRASE.finditer(text):
        value = _phrase_value(match.group(0))
        if value is not None:
            values.append(str(value))
    return values


def quantities(text: str) -> set[str]:
    """Every number and date `text` mentions, normalised (see the module docstring)."""
    found = {_number_text(m.group(0)) for m in _DIGITS.finditer(text)}
    found.update(_number_words(text))
    found.update(m.group(1).lower() for m in _DATE.finditer(text))
    if _MAY_MONTH.search(text):
        found.add("may")
    return found
