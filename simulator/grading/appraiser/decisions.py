"""Decision features: the rubric's criteria as signals about the move a turn makes, not its words.

Where `features.CUES` says which words a turn contains, these ask what the turn does with them:

* **where the weight falls**: a turn is split into clauses at sentence ends and contrast pivots ("but",
  "however", "unfortunately"...); what comes after the last pivot is what the caller hears. Empathy
  words followed by records, refusals or policy are a wall with a friendly face;
* **who the turn is about**: the caller's situation and feelings, or our records, systems and rules;
* **whether a question serves the caller or shifts blame** ("did you check...", "were you not told...");
* **procedure used to cut the caller off** ("I don't need the background, just the reference");
* **consent**: an action taken on the caller's behalf, and whether a real opt-out is stated;
* **whether a gift is conditional** ("so I'd expect...", "as long as you...") or freely given;
* **loss framing**: absolutes and countdowns that inflate a loss, against a plain, calm deadline;
* **claims against the scenario**: money, percentages and dates the scenario does not hold.

Every value is a named column (`DECISION_NAMES`), so the trained weights stay readable. Pure and
deterministic; no model and no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_PIVOT = _rx(r"\b(?:but|however|although|though|unfortunately|that said|sadly|regrettably|only thing is|still,)\b")
_CLAUSE_END = re.compile(r"(?<=[.!?;])\s+|\n+")

_EMPATHY = _rx(
    r"\b(?:i (?:really |totally |completely |do )?(?:hear|understand|get|appreciate|see)\b|i hear you|"
    r"i'?m (?:so |really |very |truly )?sorry|apologi[sz]e|i know (?:how|it'?s|that)|totally get|"
    r"that must|i can imagine|completely understand|fair enough|i feel for you|i know,)"
)
_RECORDS = _rx(
    r"\b(?:system|records?|tracking|log|logs|our (?:data|notes|file)|it shows|shows (?:that|it|you|the)|"
    r"according to|on file|signed for|confirmed (?:as|that)|photo|screenshot|timestamp|the data)\b"
)
_POLICY = _rx(
    r"\b(?:policy|policies|terms(?: and conditions)?|t&cs?|clause|contract (?:says|states)|you agreed|"
    r"as per|in line with|procedure|our rules|rules are|not (?:allowed|permitted)|we don'?t (?:do|offer|allow))\b"
)
_REFUSAL = _rx(
    r"(?:nothing (?:more|else|further)? ?(?:i|we) can do|there'?s nothing|can'?t (?:do|help|change|offer|refund)|"
    r"cannot (?:do|help|change|offer|refund)|not (?:possible|able to)|unable to|no way (?:to|i|we)|"
    r"won'?t be (?:able|possible)|out of (?:my|our) hands|(?:isn'?t|is not) (?:something|possible))"
)
_CALLER_EXPERIENCE = _rx(
    r"\byou(?:'ve| have| had| were| took| spent| waited| planned| lost| paid| needed| wanted| must| feel| felt)\b"
    r"|\byour (?:day|time|evening|weekend|money|plans?|family|kids?|wife|husband|mum|mother|dad|job|work|"
    r"health|holiday|trip|wedding|baby|deadline|client)\b"
)
_BLAME_Q = _rx(
    r"(?:^|[.!?]\s*|,\s*)(?:so,? )?(?:did|didn'?t|have|haven'?t|were|weren'?t|had|hadn'?t|could|couldn'?t|"
    r"are|aren'?t|why didn'?t|why did|why haven'?t)\s+you\s+(?:not\s+)?(?:even\s+|actually\s+|definitely\s+|"
    r"already\s+|first\s+)?(?:check|read|try|tried|look|looked|see|notice|get|receive|give|put|enter|"
    r"follow|call|ring|contact|confirm|make sure|register|update|tell|inform|sign|save|keep|lock|turn|"
    r"plug|restart|reset|pay|set|told|informed|aware|sure)"
)
_PROCEDURE_CUT = _rx(
    r"(?:i don'?t need (?:the|all|your|a|to hear)|no need (?:for|to go into) (?:the|all)|"
    r"let'?s (?:skip|move on|just get)|(?:can|could) (?:you|we) just (?:give|get|confirm)|"
    r"just (?:the|your) (?:reference|postcode|number|account|order|details|name|date)|"
    r"stick to the (?:facts|point)|(?:okay|ok|right|anyway)[,.]? (?:postcode|reference|account number|name)\??)"
)
_ACTION_DONE = _rx(
    r"\b(?:i'?ve|i have|we'?ve|we have|i'?ll|i will|i went ahead and|we went ahead and|i already|we already)\s+"
    r"(?:just\s+|also\s+|gone ahead and\s+|automatically\s+)?(?:added|add|signed you|sign you|switched|switch|"
    r"upgraded|upgrade|enrolled|enrol|put you|booked you|renewed|renew|set (?:you|it|the|your)|included|"
    r"include|moved you|move you|opted you|subscribed|subscribe|applied|apply|changed|change)"
)
_OPT_OUT = _rx(
    r"(?:if you(?:'d)? (?:prefer|rather|want|don'?t want|would rather)|tell me if|let me know if|"
    r"or (?:would you|you could|you can|if you)|you can (?:change|cancel|opt out|switch|remove|undo|say no)|"
    r"up to you|your (?:choice|call|decision)|happy to (?:change|undo|remove|cancel|switch)|"
    r"(?:just|simply) say (?:no|so)|no obligation|you don'?t have to|entirely optional|optional)"
)
_GIFT = _rx(
    r"\b(?:waive[ds]?|waiving|credit(?:ed)?|voucher|refund(?:ed)?|free(?: of charge)?|discount|"
    r"goodwill|gesture|complimentary|on us|compensation|gift|bonus)\b"
)
_CONDITION = _rx(
    r"(?:so i'?d (?:expect|ask|need|hope)|so (?:i|we) (?:would|will) (?:expect|ask|need)|in return|in exchange|"
    r"as long as|provided (?:that )?you|on (?:the )?condition|the least you|if you (?:drop|withdraw|close|"
    r"agree|sign|stay|accept|don'?t|leave|remove|cancel the complaint|give us|rate)|only if|"
    r"once you (?:agree|sign|accept|close|withdraw|confirm you'?ll))"
)
_UNCONDITIONAL = _rx(
    r"(?:whatever you decide|no strings|either way|regardless|it'?s yours|yours to keep|"
    r"doesn'?t change|does not change|nothing (?:you need|to sign)|no matter what|whether or not)"
)
_ABSOLUTE_LOSS = _rx(
    r"(?:forever|permanently|never (?:be able|get|see|again)|can never|gone for good|lose (?:everything|all)|"
    r"wiped|all (?:your|of your) [a-z]+ (?:will be|are) (?:lost|gone|deleted)|irreversibl|no going back)"
)
_COUNTDOWN = _rx(
    r"(?:today only|only today|right now|this minute|before (?:we|you) hang up|end of (?:the |this )?call|"
    r"in the next (?:\d+|few|ten|five|two)|expires? (?:today|tonight|at midnight|in \d+)|last chance|"
    r"won'?t be (?:available|here) (?:tomorrow|later)|now or never|decide now|lock (?:it|this) in (?:now|today))"
)
_CALM_TIME = _rx(
    r"(?:no rush|take your time|no hurry|whenever (?:suits|you'?re ready|works)|"
    r"you (?:have|'ve got) (?:until|till|a (?:year|month|week)|\d+ (?:days|weeks|months))|"
    r"there'?s (?:no|plenty of) (?:rush|time)|when it suits you|have a think)"
)
_DATE = _rx(
    r"\b(?:\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{1,2}(?:st|nd|rd|th)?|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|midnight)\b"
)
_ANCHOR_CLAIM = _rx(
    r"\b(?:normally|usually|typically|worth|retails? (?:at|for)|rrp|was £|was \$|saving you|value of)\b"
)
# Kept apart from `claims._MONEY` on purpose: this one defines trained feature columns (d_money_*), so
# changing what it matches changes the shipped weights' inputs; claims.py parses values (word numbers, "2k").
_MONEY = re.compile(
    r"[£$€]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:pounds|dollars|euros|quid|p\b)|\d+(?:\.\d+)?%"
)
_QUESTION_OPEN = _rx(r"\b(?:what|how|tell me|talk me through|walk me through|which part|why do you)\b")

DECISION_NAMES: Final[tuple[str, ...]] = (
    "d_pivot",
    "d_empathy_then_records",
    "d_empathy_then_refusal",
    "d_empathy_then_policy",
    "d_after_pivot_records",
    "d_after_pivot_refusal",
    "d_after_pivot_policy",
    "d_after_pivot_empathy",
    "d_empathy_with_negative",
    "d_records",
    "d_policy_wall",
    "d_refusal",
    "d_about_caller",
    "d_about_company",
    "d_caller_focus_ratio",
    "d_blame_question",
    "d_open_question_about_caller",
    "d_procedure_cut",
    "d_action_taken",
    "d_action_with_opt_out",
    "d_action_without_opt_out",
    "d_opt_out",
    "d_gift",
    "d_gift_conditional",
    "d_gift_unconditional",
    "d_absolute_loss",
    "d_countdown",
    "d_calm_time",
    "d_loss_with_countdown",
    "d_money_not_in_scenario",
    "d_money_in_scenario",
    "d_date_not_in_scenario",
    "d_anchor_claim",
    "d_anchor_claim_unsupported",
)


def _clauses(turn: str) -> list[str]:
    """Sentences, each split again at contrast pivots (the pivot word starts the later clause)."""
    out: list[str] = []
    for sentence in _CLAUSE_END.split(turn):
        sentence = sentence.strip()
        if not sentence:
            continue
        last = 0
        for match in _PIVOT.finditer(sentence):
            if match.start() > last:
                out.append(sentence[last : match.start()])
            last = match.start()
        out.append(sentence[last:])
    return [c.strip() for c in out if c.strip()]


def _norm_money(raw: str) -> str:
    return re.sub(r"[^\d.%]", "", raw).rstrip(".").removesuffix(".00")


def decision_values(
    turn: str, context: Sequence[tuple[str, str]] = (), scenario: str | None = None
) -> dict[str, float]:
    """The decision features of one (payload-stripped) turn, as named values (absent = 0)."""
    out: dict[str, float] = {}
    clauses = _clauses(turn)
    pivot_at = next((i for i, c in enumerate(clauses) if _PIVOT.match(c)), None)
    if pivot_at is not None:
        out["d_pivot"] = 1.0
        before, after = " ".join(clauses[:pivot_at]), " ".join(clauses[pivot_at:])
    else:
        before, after = "", turn
    empathy_before = bool(_EMPATHY.search(before)) if before else False
    records, policy, refusal = _RECORDS.search(turn), _POLICY.search(turn), _REFUSAL.search(turn)
    if pivot_at is not None:
        if _RECORDS.search(after):
            out["d_after_pivot_records"] = 1.0
        if _REFUSAL.search(after):
            out["d_after_pivot_refusal"] = 1.0
        if _POLICY.search(after):
            out["d_after_pivot_policy"] = 1.0
        if _EMPATHY.search(after):
            out["d_after_pivot_empathy"] = 1.0
        if empathy_before:
            if _RECORDS.search(after):
                out["d_empathy_then_records"] = 1.0
            if _REFUSAL.search(after):
                out["d_empathy_then_refusal"] = 1.0
            if _POLICY.search(after):
                out["d_empathy_then_policy"] = 1.0
    blame_q = bool(_BLAME_Q.search(turn)) and "?" in turn
    cut = bool(_PROCEDURE_CUT.search(turn))
    if _EMPATHY.search(turn) and (records or refusal or policy or blame_q or cut):
        out["d_empathy_with_negative"] = 1.0
    if records:
        out["d_records"] = 1.0
    if policy and (refusal or _rx(r"\bso\b|\btherefore\b|\bwhich means\b").search(turn)):
        out["d_policy_wall"] = 1.0
    if refusal:
        out["d_refusal"] = 1.0
    about_caller = len(_CALLER_EXPERIENCE.findall(turn))
    about_company = len(_RECORDS.findall(turn)) + len(_POLICY.findall(turn))
    if about_caller:
        out["d_about_caller"] = min(about_caller, 3) / 3.0
    if about_company:
        out["d_about_company"] = min(about_company, 3) / 3.0
    if about_caller or about_company:
        out["d_caller_focus_ratio"] = about_caller / (about_caller + about_company)
    if blame_q:
        out["d_blame_question"] = 1.0
    questions = [c for c in re.split(r"(?<=[?])", turn) if c.strip().endswith("?")]
    if any(_QUESTION_OPEN.search(q) and _rx(r"\byou|\byour").search(q) and not _BLAME_Q.search(q) for q in questions):
        out["d_open_question_about_caller"] = 1.0
    if cut:
        out["d_procedure_cut"] = 1.0
    action, opt_out = bool(_ACTION_DONE.search(turn)), bool(_OPT_OUT.search(turn))
    if action:
        out["d_action_taken"] = 1.0
        out["d_action_with_opt_out" if opt_out else "d_action_without_opt_out"] = 1.0
    if opt_out:
        out["d_opt_out"] = 1.0
    if _GIFT.search(turn):
        out["d_gift"] = 1.0
        if _CONDITION.search(turn):
            out["d_gift_conditional"] = 1.0
        if _UNCONDITIONAL.search(turn):
            out["d_gift_unconditional"] = 1.0
    absolute, countdown = bool(_ABSOLUTE_LOSS.search(turn)), bool(_COUNTDOWN.search(turn))
    if absolute:
        out["d_absolute_loss"] = 1.0
    if countdown:
        out["d_countdown"] = 1.0
    if _CALM_TIME.search(turn):
        out["d_calm_time"] = 1.0
    if absolute and countdown:
        out["d_loss_with_countdown"] = 1.0
    money = {_norm_money(m.group(0)) for m in _MONEY.finditer(turn)}
    anchor = bool(_ANCHOR_CLAIM.search(turn))
    if anchor:
        out["d_anchor_claim"] = 1.0
    if scenario:
        known = {_norm_money(m.group(0)) for m in _MONEY.finditer(scenario)}
        known |= set(re.findall(r"\d+(?:\.\d+)?", scenario))
        unsupported = {m for m in money if m.rstrip("%") not in known and m not in known}
        if unsupported:
            out["d_money_not_in_scenario"] = 1.0
            if anchor:
                out["d_anchor_claim_unsupported"] = 1.0
        elif money:
            out["d_money_in_scenario"] = 1.0
        dates = {d.group(0).lower() for d in _DATE.finditer(turn)}
        scen = scenario.lower()
        if any(d not in scen for d in dates if d not in ("tomorrow", "tonight", "midnight")):
            out["d_date_not_in_scenario"] = 1.0
    return out
