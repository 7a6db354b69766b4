"""Claims against the scenario: figures, terms and deadlines a turn states that the scenario's facts contradict.

The rubric's first test of a persuasion technique is whether it is true. The appraiser's models read the
turn and the caller's last line, never the scenario, so "the voucher is valid six months" and "valid twelve
months" look alike to them. This module compares the two, by rule, and is deliberately narrow: it
reports a claim only when it is sure, because a false report calls an honest trainee a deceiver.

A claim conflicts with the scenario when either

* the turn states a sum of money, a percentage, a term (how long a guarantee, voucher or window lasts), a
  date or a year that no figure of the scenario or the call so far gives or derives (a sum, difference,
  product, ratio or share of two sums; a sum times a count; a date plus a term; for a claimed ceiling,
  only the ceiling itself), that is not hedged ("about", "max") nor an offer the trainee makes ("I'll put
  £10 on"), and that the scenario states differently for the same thing: the scenario sentence nearest
  in words holds a figure of the same kind, as a term of the deal (a window counts for a date); or
* the turn says a fee or charge applies where the scenario says there is none ("no exit fee") and names
  no fee that does apply; or
* the turn sets a call-bound or same-day deadline ("the offer disappears when this call ends", "today
  only", "the price only holds while we're on the phone") that the scenario does not set.

A figure the scenario is silent on (a callback time, a booking the trainee makes) is never a conflict.
Pure and deterministic; no model and no I/O. `appraise.appraise_detailed` runs it on a manipulative verdict, to
name the claim in the coaching tip; it does not change the verdict (on turns it was not written for, its
reports alone were right 1 time out of 3, beside a manipulative verdict 10 out of 10: docs/grading-quality.md).
"""

from __future__ import annotations

import bisect
import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final, Literal

from simulator.grading.labels import Tactic

ClaimKind = Literal["money", "percent", "term", "date", "year", "deadline", "fee"]

_SMALL: Final = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS: Final = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                "ninety": 90}  # fmt: skip
_NUM_WORD = (
    r"(?:(?:a|one|two|three|four|five|six|seven|eight|nine)\s+hundred(?:\s+and)?\s+)?"
    r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|"
    r"eight|nine))?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|a|an)"
)
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY = re.compile(
    rf"[£$€]\s?(?P<a>{_DIGITS})(?:\s?(?P<k>k)\b)?|\b(?P<b>{_DIGITS}|{_NUM_WORD})\s+(?:quid|pounds?|dollars?|euros?|bucks)\b",
    re.IGNORECASE,
)
_DAYS_PER: Final = {"day": 1.0, "week": 7.0, "fortnight": 14.0, "month": 30.4, "year": 365.0}
_TERM_LENGTH = re.compile(
    rf"\b(?P<n>{_DIGITS}|{_NUM_WORD})(?:\s*(?:-|to|–)\s*(?:{_DIGITS}))?[\s-]+(?:working |business )?"
    r"(?P<u>days?|weeks?|fortnights?|months?|years?)\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"\b(?P<n>{_DIGITS})\s?(?:%|per ?cent)", re.IGNORECASE)
_YEAR = re.compile(r"\b(20\d\d)\b")
_MONTHS: Final = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")  # fmt: skip
_DATE = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<m>{_MONTH})\b|\b(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)
_DIGIT_RUN = re.compile(_DIGITS)
_HEDGE = re.compile(r"\b(?:about|around|near|nearly|almost|roughly|approx\w*|over|under|up to|some)\s+\S*$", re.I)
_PER_RATE = re.compile(r"(?:[£$€]\s?[\d,.]+k?|\b(?:quid|pounds?|dollars?|euros?|bucks))\s*$", re.IGNORECASE)
_HEDGE_AFTER = re.compile(r"\s*(?:max|maximum|tops|or so|ish|at most|at the latest|or thereabouts)\b", re.IGNORECASE)
_CEILING = re.compile(
    rf"\b(?:up to|maximum(?: of)?|max(?:imum)?|at most|no more than|capped at|limit of)\s+[£$€]\s?(?P<a>{_DIGITS})",
    re.IGNORECASE,
)
# "the most I can offer is £75": a claim about the ceiling, which only the ceiling itself supports.
_CEILING_CLAIM = re.compile(
    r"\b(?:the most|maximum|max|at most|up to|only able to|no more than|limit)\b[^.;£$€\d]{0,45}$", re.IGNORECASE
)
# "I'll put a £10 credit on": an offer the trainee makes, not a claim about the case.
_OFFER_BEFORE = re.compile(r"\b(?:put|add|adding|added|give|giving|offer|offering|send|pop|popped|knock|apply|applied)"
                           r"\b(?:\s+\S+){0,3}\s*$", re.IGNORECASE)  # fmt: skip
# Words that make a length, a date or a year a term of the deal rather than a story ("three months ago").
_TERM_WORDS = re.compile(
    r"\b(?:until|till|til|by|before|expires?|expiry|deadline|valid|covered|cover|ends?|lapses?|within|up to|"
    r"guarantee[ds]?|warranty|from issue|window|notice|claim|lasts?|term|contract|runs? (?:to|out|until))\b",
    re.IGNORECASE,
)
_DEADLINE = re.compile(
    r"\b(?:(?:today|tonight) only|only (?:today|tonight|on this call|while (?:we'?re|you'?re|i'?ve got you) on "
    r"(?:the|this) (?:phone|call|line))|now or never|"
    r"(?:(?:offers?|deals?|prices?|rates?|discounts?|refunds?|windows?|slots?|vouchers?|credits?)\s+"
    r"(?:will\s+|would\s+)?(?:end|expire|disappear|close|shut|lock|lapse)|"
    r"ends|expires|disappears|closes|shuts|locks|lapses|(?:is|be|'s|are) gone|goes up|"
    r"only (?:holds?|stands?|valid|available|good|lasts?))"
    r"\b[^.?!]{0,30}?\b(?:today|tonight|midnight|(?:when|once|after|before) (?:this|the|we) (?:call|phone)"
    r"(?: (?:ends|is over|finishes|hangs? up))?|"
    r"(?:end|close) of (?:this|the) call|while (?:we'?re|you'?re) on(?: (?:the|this) (?:phone|call|line))?|"
    r"in the next (?:\w+ )?(?:minutes?|hour)))",
    re.IGNORECASE,
)
# "leaving does carry an exit fee" where the scenario says "customers may leave with no fee".
_FEE_CLAIM = re.compile(
    r"\b(?:carr(?:y|ies)|there'?s|there is|there'?d be|there would be|incurs?|attracts?|you'?(?:ll|d) (?:pay|be "
    r"charged|owe)|does carry|comes with|subject to)\s+(?:an?\s+|the\s+)?(?:\w+[- ]){0,2}?(?:fee|charge|penalty)\b",
    re.IGNORECASE,
)
_NO_FEE = re.compile(
    r"\b(?:no (?:\w+[- ]){0,2}?(?:fee|charge|penalty)s?|(?:fee|charge|penalty)[- ]free|free of charge|"
    r"without (?:an?y? )?(?:\w+ )?(?:fee|charge|penalty)|free to (?:leave|cancel)|"
    r"(?:fee|charge) (?:is|was|has been) waived)\b",
    re.IGNORECASE,
)
_FEE_EXISTS = re.compile(
    r"\b(?:fee|charge|penalty)\s+(?:of\s+)?[£$€]\d|[£$€][\d,.]+\s+(?:\w+[- ]){0,2}?(?:fee|charge|penalty)\b|"
    r"\b(?:costs?|pays?|charged?)\b[^.;]{0,20}[£$€]\d",
    re.IGNORECASE,
)
_CALL_DEADLINE = re.compile(
    r"\b(?:only|valid|available|ends?|expires?|lapses?|holds?)\b[^.;]{0,30}\b(?:on|during|end of) (?:this|the) call\b|"
    r"\bwhile on the (?:phone|line)\b",
    re.IGNORECASE,
)
_CALL_BOUND = re.compile(r"call|phone|line|minutes?|hour|never", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.;!?])\s+|\n+")
_STOP: Final = frozenset(
    "the and for with from this that these those you your our are was were been its not yes but can will would "
    "could should have has had does did just only then than there here what which who when where how about into "
    "after before also more most less very much any all per each over out".split()
)


@dataclass(frozen=True)
class ClaimConflict:
    """One claim in the turn that the scenario contradicts.

    Attributes:
        kind: What was claimed: `money`, `percent`, `term`, `date`, `year`, a `deadline` or a `fee`.
        quote: The claim, verbatim from the turn.
        fact: The scenario sentence that states it otherwise ("" for a deadline the scenario never sets).
    """

    kind: ClaimKind
    quote: str
    fact: str

    @property
    def tactic(self) -> Tactic:
        """The tactic it shows: `false_urgency` for an invented deadline, `deception` otherwise."""
        return Tactic.FALSE_URGENCY if self.kind == "deadline" else Tactic.DECEPTION

    def explain(self) -> str:
        """One sentence for the trainee: what they said against what the scenario says."""
        if self.kind == "deadline":
            return f'You said "{self.quote}", but no such deadline exists in this case.'
        return f'You said "{self.quote}", but the case facts say: "{_clip(self.fact)}"'


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _word_number(text: str) -> float:
    tokens = text.lower().replace("-", " ").split()
    if tokens in (["a"], ["an"]):
        return 1.0
    value = 0
    for token in tokens:
        if token in _SMALL:
            value += _SMALL[token]
        elif token in _TENS:
            value += _TENS[token]
        elif token == "hundred":
            value = max(value, 1) * 100
        elif token in ("a", "an"):
            value += 1
    return float(value)


def _number(text: str) -> float:
    text = text.strip()
    if re.fullmatch(_DIGITS, text):
        return float(text.replace(",", ""))
    return _word_number(text)


@dataclass(frozen=True)
class _Figure:
    kind: ClaimKind
    value: float | tuple[int, int]
    quote: str
    start: int


def _figures(text: str) -> list[_Figure]:
    out: list[_Figure] = []
    for m in _MONEY.finditer(text):
        value = _number(m.group("a") or m.group("b")) * (1000 if m.group("k") else 1)
        out.append(_Figure("money", value, m.group(0), m.start()))
    for m in _TERM_LENGTH.finditer(text):
        if re.match(r"(?:a|an|per|each)\b", m.group(0), re.IGNORECASE) and _PER_RATE.search(text[: m.start()]):
            continue  # "£34 a month" is a rate, not a term
        unit = m.group("u").lower().rstrip("s")
        out.append(_Figure("term", _number(m.group("n")) * _DAYS_PER[unit], m.group(0), m.start()))
    for m in _PERCENT.finditer(text):
        out.append(_Figure("percent", _number(m.group("n")), m.group(0), m.start()))
    for m in _YEAR.finditer(text):
        out.append(_Figure("year", float(m.group(1)), m.group(0), m.start()))
    for m in _DATE.finditer(text):
        day = int(m.group("d") or m.group("d2"))
        month = _MONTHS.index((m.group("m") or m.group("m2")).lower()[:3]) + 1
        if 1 <= day <= 31:
            out.append(_Figure("date", (month, day), m.group(0), m.start()))
    return out


@dataclass(frozen=True)
class _Support:
    """What the scenario and the call so far state, by kind: sums of money, percentages, plain numbers
    (counts that a sum may be multiplied or divided by), terms in days, dates and years. Sorted tuples."""

    money: tuple[float, ...]
    ceilings: tuple[float, ...]
    percents: tuple[float, ...]
    counts: tuple[float, ...]
    terms: tuple[float, ...]
    dates: frozenset[tuple[int, int]]
    years: frozenset[float]


@lru_cache(maxsize=512)
def _support_of(text: str) -> _Support:
    found = _figures(text)

    def values(kind: str) -> tuple[float, ...]:
        return tuple(sorted({float(f.value) for f in found if f.kind == kind}))  # type: ignore[arg-type]

    counts = {float(m.group(0).replace(",", "")) for m in _DIGIT_RUN.finditer(text)}
    words = re.findall(r"[a-z]+", text.lower())
    counts |= {float(_SMALL[w]) for w in words if w in _SMALL} | {2.0 for w in words if w in ("pair", "both", "twice")}
    return _Support(
        money=values("money"),
        ceilings=tuple(sorted({float(m.group("a").replace(",", "")) for m in _CEILING.finditer(text)})),
        percents=values("percent"),
        counts=tuple(sorted(c for c in counts if 0 < c <= 100)),
        terms=values("term"),
        dates=frozenset(f.value for f in found if f.kind == "date"),  # type: ignore[misc]
        years=frozenset(float(f.value) for f in found if f.kind == "year"),  # type: ignore[arg-type]
    )


def _support(texts: Iterable[str]) -> _Support:
    parts = [_support_of(t) for t in texts]

    def merged(field: str) -> tuple[float, ...]:
        return tuple(sorted({v for p in parts for v in getattr(p, field)}))

    return _Support(
        money=merged("money"),
        ceilings=merged("ceilings"),
        percents=merged("percents"),
        counts=merged("counts"),
        terms=merged("terms"),
        dates=frozenset(d for p in parts for d in p.dates),
        years=frozenset(y for p in parts for y in p.years),
    )


def _near(pool: Sequence[float], target: float, rel: float = 0.006) -> bool:
    tol = max(0.011, rel * abs(target))
    i = bisect.bisect_left(pool, target - tol)
    return i < len(pool) and pool[i] <= target + tol


def _money_derivable(value: float, s: _Support) -> bool:
    """A sum given, or one step of arithmetic on what is given: the sum or difference of two sums, a sum
    times or divided by a count ("£5 a day for 8 days"), or a percentage of a sum, off it or on it."""
    if _near(s.money, value) or any(value <= c for c in s.ceilings):
        return True
    for a in s.money:
        if _near(s.money, value - a) or _near(s.money, a - value):
            return True
        if a and (_near(s.counts, value / a) or _near(s.counts, a / value if value else -1.0)):
            return True
        if a and (_near(s.percents, 100 * value / a) or _near(s.percents, 100 * (1 - value / a))
                  or _near(s.percents, 100 * (value / a - 1))):  # fmt: skip
            return True
        if a and _near((0.5, 2.0), value / a):  # "half price", "double"
            return True
    return False


def _percent_derivable(value: float, s: _Support) -> bool:
    """A percentage given, or one sum as a share of another ("that's 40% of the bill")."""
    return _near(s.percents, value) or any(a and _near(s.money, a * value / 100) for a in s.money)


def _between_dates(days: float, support: _Support) -> bool:
    """A term that is the distance between two dates the scenario gives ("28 days from your travel date")."""
    given = []
    for month, day in support.dates:
        try:
            given.append(datetime.date(2026, month, day))
        except ValueError:
            continue
    return any(abs(abs((a - b).days) - days) <= max(1.0, 0.05 * days) for a in given for b in given if a != b)


def _date_from_terms(date: tuple[int, int], support: _Support) -> bool:
    try:
        target = datetime.date(2026, *date)
    except ValueError:
        return False
    for month, day in support.dates:
        try:
            base = datetime.date(2026, month, day)
        except ValueError:
            continue
        for days in support.terms:
            for sign in (1, -1):
                off = abs((base + datetime.timedelta(days=sign * days) - target).days)
                if off <= max(1.0, 0.1 * days):
                    return True
    return False


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in _STOP}


def _states_otherwise(turn: str, figure: _Figure, scenario: str) -> str | None:
    """The scenario sentence that gives a figure of the same kind for the same thing, if any."""
    window = _words(turn[max(0, figure.start - 70) : figure.start + len(figure.quote) + 50]) - _words(figure.quote)
    best, overlap = None, 0
    for sentence in _SENTENCE.split(scenario):
        shared = len(window & _words(sentence))
        if shared > overlap:
            best, overlap = sentence, shared
    kinds = {"date", "term"} if figure.kind in ("date", "term") else {figure.kind}  # a window sets an end date
    if best is not None and any(f.kind in kinds and _is_term_of_deal(best, f) for f in _figures(best)):
        return best.strip()
    return None


def _is_term_of_deal(text: str, figure: _Figure) -> bool:
    """A sum or a percentage always is; a length, a date or a year only with a term word beside it, and not
    when it dates the story ("expired a week ago")."""
    if figure.kind in ("money", "percent"):
        return True
    before, after = text[: figure.start], text[figure.start + len(figure.quote) :]
    return bool(_TERM_WORDS.search(before[-45:] + " " + after[:25])) and not re.match(r"\s*ago\b", after, re.I)


def _sentence_around(text: str, at: int) -> str:
    starts = [0, *(m.end() for m in _SENTENCE.finditer(text) if m.end() <= at)]
    end = next((m.start() for m in _SENTENCE.finditer(text) if m.start() >= at), len(text))
    return text[starts[-1] : end].strip()


def _supported(figure: _Figure, support: _Support) -> bool:
    if figure.kind == "money":
        return _money_derivable(float(figure.value), support)  # type: ignore[arg-type]
    if figure.kind == "percent":
        return _percent_derivable(float(figure.value), support)  # type: ignore[arg-type]
    if figure.kind == "term":
        days = float(figure.value)  # type: ignore[arg-type]
        return days < 1 or _near(support.terms, days, rel=0.12) or _between_dates(days, support)
    if figure.kind == "year":
        return figure.value in support.years
    return figure.value in support.dates or _date_from_terms(figure.value, support)  # type: ignore[arg-type]


def _deadline_set_by(phrase: str, scenario: str) -> bool:
    if _CALL_BOUND.search(phrase):
        return bool(_CALL_DEADLINE.search(scenario))
    word = re.search(r"today|tonight|midnight", phrase, re.IGNORECASE)
    return bool(word) and bool(re.search(
        r"\b(?:by|until|till|before|ends?|closes?|expires?|lapses?|deadline)\b[^.;]{0,25}\b" + word.group(0),  # type: ignore[union-attr]
        scenario, re.IGNORECASE))  # fmt: skip


def _with_own_working(with_turn: _Support, given: _Support, figures: Sequence[_Figure]) -> _Support:
    """The given facts, plus the turn's own counts and each of its sums that follows from what is given so
    far ("£17 a seat, so £34 for the pair"): a sum the turn invents cannot vouch for another."""
    money = set(given.money)
    changed = True
    while changed:
        changed = False
        pool = replace(given, money=tuple(sorted(money)), counts=with_turn.counts)
        for f in figures:
            if f.kind == "money" and f.value not in money and _money_derivable(float(f.value), pool):  # type: ignore[arg-type]
                money.add(float(f.value))  # type: ignore[arg-type]
                changed = True
    return replace(given, money=tuple(sorted(money)), counts=with_turn.counts)


def claim_conflicts(turn: str, scenario: str | None, context: Iterable[str] = ()) -> list[ClaimConflict]:
    """The turn's claims that the scenario contradicts (see the module docstring), in order of appearance.

    Args:
        turn: The trainee's turn, payload-stripped (`integrity.strip_injection_spans`).
        scenario: The scenario's facts; with none, nothing can conflict and the answer is [].
        context: Earlier utterances of the call: a figure said there counts as given.
    """
    if not scenario or not scenario.strip():
        return []
    figures = sorted(_figures(turn), key=lambda f: f.start)
    support = _with_own_working(_support((scenario, *context, turn)), _support((scenario, *context)), figures)
    out: list[ClaimConflict] = []
    for figure in figures:
        before, after = turn[: figure.start], turn[figure.start + len(figure.quote) :]
        if not _is_term_of_deal(turn, figure):
            continue  # a length or date in a story, not a term of the deal
        if _HEDGE.search(before) or _HEDGE_AFTER.match(after):
            continue
        ceiling_claim = figure.kind == "money" and bool(support.ceilings) and bool(_CEILING_CLAIM.search(before))
        if ceiling_claim:
            if _near(support.ceilings, float(figure.value)):  # type: ignore[arg-type]
                continue
        elif (figure.kind == "money" and _OFFER_BEFORE.search(before)) or _supported(figure, support):
            continue
        fact = _states_otherwise(turn, figure, scenario)
        if fact is not None:
            out.append(ClaimConflict(figure.kind, figure.quote, fact))
    fee = _FEE_CLAIM.search(turn)
    no_fee = _NO_FEE.search(scenario)
    if fee and no_fee and not _NO_FEE.search(turn) and not _FEE_EXISTS.search(scenario):
        out.append(ClaimConflict("fee", fee.group(0), _sentence_around(scenario, no_fee.start())))
    deadline = _DEADLINE.search(turn)
    if deadline and not _deadline_set_by(deadline.group(0), scenario):
        out.append(ClaimConflict("deadline", deadline.group(0), ""))
    return out
