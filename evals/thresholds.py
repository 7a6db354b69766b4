"""Thresholds: the minimum a grader's metric must reach on a suite, checked in every report.

Where they come from, later ones adding to or overriding earlier ones:

1. a sidecar `NAME.thresholds.yaml` beside the suite file `NAME.jsonl` (or `NAME.yaml`), a mapping of
   metric name to minimum::

       score_qwk: 0.8
       manipulative_f1: 0.85
       label.dismissal.recall: 0.8

2. in a YAML suite written as a mapping, a `thresholds:` key beside `cases:` (the same mapping; a YAML
   suite may have one or the other, not both);
3. `cooldown evals run ... --min NAME=VALUE` (every suite of the run) or `--min SUITE:NAME=VALUE`.

A threshold is met when the metric's point estimate is at least the minimum. Its 95% bootstrap interval
is shown beside it, and a verdict whose interval straddles the minimum is marked "not conclusive"
(information only: the verdict still follows the point estimate). A metric with no value (a label with
no gold positives in the suite, nothing graded) misses its threshold: a gate never passes on nothing.
Every grader of the run is held to the suite's thresholds.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from evals.labelsets import BINARY_KEYS
from evals.problems import SuiteError, SuiteProblem, raise_if_any, yaml_problem

SIDECAR_SUFFIX = ".thresholds.yaml"
LABEL_STATS: tuple[str, ...] = ("precision", "recall", "f1", "kappa", "accuracy")
LABEL_NAMES: dict[str, str] = {key.rsplit(".", 1)[-1]: key for key in BINARY_KEYS}
"""Short label name (`dismissal`) -> flat key (`behaviour.dismissal`); short names are unique."""

Point = tuple[float | None, list[float] | None, str]
"""A metric's value, its 95% CI, and why there is no value (when there is none)."""


def _score(field: str) -> Callable[[dict[str, Any]], Point]:
    def get(m: dict[str, Any]) -> Point:
        score = m.get("score") or {}
        if not score.get("n"):
            return None, None, "no graded item has a gold score"
        return score.get(field), score.get(f"{field}_ci"), ""
    return get


def _macro(group: str) -> Callable[[dict[str, Any]], Point]:
    def get(m: dict[str, Any]) -> Point:
        macro = (m.get("macro_f1") or {}).get(group) or {}
        if macro.get("value") is None:
            return None, None, f"no {group} label has gold positives in this suite"
        return macro["value"], macro.get("ci"), ""
    return get


def _pairs(name: str) -> Callable[[dict[str, Any]], Point]:
    def get(m: dict[str, Any]) -> Point:
        pairs = (m.get("pairs") or {}).get(name) or {}
        if not pairs.get("pairs"):
            return None, None, "the suite has no such matched pairs"
        return pairs["accuracy"], pairs.get("ci"), ""
    return get


def _label(key: str, stat: str) -> Callable[[dict[str, Any]], Point]:
    def get(m: dict[str, Any]) -> Point:
        lm = (m.get("labels") or {}).get(key)
        if lm is None:
            return None, None, "the suite has no gold for this label"
        value = lm.get(stat)
        if value is None:
            why = {"recall": "no gold positives", "f1": "no gold positives and none predicted",
                   "precision": "the grader predicted no positives"}.get(stat, "undefined")
            return None, None, why
        return value, lm.get(f"{stat}_ci"), ""
    return get


METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], Point]]] = {
    "score_qwk": ("quadratic-weighted kappa of the 0-4 score", _score("kappa_quadratic")),
    "score_accuracy": ("exact accuracy of the 0-4 score", _score("accuracy")),
    "score_within_one": ("share of scores within one of the gold score", _score("within_one")),
    "macro_f1": ("macro-F1 over every presence label", _macro("all")),
    "behaviours_macro_f1": ("macro-F1 over the listening behaviours", _macro("behaviours")),
    "techniques_macro_f1": ("macro-F1 over the persuasion techniques", _macro("techniques")),
    "tactics_macro_f1": ("macro-F1 over the manipulation tactics", _macro("tactics")),
    "manipulative_f1": ("F1 of the manipulative flag (= label.manipulative.f1)", _label("manipulative", "f1")),
    "manipulative_pair_accuracy": ("matched ethical/manipulative pairs both right", _pairs("manipulative")),
    "near_miss_pair_accuracy": ("information vs fact-confrontation near-miss pairs both right",
                                _pairs("information_vs_confrontation")),
}
"""The named metrics; `label.<label>.<stat>` names (see `resolve`) come on top."""


def valid_names_text() -> str:
    """Every valid metric name, for error messages and `--help`."""
    return (", ".join(METRICS) + f"; and label.<label>.<stat> with <stat> one of {', '.join(LABEL_STATS)} "
            f"and <label> one of {', '.join(LABEL_NAMES)}")


def resolve(name: str) -> Callable[[dict[str, Any]], Point] | None:
    """The extractor for a metric name, or None when the name is unknown."""
    if name in METRICS:
        return METRICS[name][1]
    prefix, _, rest = name.partition(".")
    label, _, stat = rest.rpartition(".")
    key = LABEL_NAMES.get(label, label)
    if prefix == "label" and key in BINARY_KEYS and stat in LABEL_STATS:
        return _label(key, stat)
    return None


def unknown_name_message(name: str) -> str:
    """Why a name is not a metric: the closest names, then every valid one."""
    examples = [*METRICS, *(f"label.{n}.{s}" for n in LABEL_NAMES for s in LABEL_STATS)]
    close = difflib.get_close_matches(name, examples, n=1, cutoff=0.7)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"unknown metric {name!r}.{hint} Valid names: {valid_names_text()}"


def check_value(name: str, value: Any) -> str | None:
    """Why `value` cannot be a minimum for `name` (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"the minimum must be a number, got {value!r}"
    low = -1.0 if name == "score_qwk" or name.endswith(".kappa") else 0.0
    if not low <= value <= 1:
        return f"the minimum must be between {low:g} and 1, got {value!r}"
    return None


class Threshold(BaseModel):
    """One minimum a metric must reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    minimum: float
    source: str
    """Where it was set: `file:line`, or `--min`."""


def parse_mapping(data: Any, node: Any, file: str) -> tuple[list[Threshold], list[SuiteProblem]]:
    """Thresholds from a parsed YAML mapping (and its node, for line numbers); every problem found."""
    if data is None:
        return [], []
    line = node.start_mark.line + 1 if node is not None else None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return [], [SuiteProblem(file=file, line=line,
                                 message="thresholds are a mapping of metric name to minimum, e.g. `score_qwk: 0.8`")]
    out: list[Threshold] = []
    problems: list[SuiteProblem] = []
    seen: dict[str, int] = {}
    constructor = yaml.constructor.SafeConstructor()
    for key_node, value_node in node.value:
        name, where = str(key_node.value), key_node.start_mark.line + 1
        value = constructor.construct_object(value_node, deep=True)
        if name in seen:
            problems.append(SuiteProblem(file=file, line=where, field=name,
                                         message=f"given twice (also on line {seen[name]}); keep one"))
            continue
        seen[name] = where
        if resolve(name) is None:
            problems.append(SuiteProblem(file=file, line=where, field=name, message=unknown_name_message(name)))
            continue
        bad = check_value(name, value)
        if bad is not None or not isinstance(value, int | float):
            problems.append(SuiteProblem(file=file, line=where, field=name, message=bad or "must be a number"))
            continue
        out.append(Threshold(metric=name, minimum=float(value), source=f"{file}:{where}"))
    return out, problems


def sidecar_path(suite_path: Path) -> Path:
    """`NAME.thresholds.yaml` beside the suite file `NAME.jsonl` / `NAME.yaml`."""
    return suite_path.with_name(suite_path.stem + SIDECAR_SUFFIX)


def _read_yaml(path: Path) -> tuple[Any, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        line, message = yaml_problem(err)
        raise SuiteError.from_problems([SuiteProblem(file=str(path), line=line, message=message)]) from None


def suite_thresholds(suite_path: Path) -> list[Threshold]:
    """The thresholds a suite file carries: its sidecar, or a YAML suite's own `thresholds:` mapping.

    Raises:
        SuiteError: every problem found, as `file:line: metric: message`; or thresholds in both places.
    """
    sidecar = sidecar_path(suite_path)
    found: list[tuple[Path, Any, Any]] = []
    if sidecar.is_file():
        found.append((sidecar, *_read_yaml(sidecar)))
    if suite_path.suffix in {".yaml", ".yml"} and suite_path.is_file():
        data, node = _read_yaml(suite_path)
        if isinstance(data, dict) and "thresholds" in data and isinstance(node, yaml.MappingNode):
            found.append((suite_path, data["thresholds"],
                          next(v for k, v in node.value if k.value == "thresholds")))
    if len(found) > 1:
        raise SuiteError(f"thresholds are given both here and in {sidecar}; keep them in one place",
                         str(suite_path))
    if not found:
        return []
    path, data, node = found[0]
    thresholds, problems = parse_mapping(data, node, str(path))
    raise_if_any(problems)
    return thresholds


def parse_option(text: str, suite_names: list[str]) -> tuple[str | None, Threshold]:
    """Parse `--min [SUITE:]NAME=VALUE` into (suite name or None for every suite, threshold).

    Raises:
        ValueError: the text is malformed, the metric or suite unknown, or the value out of range.
    """
    target, sep, value_text = text.partition("=")
    if not sep or not target.strip() or not value_text.strip():
        raise ValueError(f"{text!r}: write NAME=VALUE or SUITE:NAME=VALUE, e.g. score_qwk=0.8")
    suite, _, name = target.strip().rpartition(":")
    if suite and suite not in suite_names:
        raise ValueError(f"{text!r}: no suite {suite!r} in this run; suites: {', '.join(suite_names)}")
    if resolve(name) is None:
        raise ValueError(unknown_name_message(name))
    try:
        value: float = float(value_text)
    except ValueError:
        raise ValueError(f"{text!r}: the minimum must be a number, got {value_text!r}") from None
    bad = check_value(name, value)
    if bad:
        raise ValueError(f"{text!r}: {bad}")
    return suite or None, Threshold(metric=name, minimum=value, source="--min")


def merge(base: list[Threshold], extra: list[Threshold]) -> list[Threshold]:
    """`base` with `extra` added; a metric in both takes the value from `extra`."""
    out = {t.metric: t for t in base}
    out.update({t.metric: t for t in extra})
    return list(out.values())


def check(metrics: dict[str, Any], thresholds: list[Threshold]) -> list[dict[str, Any]]:
    """Each threshold against one grader's metrics on one suite: value, CI, met, conclusive."""
    results = []
    for t in thresholds:
        get = resolve(t.metric)
        value, ci, why = get(metrics) if get is not None else (None, None, "unknown metric")
        met = value is not None and value >= t.minimum
        conclusive = value is not None and (ci is None or not ci[0] < t.minimum <= ci[1])
        results.append({"metric": t.metric, "minimum": t.minimum, "source": t.source, "value": value, "ci": ci,
                        "met": met, "conclusive": conclusive, "note": why})
    return results
