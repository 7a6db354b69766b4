"""Turn → sparse feature vector for the local appraiser. Pure, deterministic, no model and no I/O.

Three families of features, in one index space of `N_FEATURES` columns:

* hashed word 1-2-grams and character 3-5-grams (`zlib.crc32`, stable across processes; Python's own
  `hash` is salted per process and must never be used here), L2-normalised per family;
* linguistic cues that generalise beyond single words (open vs closed questions, reflection and
  perspective markers, data confrontation, minimisers, blame, offers, urgency, defaults, gift framing...),
  each a named column so the trained weights can be read;
* decision features (`decisions`): the rubric's criteria as signals about the move (where the weight
  of the turn falls, who it is about, blame questions, consent and opt-out, conditional gifts, inflated
  losses, claims the scenario does not hold);
* context and scenario cues: did the caller just ask a question (this separates `information` from
  `fact_confrontation`), and are the turn's numbers found in the scenario's facts (an unsupported price is
  a suspicious anchor).

The training script and the runtime share this module, so features can never drift between them.
"""

from __future__ import annotations

import importlib
import itertools
import math
import re
import zlib
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from simulator.grading.appraiser.decisions import DECISION_NAMES, decision_values

HASH_BITS: Final = 16
N_HASHED: Final = 1 << HASH_BITS
_MASK: Final = N_HASHED - 1

_WORD = re.compile(r"[a-z0-9£$€%']+")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_NUM = re.compile(r"[£$€]?\d[\d,]*(?:\.\d+)?%?")


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _rxi(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Named linguistic cues: (name, regex). Counted per turn (capped), so the weights stay readable.
CUES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "you_feel",
        _rx(
            r"\byou(?:'re| are)? (?:feel|feeling|must be|must feel|sound)|\bmust (?:be|feel)\b"
            r"|\bsounds? (?:like|really|so|awful|stressful|frustrating)|"
            r"\bthat'?s (?:a )?(?:really |so )?"
            r"(?:frustrating|stressful|maddening|awful|horrible|worrying|frightening|hard|"
            r"rough)"
        ),
    ),
    (
        "feeling_word",
        _rx(
            r"\b(?:frustrat\w*|angry|anger|upset|annoy\w*|worr\w*|stress\w*|livid|fed up|"
            r"anxious"
            r"|scared|frighten\w*|gutted|disappoint\w*|furious|fuming|let down|"
            r"taken for granted"
            r"|misled|hurt|blow|awful|horrible|maddening|exhaust\w*)"
        ),
    ),
    (
        "reflection",
        _rx(
            r"(?:^|[.!?]\s*)so (?:you|it'?s|the|your)|\bit sounds like\b|"
            r"\bif i'?ve got (?:this|that) right"
            r"|\bjust so i'?ve got|\bwhat i'?m hearing\b|\bso it'?s not just\b|"
            r"\byou'?ve (?:been|now|had|spent"
            r"|waited|got)|\byou (?:were|had|took|booked|planned|paid|spent|chose|picked|"
            r"signed)\b"
        ),
    ),
    (
        "perspective",
        _rx(
            r"\bif i (?:were|was|'?d)\b|\bin your (?:shoes|position|place|seat)\b|"
            r"\bfrom (?:where you"
            r"|your (?:side|point of view|end))|\bi'?d (?:be|feel) [a-z ]{0,25}too\b|"
            r"\bi'?d be (?:livid"
            r"|furious|fuming|annoyed|mad|upset|panicking|climbing|worried|sarcastic)|"
            r"\bif (?:that|this|it)"
            r" were (?:me|my)\b|\bi can only imagine\b|\bhow (?:does|has) (?:it|this|"
            r"that) (?:look|been|felt"
            r"|affect)|\bwhat (?:has|'?s) it been like\b|\bhow (?:is|has) (?:it|this) affect"
        ),
    ),
    (
        "validation",
        _rx(
            r"\bmakes? (?:complete |total |perfect )?sense\b|\bunderstandabl[ey]\b|"
            r"\banyone would\b"
            r"|\bthat'?s (?:completely |totally |entirely )?fair\b|\bfair (?:enough|question|"
            r"challenge)\b"
            r"|\bno wonder\b|\bi get why\b|\bof course you\b|\byou'?re (?:right|not wrong)\b"
            r"|\bnobody would\b|\bwould wear anyone\b|\bdon'?t (?:need to )?(?:apologi[sz]e|"
            r"be sorry)\b"
            r"|\byou'?ve done nothing wrong\b|\byou deserved\b"
        ),
    ),
    (
        "generic_ack",
        _rx(
            r"\bi (?:completely |totally )?(?:understand|hear you|get it|appreciate)\b|"
            r"\bi know\b"
        ),
    ),
    (
        "needs_check",
        _rx(
            r"\bwhat would (?:help|make|feel|you like)|\bwhat matters\b|\bis that (?:right|"
            r"the situation|"
            r"correct)\b|\bwhat (?:do|would) you (?:need|want|prefer)|\bwould (?:it|that|"
            r"either) help\b"
            r"|\bwhich (?:would you|suits)\b|\bwhat(?:'s| is) the (?:one thing|worst|hardest|"
            r"best)"
            r"|\bwhat does a good outcome\b|\bjust to (?:check|make sure)\b|"
            r"\bcan i (?:just )?(?:check|ask)\b"
            r"|\bstill want\b|\bhave i got\b"
        ),
    ),
    (
        "data",
        _rx(
            r"\bour (?:records?|system|tracking|data|logs?|policy|terms|network)\b|"
            r"\btracking (?:shows|says)\b"
            r"|\bsystem (?:shows|says|clearly)\b|\b(?:shows|says) (?:it was|that it)\b|"
            r"\baccording to\b|\bgps\b"
            r"|\bclearly (?:says|shows|communicated|states)\b|\b(?:in|per) the (?:terms|small print|"
            r"policy)\b"
            r"|\bstatus page\b|\bwe have no record\b|\bactually\b|\bstandard practice\b|"
            r"\bindustry\b"
        ),
    ),
    (
        "calm_down",
        _rx(
            r"\bcalm down\b|\blower your voice\b|\bkeep your voice down\b|\bno need (?:for|"
            r"to be)\b"
            r"|\bstop (?:panicking|shouting|worrying)\b|\brelax\b|\bdon'?t worry\b|"
            r"\bstay focused\b"
            r"|\bi'?m not going to be spoken\b|\bwon'?t help\b|\bwait (?:your|their) turn\b"
        ),
    ),
    (
        "minimiser",
        _rx(
            r"\b(?:it'?s|only|just) (?:only )?(?:a|one|ten|a few|a small|how)\b|\bjust a (?:few|"
            r"small)\b"
            r"|\bthese things happen\b|\beventually\b|\ball the time\b|\bnot (?:just you|"
            r"a big deal)\b"
            r"|\bpretty good\b|\blucky\b|\btake (?:that|it) as a win\b|"
            r"\bthat'?s (?:just )?(?:how|the process)"
            r"|\bnothing to discuss\b|\balready (?:explained|said)\b|"
            r"\bas i (?:already )?said\b"
        ),
    ),
    (
        "blame",
        _rx(
            r"\byou should(?:'?ve| have| really)\b|\byou (?:didn'?t|failed|forgot|ticked|agreed|"
            r"signed)\b"
            r"|\byour (?:fault|bank|router|responsibility)\b|\bon you\b|\bif you'?d (?:left|put|"
            r"read|called"
            r"|reported)|\bnot (?:really )?our fault\b|\bunderpaying\b|"
            r"\bit must not have been sent\b"
        ),
    ),
    ("apology", _rx(r"\bsorry\b|\bapologi[sz]e\b|\bapologies\b|\bcondolences\b|\bmy bad\b")),
    (
        "offer",
        _rx(
            r"\bi (?:can|could|'?ll|will|'?ve|have|'?d) (?:also )?(?:send|refund|offer|arrange|book|"
            r"raise|open"
            r"|add|apply|set up|order|chase|cancel|hold|put|stop|move|start|email|do|switch|sort|"
            r"make|give"
            r"|gone ahead|already)|\blet me\b|\bi'?ve (?:opened|raised|added|booked|stopped|held|"
            r"applied)"
        ),
    ),
    (
        "info",
        _rx(
            r"\b(?:\d+|one|two|three|five)[-– ](?:to[- ])?\d*\s*(?:working )?(?:days?|weeks?|hours?)\b"
            r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|\bby \w+day\b|"
            r"\bthe \d+(?:st|nd|rd|th)\b"
            r"|\b\d{1,2}(?::\d\d)?\s?(?:am|pm)\b|\bautomatic(?:ally)?\b|\bno (?:fee|penalty|"
            r"late fees?)\b"
        ),
    ),
    (
        "urgency",
        _rx(
            r"\btoday only\b|\bexpires?\b|\bright now\b|\bnow or\b|\bon this call\b|\bhang up\b|"
            r"\bby tonight\b"
            r"|\blast chance\b|\bgone forever\b|\bdisappears?\b|\bin the next\b|\bdecide (?:now|"
            r"quickly)\b"
            r"|\bwon'?t last\b|\bonly available\b|\bafter friday\b|\bif you sign today\b|"
            r"\bbefore (?:we|it)\b"
            r"|\bbe gone\b|\bwithin 24 hours\b|\block it in now\b"
        ),
    ),
    (
        "superlative",
        _rx(
            r"\b(?:best|greatest|top|finest|most \w+|premium|market leader|number one|#1)\b|"
            r"\b\w+est\b"
        ),
    ),
    (
        "price_anchor",
        _rx(
            r"\bnormally\b|\bworth\b|\busually (?:costs?|sells?|pay)\b|\blist price\b|"
            r"\bretail\b"
            r"|\bfor you\b|\bcompared (?:to|with)\b|\bother compan\w+|\bmost (?:customers|"
            r"people)\b"
            r"|\bsteal\b|\bdiscount\b|\bcheaper\b|\bcoming out ahead\b|\bmore generous\b"
        ),
    ),
    (
        "default",
        _rx(
            r"\balready (?:selected|added|booked|applied|put)\b|\bi'?ve put you\b|\bi'?ll (?:put|"
            r"switch|move)"
            r" you\b|\bunless you (?:opt out|say)\b|\bopt[- ]out\b|\bby default\b|\bas (?:a|"
            r"the) default\b"
            r"|\bi'?ve gone ahead\b|\bput you down\b|\bso i'?ll put you\b|"
            r"\bdon'?t need to do anything\b"
        ),
    ),
    (
        "free_choice",
        _rx(
            r"\bup to you\b|\byour (?:call|choice|decision)\b|\beither (?:is|way)\b|"
            r"\bno strings\b"
            r"|\bno catch\b|\bwhatever you decide\b|\bno (?:pressure|rush|conditions)\b|"
            r"\bif you'?d (?:rather"
            r"|prefer)\b|\bor you can\b|\byou decide\b|\bjust say no\b|\bwhich (?:suits|"
            r"would you)\b"
            r"|\bstill there if\b|\byours (?:either way|whatever)\b|\bonly you can\b|"
            r"\bnothing'?s confirmed"
        ),
    ),
    (
        "gift",
        _rx(
            r"\bgoodwill\b|\bgesture\b|\bon us\b|\bfree\b|\bvoucher\b|\bcredit\b|"
            r"\bi'?ve (?:also )?added\b"
            r"|\bi'?ve (?:already )?given\b|\bas an apology\b"
        ),
    ),
    (
        "leverage",
        _rx(
            r"\bthe least you can do\b|\bin return\b|\bafter (?:everything|all|"
            r"the \S+ (?:voucher|credit)"
            r"|that)\b|\bafter i gave\b|\bi'?d expect\b|\bi'?m sure you'?ll be happy\b|"
            r"\bso (?:the least|i'?d"
            r" expect)\b|\bhold off on\b|\bdrop the\b|\bmore grateful\b|\bfive-star review\b|"
            r"\bkeep pushing\b"
        ),
    ),
    (
        "flattery",
        _rx(
            r"\bvalued\b|\bloyal\b|\bas (?:a|one of our) (?:platinum|vip|premium|most|valued|"
            r"loyal)\b"
            r"|\bsomeone (?:with|like) your\b|\b(?:customers|people) like you\b|"
            r"\bi'?m sure you(?:'ll)?"
            r" (?:understand|appreciate)|\bforward-thinking\b|\byour taste\b|\bcelebrit\w+|"
            r"\baward\b"
            r"|\bbest buy\b|\bbigger picture\b|\bgreat company\b|\bpartners?\b"
        ),
    ),
    (
        "threat",
        _rx(
            r"\bor i'?ll\b|\bend this call\b|\bnote (?:it|this) on your account\b|\bfreeze\b|"
            r"\bit'?ll be on you"
            r"\b|\blegal\b|\bconsequences\b|\bcancelled and you'?ll get nothing\b"
            r"|\bdo you really want\b|\brisk your\b|\bback of a\b"
        ),
    ),
    (
        "guilt",
        _rx(
            r"\bgrateful\b|\bafter all i\b|\bwould want this\b|\bi'?d hate\b|\bdo you really want\b"
            r"|\bmake a fuss\b|\bcome crawling\b|\bit feels a bit much\b"
        ),
    ),
    (
        "honest_frame",
        _rx(
            r"\b(?:i'?ll be|let me be|to be) (?:honest|straight|upfront)\b|\bhonestly\b|"
            r"\bthat'?s on us\b"
            r"|\bbefore (?:anything|i say)\b|\bi (?:want|need) to own\b|"
            r"\bshouldn'?t have happened\b"
            r"|\bnot good enough\b|\bbecause it'?s true\b|\bi don'?t want to promise\b"
        ),
    ),
    ("negation", _rx(r"\b(?:not|no|never|nothing|can'?t|cannot|won'?t|don'?t|isn'?t|wasn'?t|couldn'?t)\b")),
    ("contrast", _rx(r"\b(?:but|however|although|though)\b")),
    ("second_person", _rx(r"\b(?:you|your|you'?re|you'?ve|you'?d|yours)\b")),
    ("first_person", _rx(r"\b(?:i|i'?m|i'?ve|i'?ll|i'?d|me|my)\b")),
    ("we_company", _rx(r"\b(?:we|our|us|we'?re|we'?ve)\b")),
)

_OPEN_Q = _rxi(
    r"^(?:\W*)(?:what|how|why|when|where|which|who|tell me|talk me|walk me|can you (?:tell|"
    r"describe|walk)"
    r"|could you (?:tell|describe|walk)|in your own words)"
)
_CLOSED_Q = _rxi(
    r"^(?:\W*)(?:is|are|was|were|do|does|did|can|could|would|will|have|has|should|shall|may|"
    r"any)\b"
)
_ASK_CUE = _rxi(
    r"\?|\b(?:how long|when|what time|what (?:is|are|can|do)|is there|can i|do i|will i|"
    r"how much|why|"
    r"which|any (?:update|compensation))\b"
)

CUE_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in CUES)
DENSE_NAMES: Final[tuple[str, ...]] = (
    *CUE_NAMES,
    "q_open",
    "q_closed",
    "q_any",
    "q_ends_turn",
    "caller_asked",
    "data_and_caller_asked",
    "data_not_asked",
    "numbers_not_asked",
    "numbers",
    "percent",
    "money",
    "num_in_scenario",
    "num_not_in_scenario",
    "money_not_in_scenario",
    "ack_but",
    "exclaim",
    "log_words",
    "short_turn",
    "long_turn",
    "bias",
    *DECISION_NAMES,
)
N_FEATURES: Final = N_HASHED + len(DENSE_NAMES)
_DENSE_INDEX: Final[dict[str, int]] = {name: N_HASHED + i for i, name in enumerate(DENSE_NAMES)}


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) & _MASK


_FNV_PRIME = np.uint32(16777619)


def _char_buckets(padded: str) -> np.ndarray:
    """Hash buckets of every byte 3-, 4- and 5-gram (FNV-1a style, vectorised; uint32 wraps by design)."""
    data = np.frombuffer(padded.encode("utf-8"), dtype=np.uint8).astype(np.uint32)
    parts: list[np.ndarray] = []
    for size in (3, 4, 5):
        n = len(data) - size + 1
        if n <= 0:
            continue
        h = np.full(n, 2166136261 ^ size, dtype=np.uint32)
        for j in range(size):
            h = (h ^ data[j : j + n]) * _FNV_PRIME
        parts.append((h ^ (h >> np.uint32(16))) & np.uint32(_MASK))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)


def _norm_number(raw: str) -> str:
    return raw.strip("£$€%").replace(",", "")


def numbers_in(text: str) -> set[str]:
    """The numbers in a text, normalised (no currency signs, percent signs or thousands separators)."""
    return {_norm_number(m.group(0)) for m in _NUM.finditer(text)}


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets of the runs of equal values in a sorted array, and the run values."""
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    return starts, sorted_keys[starts]


def _normalised_counts(buckets: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique buckets and their counts, scaled to L2 norm `weight` (`np.unique` without its overhead)."""
    if buckets.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ordered = np.sort(buckets.astype(np.int64))
    starts, idx = _runs(ordered)
    vals = np.diff(np.append(starts, ordered.size)).astype(np.float64)
    return idx, vals * (weight / math.sqrt(float(vals @ vals)))


def _word_buckets(words: list[str]) -> np.ndarray:
    """`_bucket` of every word 1-gram ("w:") and 2-gram ("b:"), inlined (this runs per token)."""
    crc = zlib.crc32
    tokens = ["w:" + w for w in words] + ["b:" + a + " " + b for a, b in itertools.pairwise(words)]
    return np.array([crc(t.encode("utf-8")) & _MASK for t in tokens], dtype=np.int64)


def _hashed(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word 1-2-grams and character 3-5-grams, each family L2-normalised; duplicate buckets summed."""
    words = _WORD.findall(text.lower())
    w_idx, w_val = _normalised_counts(_word_buckets(words), 1.0)
    c_idx, c_val = _normalised_counts(_char_buckets(" " + " ".join(words) + " "), 0.7)
    idx = np.concatenate([w_idx, c_idx])
    vals = np.concatenate([w_val, c_val])
    if idx.size == 0:
        return idx, vals
    order = np.argsort(idx, kind="stable")  # a bucket in both families: word value first, then char
    starts, uniq = _runs(idx[order])
    return uniq, np.add.reduceat(vals[order], starts)


def _last_customer(context: Sequence[tuple[str, str]]) -> str:
    for role, text in reversed(context):
        if role == "customer":
            return text
    return ""


def extract(
    turn: str, context: Sequence[tuple[str, str]] = (), scenario: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse features of one trainee turn: column index → value.

    Args:
        turn: The (already sanitised and payload-stripped) trainee turn.
        context: Earlier utterances as `(role, text)`, oldest first; only the last caller line is used.
        scenario: The scenario's facts, if known (prices and numbers in it count as supported).

    Returns:
        `(indices, values)`: unique column indices (`0 <= i < N_FEATURES`) and their values; absent
        columns are zero.
    """
    h_idx, h_val = _hashed(turn)
    dense = cue_values(turn)
    dense["bias"] = 1.0
    sentences = [s.strip() for s in _SENT_SPLIT.split(turn) if s.strip()]
    questions = [s for s in sentences if s.endswith("?")]
    if questions:
        dense["q_any"] = 1.0
        dense["q_open"] = min(sum(1 for q in questions if _OPEN_Q.search(q)), 2) / 2.0
        dense["q_closed"] = min(sum(1 for q in questions if _CLOSED_Q.search(q)), 2) / 2.0
        if sentences[-1].endswith("?"):
            dense["q_ends_turn"] = 1.0
    caller = _last_customer(context)
    asked = bool(caller) and bool(_ASK_CUE.search(caller))
    nums = numbers_in(turn)
    has_data = "data" in dense or bool(nums)
    if asked:
        dense["caller_asked"] = 1.0
        if has_data:
            dense["data_and_caller_asked"] = 1.0
    else:
        if "data" in dense:
            dense["data_not_asked"] = 1.0
        if nums:
            dense["numbers_not_asked"] = 1.0
    if nums:
        dense["numbers"] = min(len(nums), 3) / 3.0
        if "%" in turn:
            dense["percent"] = 1.0
        money = {_norm_number(m.group(0)) for m in _NUM.finditer(turn) if m.group(0)[0] in "£$€"}
        if money:
            dense["money"] = 1.0
        if scenario:
            known = numbers_in(scenario)
            if nums & known:
                dense["num_in_scenario"] = 1.0
            if nums - known:
                dense["num_not_in_scenario"] = 1.0
            if money - known:
                dense["money_not_in_scenario"] = 1.0
    if ("generic_ack" in dense or "validation" in dense) and "contrast" in dense:
        dense["ack_but"] = 1.0
    dense.update(decision_values(turn, context, scenario))
    if "!" in turn:
        dense["exclaim"] = 1.0
    n_words = len(turn.split())
    dense["log_words"] = math.log1p(n_words) / 5.0
    if n_words <= 4:
        dense["short_turn"] = 1.0
    if n_words >= 40:
        dense["long_turn"] = 1.0
    d_idx = np.array([_DENSE_INDEX[name] for name in dense], dtype=np.int64)
    d_val = np.array(list(dense.values()), dtype=np.float64)
    return np.concatenate([h_idx, d_idx]), np.concatenate([h_val, d_val])


def extract_light(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A cheap subset of `extract` (word n-grams and named cues only) to rank evidence spans."""
    w_idx, w_val = _normalised_counts(_word_buckets(_WORD.findall(text.lower())), 1.0)
    dense = cue_values(text)
    d_idx = np.array([_DENSE_INDEX[name] for name in dense], dtype=np.int64)
    d_val = np.array(list(dense.values()), dtype=np.float64)
    return np.concatenate([w_idx, d_idx]), np.concatenate([w_val, d_val])


_RATE_CUES = frozenset({"second_person", "first_person", "we_company", "negation"})
_MIN_TRIGGER_CHARS: Final = 3


def _required_literals(items: Sequence[tuple[Any, Any]]) -> set[str] | None:
    """Strings one of which every match of a parsed regex sequence contains, or None if none is known.

    Conservative by construction: only runs of literal characters, groups, alternations whose every
    branch has such strings, and items repeated at least once count; anything else is skipped.
    """
    c = importlib.import_module("re._constants")  # private, but stable since Python 3.11
    best: set[str] | None = None

    def consider(found: set[str] | None) -> None:
        nonlocal best
        if found is not None and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            consider({"".join(run)})
            run = []
        if op is c.SUBPATTERN:
            consider(_required_literals(av[3]))
        elif op is c.BRANCH:
            branches = [_required_literals(b) for b in av[1]]
            known = [b for b in branches if b is not None]
            if len(known) == len(branches):
                consider(set().union(*known))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            consider(_required_literals(av[2]))
    return best


def _cue_triggers(regex: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings of which a text must contain one for `regex` to match it (None: always run it).

    A cheap prefilter: most cues match few turns, and `in` on a string is far cheaper than a regex
    scan. It never changes a count, because a text without any trigger cannot match.
    """
    if regex.flags & re.IGNORECASE:
        return None
    try:
        parser = importlib.import_module("re._parser")
        found = _required_literals(list(parser.parse(regex.pattern, regex.flags)))
    except Exception:  # a private parser that moved: run every regex, as before
        return None
    if found is None or min(map(len, found)) < _MIN_TRIGGER_CHARS:
        return None
    return tuple(sorted(found))


_CUE_PLAN: Final[tuple[tuple[str, re.Pattern[str], tuple[str, ...] | None, int], ...]] = tuple(
    (name, regex, _cue_triggers(regex), 6 if name in _RATE_CUES else 3) for name, regex in CUES
)


def cue_values(text: str) -> dict[str, float]:
    """The named linguistic cues found in `text`, scaled to (0, 1]; cues not found are absent."""
    low = text.lower()
    dense: dict[str, float] = {}
    for name, regex, triggers, cap in _CUE_PLAN:
        if triggers is not None and not any(t in low for t in triggers):
            continue
        count = len(regex.findall(low))
        if count:
            dense[name] = min(count, cap) / cap
    return dense


def _cue_values_unfiltered(text: str) -> dict[str, float]:
    """`cue_values` without the trigger prefilter (tests check that both always agree)."""
    low = text.lower()
    dense: dict[str, float] = {}
    for name, regex, _, cap in _CUE_PLAN:
        count = len(regex.findall(low))
        if count:
            dense[name] = min(count, cap) / cap
    return dense


def sentences_with_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences and clauses of `text`, used to pick evidence quotes.

    Returns whole sentences first, then their clauses (split at commas, semicolons, dashes and colons),
    each span trimmed of surrounding whitespace, so `text[start:end]` is always an exact substring.
    """
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^.!?\n]+[.!?]*", text):
        start, end = m.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= 3:
            spans.append((start, end))
    clauses: list[tuple[int, int]] = []
    for start, end in spans:
        piece = text[start:end]
        cuts = [0, *(m.end() for m in re.finditer(r"[,;:]\s+|\s+[-–—]\s+", piece)), len(piece)]
        if len(cuts) <= 2:
            continue
        for a, b in itertools.pairwise(cuts):
            s, e = start + a, start + b
            while s < e and (text[s].isspace() or text[s] in ",;:-–—"):
                s += 1
            while e > s and (text[e - 1].isspace() or text[e - 1] in ",;:-–—"):
                e -= 1
            if e - s >= 12:
                clauses.append((s, e))
    return spans + clauses
