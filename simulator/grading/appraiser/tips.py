"""Rule-based coaching tips from a verdict, so a local grade is useful on its own (no LLM needed).

One or two short sentences: the most important problem first (blame, dismissal, confronting with data,
a manipulative technique or tactic), otherwise the next step up the 0-4 perspective-taking scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.grading.appraiser.claims import ClaimConflict
from simulator.grading.labels import Behaviour, Tactic, Technique, TurnVerdict

EMPTY_TIP = "Nothing was said to the caller. Say something that shows you heard them, e.g. ask what happened."

_BEHAVIOUR_TIPS: dict[Behaviour, str] = {
    Behaviour.BLAME: (
        "You put the fault on the caller. Even when they missed something, blaming makes them defend "
        'themselves; own the next step instead ("Let\'s sort this out together").'
    ),
    Behaviour.DISMISSAL: (
        "That minimised or hurried the caller. Name what they're dealing with before moving on "
        '("That sounds like it has cost you a lot of time").'
    ),
    Behaviour.FACT_CONFRONTATION: (
        "You argued with their account using records, data or policy. An angry caller digs in when "
        "confronted: first ask what happened or reflect what they told you, then share facts they ask for."
    ),
}

_TECHNIQUE_TIPS: dict[Technique, str] = {
    Technique.ANCHORING: "Anchor on true facts or your real effort, never on an inflated reference price.",
    Technique.HALO: "Keep praise true and relevant, and never use it to sidestep the problem.",
    Technique.LOSS_AVERSION: "State consequences plainly and proportionately, and leave the choice to them.",
    Technique.CHOICE_ARCHITECTURE: "Say out loud any default you set, and give a real, easy way to opt out.",
    Technique.RECIPROCITY: "Give goodwill gestures with no strings; never use them as leverage.",
}

_TACTIC_TIPS: dict[Tactic, str] = {
    Tactic.FALSE_URGENCY: "Don't invent deadlines: give them the real timescale.",
    Tactic.GUILT_TRIPPING: "Don't make the caller feel guilty for complaining.",
    Tactic.INTIMIDATION: "Drop the threat: a frightened caller is not a resolved caller.",
    Tactic.DECEPTION: "Only say what is true about prices, policies and consequences.",
    Tactic.PRESSURE: "Give them room to decide; pushing for an instant yes backfires.",
}

_SCORE_TIPS: dict[int, str] = {
    0: "Start by listening: ask an open question about what happened.",
    1: "You handled the task but not the person. Add one line that shows you heard them, "
    "e.g. reflect what they told you.",
    2: "Make the acknowledgement specific: name what happened to this caller, not a general sorry.",
    3: 'Good listening. To go further, invite their perspective: "How has this affected you?"',
    4: "Strong: you reflected their situation and took their perspective. Now agree a next step together.",
}


def coaching_tip(verdict: TurnVerdict, *, empty: bool = False, claims: Sequence[ClaimConflict] = ()) -> str:
    """A short, concrete coaching tip for one graded turn.

    Args:
        verdict: The turn's labels.
        empty: True when the trainee said nothing (whitespace or only text aimed at the grader).
        claims: For a manipulative verdict, claims in the turn that the scenario's facts contradict
            (`claims.claim_conflicts`); the first is named, with the fact it contradicts, before anything else.

    Returns:
        One or two sentences for the trainee.
    """
    if empty:
        return EMPTY_TIP
    parts: list[str] = []
    if claims and verdict.manipulative:
        return f"{claims[0].explain()} {_TACTIC_TIPS[claims[0].tactic]}"
    for behaviour in (Behaviour.BLAME, Behaviour.DISMISSAL, Behaviour.FACT_CONFRONTATION):
        if behaviour in verdict.behaviours:
            parts.append(_BEHAVIOUR_TIPS[behaviour])
            break
    manipulative = [t.technique for t in verdict.techniques if t.use == "manipulative"]
    if manipulative:
        parts.append(
            f"Your {manipulative[0].value.replace('_', ' ')} read as manipulative. " + _TECHNIQUE_TIPS[manipulative[0]]
        )
    elif verdict.manipulation_tactics:
        parts.append(_TACTIC_TIPS[verdict.manipulation_tactics[0]])
    if not parts:
        parts.append(_SCORE_TIPS[verdict.perspective_taking])
    return " ".join(parts[:2])
