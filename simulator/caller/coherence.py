"""Does a caller reply do what its plan says? Deterministic checks beside the in-character guard.

The guard (`simulator.caller.guard`) keeps a reply in character; this keeps it *coherent*. For a reply
and its `ReplyPlan` it reports every failure:

- `act`: the reply does not do the planned act (an answer that doesn't carry the fact, a refusal
  without a no, a "don't know" that claims to know...), judged by the act's wording;
- `fact`: when answering, the planned fact's numbers and most of its key words are missing;
- `offers_remedy`: the caller offers a fix itself ("I can have it delivered tomorrow"): only the
  agent offers;
- `unheld_quantity`: a number or date the persona does not hold and the agent has not said ("Four",
  when he paid £349);
- `agent_voice`: it speaks as the company ("our records show", "sir") or about the customer in the
  third person;
- `repeated`: the caller already said exactly this in the call;
- `not_speech`: parentheses, brackets or stage-direction words (the prompt leaking), or a second line;
- `empty`: nothing to say.

These are word-level heuristics: they catch a reply that misses its plan outright; a reply can pass
them and still be odd (an invented detail, a contradiction of a fact in other words).

`check_prefix` runs the checks that already apply to the first clauses of a streamed reply, so they can
be shown before the reply is finished; the act, the fact and repeats need the whole reply.

The same checks judge the persona's own lines (lint runs them on every authored line), the model's
replies live, and the coherence suite's replies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from simulator.caller.plan import PlanCheckFailure, ReplyPlan
from simulator.caller.words import quantities, stem, stems
from simulator.persona.schema import MOODS, Act, Persona

_I = re.IGNORECASE

_DONT_KNOW = re.compile(
    r"\b(do not|don'?t|didn'?t|did not) (even )?know\b|\bno idea\b|\bnot sure\b|\bhow (would|should|could|am|do) i "
    r"(\w+ )?know\b|\bha(ve|s)n'?t (got )?a clue\b|\bno clue\b|\bnot a clue\b|"
    r"\b(can'?t|couldn'?t|cannot) (say|tell you)\b|"
    r"\b(nobody|no one|no-one) (has |ever )?(told|tells|said)\b|\bnever (been )?told\b|\bhaven'?t been told\b|"
    r"\bdon'?t have (it|that|them|those|any|the)\b|\bbeats me\b|\byou tell me\b|\bthat'?s (your|what i'?m)\b|"
    r"\bno way of knowing\b|\bwouldn'?t know\b|\bdon'?t remember\b|\bcan'?t remember\b",
    _I,
)
_PUSH_BACK = re.compile(
    r"\b(no|nope|not|never|wrong|nonsense|rubbish|rot|don'?t care|doesn'?t matter|couldn'?t care|"
    r"isn'?t (true|right)|not (true|right)|liar|lie|lies|so what|whatever|nobody|nothing)\b|\bi was\b|"
    r"\bi know what\b|"
    r"\b(don'?t|do not) (you )?(tell|read|quote|give|lecture)\b|"
    r"\byour (system|records?|screen|data|computer|scanner|tracking|policy|terms|figures|numbers|stats?|statistics)\b|"
    r"\bare you (calling|saying|telling)\b",
    _I,
)
_DEMANDING = re.compile(
    r"\bi (?:(?:just|still|really|only|simply|do) ){0,2}(want|need|expect|'d like|would like|am asking|'m asking)\b|"
    r"\bi(?:'d| would) (?:(?:just|still|really|only) )?like (?:my|the|a|an|it|this|that|someone|to (?:have|get|"
    r"cancel|close|keep|speak))\b|\bwhat (are|will|can) you (actually |really )?"
    r"(doing|do|going to do) about\b|\bgive me\b|"
    r"\b(sort|fix) (it|this|that)\b|\bwhat (are you|will you|can you|do you) (actually |really |even )?"
    r"(going to |gonna )?do\b|\bget me\b|"
    r"\bi'?m (still )?(waiting|not (leaving|going anywhere|hanging up))\b|\bwhen (will|do|can) i\b|\bwhere is my\b",
    _I,
)
_ACKNOWLEDGE = re.compile(
    r"\b(okay|ok|right|fine|alright|all right|thank(s| you)?|fair|appreciate|at least|i hear|i see|that helps|"
    r"yes|yeah|listening|go on|glad|finally|true|good point|that'?s (good|kind|nice|something))\b",
    _I,
)
_ACCEPT = re.compile(
    r"\b(yes|yeah|okay|ok|alright|all right|fine|deal|that works|(that|it) (would|could|might|will) (work|help|do|"
    r"sort|be)|sounds (good|fair|right|better)|i'?ll take (it|that)|go on then|(that'?s|that is) (acceptable|fair|"
    r"good|better|something|more like it)|could work|would work|thank|agreed|i can live with|works for me)\b",
    _I,
)
_REFUSE = re.compile(
    r"\b(no|nope|not|won'?t|don'?t want|never|forget it|that'?s not|i'?m not|rather not|no thanks|"
    r"no thank you|not interested|not having|not taking|not good enough|don'?t need)\b",
    _I,
)
_COUNTER = re.compile(
    r"\b(but|if|only if|as long as|unless|what about|instead|rather|guarantee\w*|in writing|promise|confirm\w*|"
    r"make sure|not enough|still|how (fast|soon|quickly)|when exactly|by when|and the|plus|maybe|perhaps|"
    r"i'?d need|first)\b",
    _I,
)
_ESCALATE = re.compile(
    r"\b(manager|supervisor|someone (else|senior|in charge|who can)|complaints?|escalate|your boss|higher up|"
    r"in writing|put me through|head office)\b",
    _I,
)
_HANG_UP = re.compile(
    r"\b(bye|goodbye|good day|i'?m done|done with|forget it|hang(ing)? up|elsewhere|somewhere else|"
    r"chargeback|finished here|we are finished|we'?re finished|i'?ll go|another provider|"
    r"had enough|enough of this|not doing this|can'?t do this|leave it)\b",
    _I,
)
_CLOSE = re.compile(
    r"\b(thank|thanks|cheers|bye|goodbye|great|appreciate|(?<!big )deal|done|sorted|fine|okay|very well|"
    r"i'?ll hold you to it|perfect|lovely)\b",
    _I,
)
_END_UNRESOLVED = re.compile(
    r"\b(have to go|got to go|gotta go|need to go|must go|still not|not sorted|no time|out of time|running late|"
    r"pick up|later|can'?t stay|can'?t wait|leave it there|call back|ring back)\b",
    _I,
)

_CONCEDES = re.compile(
    r"\byou'?re (right|correct)\b|(?<!isn't )(?<!not )\bmy (mistake|fault|bad)\b|\bi was wrong\b|\bfair enough\b", _I
)
_NOT_SPEECH = re.compile(r"[()\[\]{}]|\*\w|\b(stage direction|in your own (voice|words))\b", _I)
"""Parentheses, brackets or stage-direction words: the prompt's directions leaking, not speech on a call."""

_ACT_WORDS: dict[Act, re.Pattern[str]] = {
    "dont_know": _DONT_KNOW,
    "push_back": _PUSH_BACK,
    "acknowledge": _ACKNOWLEDGE,
    "accept_offer": _ACCEPT,
    "reject_offer": _REFUSE,
    "counter_offer": _COUNTER,
    "escalate": _ESCALATE,
    "hang_up": _HANG_UP,
    "close": _CLOSE,
    "end_unresolved": _END_UNRESOLVED,
}
_ACT_TEXT: dict[Act, str] = {
    "answer": "does not carry the planned fact",
    "dont_know": "does not say they don't know",
    "push_back": "does not push back on the agent's records",
    "restate_demand": "does not come back to what they want",
    "acknowledge": "does not acknowledge the agent",
    "accept_offer": "does not accept the offer",
    "reject_offer": "does not refuse the offer",
    "counter_offer": "does not say what it would take",
    "escalate": "does not ask for a manager",
    "hang_up": "does not end the call",
    "close": "does not close the call",
    "end_unresolved": "does not say they have to go",
}

_OFFERS_REMEDY = re.compile(
    r"\b(i|we)(?:'ll| will| can| could| would| shall|'d| am going to| are going to| 'm going to) "
    r"(?:(?:also|just|definitely|certainly|happily|gladly|then) )?"
    r"(offer|refund|reimburse|credit|arrange|deliver|dispatch|ship|upgrade|waive|replace|backdate|price[- ]match|"
    r"compensate|issue you|book you|get you|send you (a|an|another|the|your|out)\b(?! (bill|invoice|letter|complaint))|"
    r"send (a|an|another) (replacement|new|"
    r"engineer|courier|refund|voucher)|have (it|one|that|them|the \w+) (delivered|sent|sent out|with you|to you|"
    r"there|ready|fixed|repaired|by)|get (it|one|that|them) (delivered|sent|to you|there|out|fixed)|"
    r"sort (it|that|this) (out )?for you|fix (it|that|this) for you|cancel (it|that|this) for you)\b"
    r"|\blet me (offer|arrange|refund|book|send you|credit|waive|upgrade)\b|\bi can give you\b",
    _I,
)
_AGENT_VOICE = re.compile(
    r"\bour (records?|system|systems|policy|policies|team|store|warehouse|engineers?|couriers?|company|customers?|"
    r"terms|database|staff|agents?|department)\b|\b(sir|madam|ma'?am)\b|\bthe customer\b|\bdear customer\b|"
    r"\bon my (screen|system|end)\b|\bi can see (on|from|in) (the|my|our) (system|account|records?|screen)\b|"
    r"\bsorry to hear\b|\bi'?d be (happy|glad|pleased) to\b|\bhappy to help\b",
    _I,
)
_SPACE = re.compile(r"\s+")


def canonical_line(text: str) -> str:
    """A line folded for repeat detection (case, quotes, spacing and end punctuation ignored)."""
    text = text.casefold().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return _SPACE.sub(" ", re.sub(r"[^\w'£$€%:. -]", " ", text)).strip(" .")


@dataclass(frozen=True)
class Holdings:
    """What the persona may say: its quantities (numbers and dates) and its demand words.

    Build once per persona with `holdings_of`; `with_said` adds what the agent said on the call.
    """

    quantities: frozenset[str]
    demand_words: frozenset[str]
    """Content words of the demands and real needs (a restatement uses two of them, or asks outright)."""
    demands: tuple[frozenset[str], ...] = ()
    """Each demand's content words (a restatement may also say all of one demand's words)."""
    third_person: frozenset[str] = field(default_factory=frozenset)
    """Openings of the persona's third-person facts, stemmed ("he pay"): a reply using one ("he pays",
    "he paid") talks about the caller instead of as the caller."""

    def with_said(self, agent_said: Iterable[str]) -> Holdings:
        """These holdings plus every quantity the agent has said (the caller may repeat them)."""
        extra: set[str] = set()
        for text in agent_said:
            extra |= quantities(text)
        return Holdings(self.quantities | extra, self.demand_words, self.demands, self.third_person)


def persona_texts(persona: Persona) -> list[str]:
    """What the caller holds: the caller-visible parts of the persona. Its own `lines` are not counted,
    so lint can hold them to the same numbers and dates as the model."""
    who, scenario = persona.identity, persona.scenario
    texts = [
        who.situation,
        *persona.opening_lines,
        *(line for mood in MOODS for line in persona.example_lines.for_mood(mood)),
        *(line for line in persona.closing_lines.model_dump().values() if line),
        *(f.text for f in scenario.knows),
        *(f.say for f in scenario.knows if f.say),
        *scenario.does_not_know,
        *scenario.demands,
        *scenario.real_needs,
        *(r.description for r in scenario.will_not_accept),
        *(r.say for r in scenario.will_not_accept if r.say),
    ]
    return texts


def holdings_of(persona: Persona) -> Holdings:
    """The quantities and demand words of a persona (see `Holdings`)."""
    found: set[str] = set()
    for text in persona_texts(persona):
        found |= quantities(text)
    demand = stems(" ".join([*persona.scenario.demands, *persona.scenario.real_needs]))
    third: set[str] = set()
    for fact in persona.scenario.knows:
        words = re.findall(r"[a-z']+", fact.text.lower())
        if len(words) >= 2 and words[0] in ("he", "she", "his", "her"):
            third.add(f"{words[0]} {stem(words[1])}")
    each = tuple(stems(d) for d in persona.scenario.demands)
    return Holdings(frozenset(found), frozenset(demand), each, frozenset(third))


def _numeric(found: set[str]) -> set[str]:
    return {q for q in found if q[:1].isdigit()}


def fact_missing(plan: ReplyPlan, text: str) -> str | None:
    """What of the planned fact an answer lacks (None when it carries the fact): every number in it,
    and enough of its key words (days and dates count as key words)."""
    source = f"{plan.fact_text or ''} {plan.fact_say or ''}"
    numbers = _numeric(quantities(plan.fact_say or plan.fact_text or "")) or _numeric(quantities(source))
    said = quantities(text)
    lost = sorted(n for n in numbers if n not in said)
    if lost:
        return "missing " + ", ".join(lost)
    words = stems(plan.fact_say or plan.fact_text or "") - set(numbers)
    if not words:
        return None
    got = words & (stems(text) | {w for w in stems(source) if w in said})
    need = min(2, len(words)) if len(words) <= 4 else max(2, (len(words) + 2) // 3)
    if len(got) < need:
        return f"has {len(got)} of the fact's key words (needs {need}: {', '.join(sorted(words)[:6])})"
    return None


def _demands(text: str, holdings: Holdings) -> bool:
    """Whether `text` comes back to what the caller wants: it asks outright, says all of one demand's
    words, or two words of the demands and real needs."""
    words = stems(text)
    if _DEMANDING.search(text) or len(words & holdings.demand_words) >= 2:
        return True
    return any(demand and demand <= words for demand in holdings.demands)


def does_act(plan: ReplyPlan, text: str, holdings: Holdings) -> str | None:
    """Why `text` does not do the planned act (None when it does)."""
    act = plan.act
    if act == "answer":
        missing = fact_missing(plan, text)
        return f"{_ACT_TEXT[act]}: {missing}" if missing else None
    if act in ("push_back", "restate_demand", "reject_offer", "counter_offer") and _CONCEDES.search(text):
        return "concedes instead of holding their ground"
    if act == "restate_demand":
        return None if _demands(text, holdings) else _ACT_TEXT[act]
    if act == "dont_know" and re.search(r"\bi (do )?know\b(?! what)", text, _I) and not _DONT_KNOW.search(text):
        return _ACT_TEXT[act]
    if act == "accept_offer" and re.search(r"^\W*(no|nope)\b|\b(won'?t|not interested|never)\b", text, _I):
        return "refuses instead of accepting"
    if act == "reject_offer" and re.search(r"\b(that works|deal|sounds good|i'?ll take it)\b", text, _I):
        return "accepts instead of refusing"
    if act == "counter_offer" and _demands(text, holdings):
        return None
    return None if _ACT_WORDS[act].search(text) else _ACT_TEXT[act]


_FIRST_PERSON = re.compile(r"\b(i|my|i'?ve|i'?m|i'?d)\s+([a-z']+)", _I)
_SECOND = {"i": "you", "my": "your", "i've": "you've", "ive": "you've", "i'm": "you're", "im": "you're", "i'd": "you'd"}


def _turned_to_you(plan: ReplyPlan, text: str) -> str | None:
    """The caller's own fact said as the agent's ("you pay £349" for "I paid £349"), if it is."""
    if not plan.fact_say:
        return None
    said = _FIRST_PERSON.finditer(plan.fact_say.replace("’", "'"))
    mine = {(_SECOND[m.group(1).lower()], stem(m.group(2))) for m in said if m.group(1).lower() in _SECOND}
    for found in re.finditer(r"\b(you|your|you've|you're|you'd)\s+([a-z']+)", text.replace("’", "'"), _I):
        if (found.group(1).lower(), stem(found.group(2))) in mine:
            return found.group(0)
    return None


def check_reply(
    plan: ReplyPlan,
    text: str,
    holdings: Holdings,
    *,
    earlier: Sequence[str] = (),
    agent_said: Sequence[str] = (),
) -> list[PlanCheckFailure]:
    """Every way `text` misses `plan` (empty when it passes).

    Args:
        plan: The reply's plan.
        text: The reply.
        holdings: The persona's `holdings_of`.
        earlier: The caller's earlier lines in this call (for `repeated`).
        agent_said: The agent's turns so far (their numbers and dates may be repeated).
    """
    failures: list[PlanCheckFailure] = []
    if not re.search(r"[^\W_]", text):
        return [PlanCheckFailure(kind="empty", detail="no words")]
    leaked = _NOT_SPEECH.search(text) or re.search(r"\S\s*\n\s*\S", text)
    if leaked:
        failures.append(PlanCheckFailure(kind="not_speech", detail=f"not speech on a call: {leaked.group(0)!r}"))
    wrong = does_act(plan, text, holdings)
    if wrong is not None:
        kind = "fact" if plan.act == "answer" else "act"
        failures.append(PlanCheckFailure(kind=kind, detail=f"{plan.act}: {wrong}"))
    offer = _OFFERS_REMEDY.search(text)
    if offer:
        failures.append(PlanCheckFailure(kind="offers_remedy", detail=f"offers a fix itself: {offer.group(0)!r}"))
    held = holdings.with_said(agent_said).quantities if agent_said else holdings.quantities
    unheld = sorted(q for q in quantities(text) if q not in held)
    if unheld:
        detail = "says " + ", ".join(unheld) + ", which the persona does not hold"
        failures.append(PlanCheckFailure(kind="unheld_quantity", detail=detail))
    voice = _AGENT_VOICE.search(text)
    turned = _turned_to_you(plan, text)
    if voice:
        detail = f"speaks as the company: {voice.group(0).strip()!r}"
        failures.append(PlanCheckFailure(kind="agent_voice", detail=detail))
    elif turned:
        detail = f"says the caller's own fact as the agent's: {turned!r}"
        failures.append(PlanCheckFailure(kind="agent_voice", detail=detail))
    else:
        words = re.findall(r"[a-z']+", text.lower())
        pairs = {f"{a} {stem(b)}" for a, b in pairwise(words)}
        third = sorted(holdings.third_person & pairs)
        if third:
            detail = f"talks about the caller in the third person: {third[0]!r}"
            failures.append(PlanCheckFailure(kind="agent_voice", detail=detail))
    if repeats_earlier(text, earlier, whole_line_only=plan.act in RESTATING_ACTS):
        failures.append(PlanCheckFailure(kind="repeated", detail="already said in this call"))
    return failures


REPEAT_MIN_WORDS = 3
"""Sentences shorter than this ("No.", "Right then.") do not count when deciding a reply says nothing new."""
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUOTE = re.compile(r"(?<!\w)'|'(?!\w)")


def _fold(text: str) -> str:
    """`canonical_line` without quote marks (an apostrophe inside a word stays)."""
    return _SPACE.sub(" ", _QUOTE.sub("", canonical_line(text))).strip()


RESTATING_ACTS: frozenset[str] = frozenset({"answer", "restate_demand"})
"""Acts that may say again what the caller said before (a fact when asked, the demand); only the very same
line counts as a repeat for them."""


def repeats_earlier(text: str, earlier: Sequence[str], *, whole_line_only: bool = False) -> bool:
    """True when the reply says nothing new: the whole line, or every sentence of it of
    `REPEAT_MIN_WORDS`+ words, was already said in the call.

    Catches a shortened repeat (the opening line's sentence said again as a reply) while a reply that
    quotes a fact it said before and adds something ("... Write that down.") is not a repeat.
    """
    canon = _fold(text)
    if not canon:
        return False
    said = [_fold(line) for line in earlier]
    if canon in said:
        return True
    if whole_line_only:
        return False
    mine = [s for s in (_fold(part) for part in _SENTENCE_END.split(text)) if len(s.split()) >= REPEAT_MIN_WORDS]
    return bool(mine) and all(any(sentence in other for other in said) for sentence in mine)


WHOLE_REPLY_KINDS: frozenset[str] = frozenset({"act", "fact", "repeated", "empty"})
"""Checks only a finished reply can pass: the act and the fact may come in a later clause, a line is a
repeat only as a whole, and a first clause may be all punctuation before the words come."""


def check_prefix(
    plan: ReplyPlan, text: str, holdings: Holdings, *, agent_said: Sequence[str] = ()
) -> list[PlanCheckFailure]:
    """The checks a reply's first clauses must already pass before they are shown (a streamed reply).

    Every check of `check_reply` except those in `WHOLE_REPLY_KINDS`: speech on a call, no remedy
    offered, no number or date the persona does not hold, the customer's voice. They are searches, so a
    prefix that fails one makes the whole reply fail it too: the stream stops there, and what was shown
    before passed them. The whole reply still gets `check_reply`.
    """
    return [
        f for f in check_reply(plan, text, holdings, agent_said=agent_said) if f.kind not in WHOLE_REPLY_KINDS
    ]
