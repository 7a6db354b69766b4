"""Adapters that read external, human-labelled datasets and map their labels to ours, as proxies.

The datasets (ESConv, AnnoMI, MentalManip, dark patterns) are not part of Cooldown: their licences are
non-commercial or copyleft. They are read only from the path given on the command line and are never
copied into the repository. The mappings follow each dataset's README (`/work/shared/eval-data/*/`)
and give only the labels a mapping exists for; reports state clearly that agreement on them is a
proxy, because none of the data is customer service.

Address a dataset as `NAME:PATH`, e.g. `esconv:/data/esconv/esconv_test.jsonl`. Names: see `ADAPTERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evals.cases import CaseMeta, EvalCase
from evals.labelsets import LabelValue
from evals.problems import SuiteError, SuiteProblem, json_problem, raise_if_any, validation_problems
from simulator.call.transcript import Utterance

Mapper = Callable[[dict[str, Any]], tuple[dict[str, LabelValue], dict[str, str]] | None]


@dataclass(frozen=True)
class Adapter:
    """How one dataset maps to our labels."""

    name: str
    description: str
    mapping_note: str
    """Shown in reports: what maps to what, and why it is only a proxy."""
    mapper: Mapper
    """A record -> (mapped labels, source labels for cross-tabs), or None to skip the record."""
    keep: Callable[[dict[str, Any]], bool] = lambda rec: True


# --- ESConv -----------------------------------------------------------------------------------------

_ESCONV = {
    "Questions": "behaviour.open_question",
    "Restatement or Paraphrasing": "behaviour.reflection",
    "Reflection of feelings": "behaviour.reflection",
    "Affirmation and Reassurance": "behaviour.validation",
    "Information": "behaviour.information",
    "Providing Suggestions": "behaviour.solution_offer",
}
_ESCONV_LISTENING = {"Questions", "Restatement or Paraphrasing", "Reflection of feelings",
                     "Affirmation and Reassurance"}


def _map_esconv(rec: dict[str, Any]) -> tuple[dict[str, LabelValue], dict[str, str]] | None:
    strategy = rec["labels"]["strategy"]
    if rec.get("meta", {}).get("low_content_heuristic"):
        return None
    mapped: dict[str, LabelValue] = {key: _ESCONV.get(strategy) == key for key in sorted(set(_ESCONV.values()))}
    mapped["listening"] = strategy in _ESCONV_LISTENING
    mapped["manipulative"] = False
    return mapped, {"strategy": strategy}


# --- AnnoMI -----------------------------------------------------------------------------------------


def _tie(value: Any) -> bool:
    return isinstance(value, str) and "|" in value


def _map_annomi(rec: dict[str, Any]) -> tuple[dict[str, LabelValue], dict[str, str]] | None:
    lab = rec["labels"]
    fields = ("question_subtype", "reflection_exists", "therapist_input_subtype", "main_therapist_behaviour")
    if any(_tie(lab.get(f)) for f in fields):
        return None  # a majority-vote tie: no single gold label
    mapped: dict[str, LabelValue] = {
        "behaviour.open_question": lab["question_subtype"] == "open",
        "behaviour.reflection": lab["reflection_exists"] == "True",
        "behaviour.information": lab["therapist_input_subtype"] == "information",
    }
    listens = lab["reflection_exists"] == "True" or lab["question_subtype"] == "open"
    main = lab["main_therapist_behaviour"]
    if listens:
        mapped["listening"] = True
    elif main == "therapist_input" and lab["therapist_input_subtype"] in {"advice", "information"}:
        mapped["listening"] = False
    main_code = main
    if main == "reflection":
        main_code = f"reflection/{lab['reflection_subtype']}"
    elif main == "question":
        main_code = f"question/{lab['question_subtype']}"
    elif main == "therapist_input":
        main_code = f"input/{lab['therapist_input_subtype']}"
    return mapped, {"code": main_code, "mi_quality": lab["mi_quality"]}


# --- MentalManip ------------------------------------------------------------------------------------

_MANIP_TACTICS = {
    "Intimidation": "tactic.intimidation",
    "Brandishing Anger": "tactic.intimidation",
    "Playing Victim Role": "tactic.guilt_tripping",
    "Accusation": "tactic.guilt_tripping",
    "Shaming or Belittlement": "tactic.guilt_tripping",
    "Denial": "tactic.deception",
    "Evasion": "tactic.deception",
    "Feigning Innocence": "tactic.deception",
    "Rationalization": "tactic.deception",
    "Playing Servant Role": "tactic.deception",
}


def _map_mentalmanip(rec: dict[str, Any]) -> tuple[dict[str, LabelValue], dict[str, str]] | None:
    lab = rec["labels"]
    manipulative = bool(int(lab["manipulative"]))
    techniques: list[str] = list(lab.get("technique") or [])
    mapped: dict[str, LabelValue] = {"manipulative": manipulative}
    if not manipulative or techniques:  # a manipulative dialogue with no technique: tactics unknown
        found = {_MANIP_TACTICS[t] for t in techniques if t in _MANIP_TACTICS}
        for key in sorted(set(_MANIP_TACTICS.values())):
            mapped[key] = key in found
    first = techniques[0] if techniques else ("(none listed)" if manipulative else "not manipulative")
    return mapped, {"technique": first, "consensus": str(bool(lab.get("consensus")))}


# --- Dark patterns ----------------------------------------------------------------------------------

_DP_CHOICE = {"Pressured Selling", "Trick Questions", "Visual Interference", "Sneak into Basket",
              "Hidden Costs", "Hidden Subscription", "Forced Enrollment"}
_DP_ALWAYS_MANIPULATIVE = _DP_CHOICE | {"Confirmshaming", "Hard to Cancel"}
_DP_SNEAKY = {"Sneak into Basket", "Hidden Costs", "Hidden Subscription", "Trick Questions"}


def _map_darkpatterns(rec: dict[str, Any]) -> tuple[dict[str, LabelValue], dict[str, str]] | None:
    lab = rec["labels"]
    if not lab["is_dark_pattern"]:
        negatives: dict[str, LabelValue] = dict.fromkeys(
            ("any_technique_or_tactic", "manipulative", "technique.loss_aversion",
             "technique.choice_architecture", "tactic.false_urgency", "tactic.guilt_tripping",
             "tactic.pressure", "tactic.deception"),
            False,
        )
        return negatives, {"type": "Not Dark Pattern", "deceptive": "n/a"}
    category, kind = lab["pattern_category"], lab["pattern_type"]
    deceptive = lab.get("deceptive") == "Yes"
    mapped: dict[str, LabelValue] = {"any_technique_or_tactic": True}
    if category in {"Urgency", "Scarcity"}:
        mapped["technique.loss_aversion"] = True
    if kind in _DP_CHOICE:
        mapped["technique.choice_architecture"] = True
    if category == "Urgency" and deceptive:
        mapped["tactic.false_urgency"] = True
    if kind == "Confirmshaming":
        mapped["tactic.guilt_tripping"] = True
    if kind in {"Pressured Selling", "Hard to Cancel"}:
        mapped["tactic.pressure"] = True
    if kind in _DP_SNEAKY or deceptive:
        mapped["tactic.deception"] = True
    if kind in _DP_ALWAYS_MANIPULATIVE or deceptive:
        mapped["manipulative"] = True
    return mapped, {"type": f"{category}/{kind}", "deceptive": str(lab.get("deceptive"))}


ADAPTERS: dict[str, Adapter] = {
    "esconv": Adapter(
        "esconv",
        "ESConv emotional-support chats: supporter strategy per turn (CC BY-NC 4.0)",
        "Proxy. Questions→open_question (ESConv does not split open/closed), Restatement/Reflection of "
        "feelings→reflection, Affirmation→validation, Information→information, Providing Suggestions→"
        "solution_offer; listening = one of those four listening strategies; every turn is presumed "
        "not manipulative (false-positive rate). One strategy per turn, self-reported by the supporter.",
        _map_esconv,
    ),
    "annomi": Adapter(
        "annomi",
        "AnnoMI motivational-interviewing therapist turns, expert codes (declared public domain)",
        "Proxy. question/open→open_question (closed questions are negatives), reflection (simple or "
        "complex)→reflection, input/information→information; listening = reflection or open question "
        "(true) vs advice/information without either (false). Majority-vote ties are skipped.",
        _map_annomi,
    ),
    "mentalmanip": Adapter(
        "mentalmanip",
        "MentalManip movie dialogues, dialogue-level manipulation labels (CC BY-NC 4.0)",
        "Proxy. The whole dialogue is graded as one turn. manipulative→manipulative; Intimidation, "
        "Brandishing Anger→intimidation; Playing Victim, Accusation, Shaming→guilt_tripping; Denial, "
        "Evasion, Feigning Innocence, Rationalization, Playing Servant→deception. Tactic labels are "
        "given only where the annotators listed techniques (or the dialogue is not manipulative).",
        _map_mentalmanip,
    ),
    "mentalmanip-consensus": Adapter(
        "mentalmanip-consensus",
        "MentalManip, only the dialogues all three annotators agreed on (CC BY-NC 4.0)",
        "As `mentalmanip`, restricted to the consensus subset (the cleanest estimate).",
        _map_mentalmanip,
        keep=lambda rec: bool(rec["labels"].get("consensus")),
    ),
    "darkpatterns": Adapter(
        "darkpatterns",
        "Dark patterns from shopping websites + non-dark-pattern negatives (GPL-3.0 / Apache-2.0)",
        "Proxy. Website UI strings, not dialogue turns. Urgency/Scarcity→loss_aversion; pressured "
        "selling, sneaking, trick questions, visual interference, forced enrollment→choice_architecture; "
        "deceptive urgency→false_urgency; confirmshaming→guilt_tripping; pressured selling, hard to "
        "cancel→pressure; sneaking or deceptive=Yes→deception; those and always-manipulative types→"
        "manipulative (non-deceptive urgency/scarcity/social proof: manipulative not labelled). "
        "Not-dark-pattern strings are negatives for every mapped label.",
        _map_darkpatterns,
    ),
}


def _records(path: Path, problems: list[SuiteProblem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The file's records; a line that is not a JSON object goes to `problems` and is skipped."""
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as err:
                problems.append(SuiteProblem(file=str(path), line=lineno,
                                             message=f"not UTF-8 text (byte {err.start + 1} of the line)"))
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(SuiteProblem(file=str(path), line=lineno, message=json_problem(err)))
                continue
            if not isinstance(rec, dict):
                problems.append(SuiteProblem(file=str(path), line=lineno, message="a record must be a JSON object"))
                continue
            yield lineno, rec


def _misfit(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"the record has no {err.args[0]!r} field"
    if isinstance(err, ValidationError):
        return "; ".join(f"{f or 'record'}: {m}" for f, m in validation_problems(err, None))
    return str(err).removeprefix("Value error, ")


def load_external(name: str, path: Path) -> list[EvalCase]:
    """Read an external dataset file and map it to cases with proxy labels.

    Args:
        name: an adapter name from `ADAPTERS`.
        path: the dataset's JSONL file (the common eval-data record schema).

    Raises:
        SuiteError: unknown adapter, missing file, or records that do not fit the mapping (every one,
            each with `file:line`).
    """
    adapter = ADAPTERS.get(name)
    if adapter is None:
        raise SuiteError(f"unknown external dataset {name!r}; choose one of {', '.join(sorted(ADAPTERS))}")
    if not path.is_file():
        raise SuiteError("dataset file not found; give the path to its .jsonl file", str(path))
    cases: list[EvalCase] = []
    problems: list[SuiteProblem] = []
    for lineno, rec in _records(path, problems):
        try:
            if not adapter.keep(rec):
                continue
            result = adapter.mapper(rec)
            if result is None:
                continue
            mapped, source = result
            cases.append(
                EvalCase(
                    id=str(rec["id"]),
                    context=[Utterance.model_validate(u) for u in rec.get("context") or []],
                    trainee_turn=str(rec["utterance"]),
                    mapped=mapped,
                    source_labels=source,
                    meta=CaseMeta(note=f"{adapter.name} proxy labels"),
                )
            )
        except (KeyError, TypeError, ValueError, ValidationError) as err:
            problems.append(SuiteProblem(
                file=str(path), line=lineno,
                message=f"record does not fit the {adapter.name} mapping: {_misfit(err)}; "
                        "is this the right dataset name for the file?"))
    raise_if_any(problems)
    return cases
