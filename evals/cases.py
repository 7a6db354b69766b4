"""The suite format: one graded trainee turn per case, with gold labels, loaded from JSONL or YAML.

A case is the gold-suite line described in `evals/suites/README.md`::

    {"id": "lst-0001", "scenario": "...", "persona": "backfire_missed_delivery",
     "context": [{"role": "customer", "text": "..."}],
     "trainee_turn": "...",
     "gold": {"perspective_taking": 3, "behaviours": ["reflection"], "techniques": [],
              "manipulation_tactics": [], "manipulative": false},
     "meta": {"group": "g-0001", "pair_axis": null, "near_miss": null, "note": "..."},
     "split": "test"}

`gold` is a full `simulator.grading.labels.TurnVerdict`. External datasets (see `evals.external`) carry
`mapped` labels instead: only the labels their README maps to ours, as flat keys (see
`evals.labelsets`). Loading reports every problem in a file at once, each as `file:line: field: message`
in plain words (see `evals.problems`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evals.labelsets import LabelValue, key_problems
from evals.problems import (
    FieldProblems,
    SuiteError,
    SuiteProblem,
    json_problem,
    raise_if_any,
    validation_problems,
    yaml_problem,
)
from simulator.call.transcript import Utterance
from simulator.grading.base import GradeRequest
from simulator.grading.labels import TurnVerdict
from simulator.resources import package_path

SCHEMA_PATH = package_path("evals", "suites", "schema.json")


class CaseMeta(BaseModel):
    """Free-form notes about a case. The named fields are the ones the reports use."""

    model_config = ConfigDict(extra="allow")

    group: str | None = None
    """Cases that belong together (a matched pair) share a group; the split is per group."""
    pair_axis: Literal["truth", "transparency", "free_choice", "interest", "conditional", "listening"] | None = None
    """For a matched ethical/manipulative pair: the one test the two turns differ on."""
    near_miss: str | None = None
    """A named near-miss family, e.g. `information_vs_confrontation`."""
    note: str | None = None
    attack: str | None = None
    """For adversarial cases: the attack the turn carries."""
    base_turn: str | None = None
    """For adversarial cases: the turn without its payload."""


class EvalCase(BaseModel):
    """One trainee turn with the labels a grader should give it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    scenario: str | None = None
    persona: str | None = None
    context: list[Utterance] = Field(default_factory=list)
    trainee_turn: str
    gold: TurnVerdict | None = None
    """Full gold labels (our suites)."""
    mapped: dict[str, LabelValue] | None = None
    """Proxy gold labels (external suites): only the keys a mapping exists for."""
    source_labels: dict[str, str] = Field(default_factory=dict)
    """The dataset's own labels, for cross-tabs in reports (e.g. {"strategy": "Questions"})."""
    meta: CaseMeta = Field(default_factory=CaseMeta)
    split: Literal["train", "test"] | None = None

    @field_validator("mapped")
    @classmethod
    def _check_mapped(cls, value: dict[str, LabelValue] | None) -> dict[str, LabelValue] | None:
        problems = key_problems(value) if value is not None else []
        if problems:
            raise FieldProblems([(f"mapped.{key}", message) for key, message in problems])
        return value

    @model_validator(mode="after")
    def _check_gold(self) -> EvalCase:
        if self.gold is None and not self.mapped:
            raise ValueError("a case needs `gold` (a full verdict) or `mapped` proxy labels")
        if self.gold is not None:
            bad = [
                (f"gold.techniques.{i}.evidence",
                 f"{use.evidence!r} is not an exact substring of trainee_turn; copy the words verbatim from the turn")
                for i, use in enumerate(self.gold.techniques) if use.evidence not in self.trainee_turn
            ]
            if bad:
                raise FieldProblems(bad)
        return self

    def content_hash(self) -> str:
        """A short digest of what a grader sees of this case (never the gold)."""
        return hashlib.sha256(self.request().model_dump_json().encode("utf-8")).hexdigest()[:16]

    def request(self) -> GradeRequest:
        """The grading request for this case (what a grader sees; gold is never part of it)."""
        return GradeRequest(
            trainee_turn=self.trainee_turn,
            context=list(self.context),
            scenario=self.scenario,
            persona=self.persona,
        )


def _check_raw_manipulative(raw: dict[str, Any]) -> str | None:
    """The gold file's own `manipulative` must equal what the rubric derives (never silently fixed)."""
    gold = raw.get("gold")
    if not isinstance(gold, dict) or "manipulative" not in gold:
        return None
    derived = bool(gold.get("manipulation_tactics")) or any(
        isinstance(t, dict) and t.get("use") == "manipulative" for t in gold.get("techniques") or []
    )
    if bool(gold["manipulative"]) != derived:
        return (
            f"is {json.dumps(gold['manipulative'])} but the techniques and tactics make it {json.dumps(derived)}; "
            "manipulative is true exactly when a technique is used manipulatively or a tactic is present"
        )
    return None


def case_problems(raw: Any, file: str, line: int | None) -> tuple[EvalCase | None, list[SuiteProblem]]:
    """Validate one raw case (a dict from JSON/YAML): the case, or None and every problem found in it."""
    if not isinstance(raw, dict):
        kind = {"list": "a list", "str": "a text", "int": "a number", "float": "a number", "bool": "true/false",
                "NoneType": "null"}.get(type(raw).__name__, type(raw).__name__)
        return None, [SuiteProblem(file=file, line=line, message=f"a case must be a JSON object {{...}}, not {kind}")]
    problems = []
    manipulative = _check_raw_manipulative(raw)
    if manipulative:
        problems.append(SuiteProblem(file=file, line=line, field="gold.manipulative", message=manipulative))
    try:
        case = EvalCase.model_validate(raw)
    except ValidationError as err:
        for field, message in validation_problems(err, raw):
            problems.append(SuiteProblem(file=file, line=line, field=field, message=message))
        return None, problems
    return (None if problems else case), problems


def parse_case(raw: Any, location: str) -> EvalCase:
    """Validate one raw case; raise `SuiteError` naming `location` (`file:line`) and every problem in it."""
    file, _, line = location.rpartition(":")
    if not (file and line.isdigit()):
        file, line = location, ""
    case, problems = case_problems(raw, file, int(line) if line else None)
    raise_if_any(problems)
    assert case is not None
    return case


def _load_jsonl(path: Path) -> tuple[list[tuple[EvalCase, int]], list[SuiteProblem]]:
    cases: list[tuple[EvalCase, int]] = []
    problems: list[SuiteProblem] = []
    file = str(path)
    with path.open("rb") as fh:
        for lineno, data in enumerate(fh, start=1):
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as err:
                problems.append(SuiteProblem(
                    file=file, line=lineno,
                    message=f"not UTF-8 text (byte {err.start + 1} of the line); save the file as UTF-8"))
                continue
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(SuiteProblem(file=file, line=lineno, message=json_problem(err)))
                continue
            case, found = case_problems(raw, file, lineno)
            problems += found
            if case is not None:
                cases.append((case, lineno))
    return cases, problems


def _load_yaml(path: Path) -> tuple[list[tuple[EvalCase, int]], list[SuiteProblem]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        return [], [SuiteProblem(file=file, message=f"not UTF-8 text (byte {err.start + 1}); save it as UTF-8")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        line, message = yaml_problem(err)
        return [], [SuiteProblem(file=file, line=line, message=message)]
    items_node = node
    if isinstance(data, dict) and "cases" in data:
        assert isinstance(node, yaml.MappingNode)
        unknown = [k for k in node.value if k[0].value not in ("cases", "thresholds")]
        if unknown:
            key = unknown[0][0]
            return [], [SuiteProblem(file=file, line=key.start_mark.line + 1, field=str(key.value),
                                     message="unknown key; a YAML suite mapping has `cases:` and optional "
                                             "`thresholds:`")]
        data = data["cases"]
        items_node = next(v for k, v in node.value if k.value == "cases")
    if not isinstance(data, list) or not isinstance(items_node, yaml.SequenceNode):
        return [], [SuiteProblem(file=file, line=1,
                                 message="a YAML suite is a list of cases (or a mapping with a `cases:` list)")]
    cases: list[tuple[EvalCase, int]] = []
    problems: list[SuiteProblem] = []
    for raw, item in zip(data, items_node.value, strict=True):
        lineno = item.start_mark.line + 1
        case, found = case_problems(raw, file, lineno)
        problems += found
        if case is not None:
            cases.append((case, lineno))
    return cases, problems


def load_suite_file(path: Path) -> list[EvalCase]:
    """Load a suite file (`.jsonl`, `.yaml` or `.yml`). Duplicate ids are an error.

    Raises:
        SuiteError: holding every problem in the file, each with `file:line` and the field at fault.
    """
    if not path.is_file():
        raise SuiteError("suite file not found; give a path to a .jsonl or .yaml suite", str(path))
    if path.name.endswith(".thresholds.yaml"):
        raise SuiteError("this is a thresholds file, not a suite; give the suite file beside it (its thresholds "
                         "are read from here automatically)", str(path))
    if path.suffix == ".jsonl":
        cases, problems = _load_jsonl(path)
    elif path.suffix in {".yaml", ".yml"}:
        cases, problems = _load_yaml(path)
    else:
        raise SuiteError("unknown suite file type; use .jsonl, .yaml or .yml", str(path))
    problems += _duplicate_ids(cases, str(path))
    raise_if_any(problems)
    return [case for case, _ in cases]


def _duplicate_ids(cases: Iterable[tuple[EvalCase, int]], file: str) -> list[SuiteProblem]:
    first: dict[str, int] = {}
    problems = []
    for case, line in cases:
        if case.id in first:
            problems.append(SuiteProblem(
                file=file, line=line, field="id",
                message=f"duplicate case id {case.id!r} (first used on line {first[case.id]}); "
                        "every case id must be unique"))
        else:
            first[case.id] = line
    return problems


def export_schema() -> dict[str, Any]:
    """The JSON Schema of one suite case (`evals/suites/schema.json`)."""
    schema = EvalCase.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cooldown grading-suite case"
    return schema


def schema_text() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return json.dumps(export_schema(), indent=2, ensure_ascii=False) + "\n"
