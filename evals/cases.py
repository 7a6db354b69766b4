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
`evals.labelsets`). Every load error names `file:line` and the field, and says how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evals.labelsets import LabelValue, check_keys
from simulator.call.transcript import Utterance
from simulator.errors import FileContentError
from simulator.grading.base import GradeRequest
from simulator.grading.labels import TurnVerdict

SCHEMA_PATH = Path(__file__).resolve().parent / "suites" / "schema.json"


class SuiteError(FileContentError):
    """A suite file (or an external dataset file) is not valid. `location` is `path:line` where known."""


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
        if value is not None:
            check_keys(value)
        return value

    @model_validator(mode="after")
    def _check_gold(self) -> EvalCase:
        if self.gold is None and not self.mapped:
            raise ValueError("a case needs `gold` (a full verdict) or `mapped` proxy labels")
        if self.gold is not None:
            for use in self.gold.techniques:
                if use.evidence not in self.trainee_turn:
                    raise ValueError(
                        f"gold.techniques: evidence {use.evidence!r} is not an exact substring of "
                        "trainee_turn; copy the words verbatim from the turn"
                    )
        return self

    def request(self) -> GradeRequest:
        """The grading request for this case (what a grader sees; gold is never part of it)."""
        return GradeRequest(
            trainee_turn=self.trainee_turn,
            context=list(self.context),
            scenario=self.scenario,
            persona=self.persona,
        )


def _check_raw_manipulative(raw: Any) -> str | None:
    """The gold file's own `manipulative` must equal what the rubric derives (never silently fixed)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("gold"), dict):
        return None
    gold = raw["gold"]
    if "manipulative" not in gold:
        return None
    derived = bool(gold.get("manipulation_tactics")) or any(
        isinstance(t, dict) and t.get("use") == "manipulative" for t in gold.get("techniques") or []
    )
    if bool(gold["manipulative"]) != derived:
        return (
            f"gold.manipulative is {gold['manipulative']!r} but the techniques/tactics make it {derived!r}; "
            "manipulative is true exactly when a technique is used manipulatively or a tactic is present"
        )
    return None


def _describe(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
    return first["msg"] + more, field


def parse_case(raw: Any, location: str) -> EvalCase:
    """Validate one raw case (a dict from JSON/YAML); raise `SuiteError` naming `location`."""
    if not isinstance(raw, dict):
        raise SuiteError(f"expected a JSON object for a case, got {type(raw).__name__}", location)
    problem = _check_raw_manipulative(raw)
    if problem:
        raise SuiteError(problem, location, "gold.manipulative")
    try:
        return EvalCase.model_validate(raw)
    except ValidationError as err:
        msg, field = _describe(err)
        raise SuiteError(msg, location, field) from None


def _load_jsonl(path: Path) -> list[EvalCase]:
    cases: list[EvalCase] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            location = f"{path}:{lineno}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as err:
                raise SuiteError(
                    f"invalid JSON ({err.msg} at column {err.colno}); each line must be one JSON object",
                    location,
                ) from None
            cases.append(parse_case(raw, location))
    return cases


def _load_yaml(path: Path) -> list[EvalCase]:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        loc = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SuiteError(f"invalid YAML: {getattr(err, 'problem', err)}", loc) from None
    items_node = node
    if isinstance(data, dict) and "cases" in data:
        data = data["cases"]
        assert isinstance(node, yaml.MappingNode)
        items_node = next(v for k, v in node.value if k.value == "cases")
    if not isinstance(data, list) or not isinstance(items_node, yaml.SequenceNode):
        raise SuiteError("a YAML suite is a list of cases (or a mapping with a `cases:` list)", str(path))
    return [
        parse_case(raw, f"{path}:{item.start_mark.line + 1}")
        for raw, item in zip(data, items_node.value, strict=True)
    ]


def load_suite_file(path: Path) -> list[EvalCase]:
    """Load a suite file (`.jsonl`, `.yaml` or `.yml`). Duplicate ids are an error.

    Raises:
        SuiteError: with `file:line` of the first bad case and the field at fault.
    """
    if not path.is_file():
        raise SuiteError("suite file not found; give a path to a .jsonl or .yaml suite", str(path))
    if path.suffix == ".jsonl":
        cases = _load_jsonl(path)
    elif path.suffix in {".yaml", ".yml"}:
        cases = _load_yaml(path)
    else:
        raise SuiteError("unknown suite file type; use .jsonl, .yaml or .yml", str(path))
    _check_unique(cases, str(path))
    return cases


def _check_unique(cases: Iterable[EvalCase], where: str) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise SuiteError(f"duplicate case id {case.id!r}; every case id must be unique", where)
        seen.add(case.id)


def export_schema() -> dict[str, Any]:
    """The JSON Schema of one suite case (`evals/suites/schema.json`)."""
    schema = EvalCase.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cooldown grading-suite case"
    return schema


def schema_text() -> str:
    """The schema as committed: stable key order, trailing newline."""
    return json.dumps(export_schema(), indent=2, ensure_ascii=False) + "\n"
