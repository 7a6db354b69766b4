"""Problems in suite files, in plain words: every one found, each as `file:line: field: message`.

Loaders collect a `SuiteProblem` per fault and raise one `SuiteError` holding them all, so a person
fixing a file sees every problem in one go instead of one per run. Parser and validator messages
(JSON, pydantic) are reworded here: no parser jargon, no "Value error, " prefixes, and the value found
beside what was expected.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from simulator.errors import FileContentError

MAX_SHOWN = 100
"""At most this many problems are spelled out in the error text; the count always covers all of them."""


class SuiteProblem(BaseModel):
    """One problem in a suite (or thresholds) file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    line: int | None = None
    field: str = ""
    """The field path inside the case, e.g. `gold.perspective_taking` (empty for the whole line)."""
    message: str

    @property
    def location(self) -> str:
        """`file:line` (or just `file` when no line applies)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.location}: {field}{self.message}"


class SuiteError(FileContentError):
    """A suite file (or an external dataset file) is not valid. `location` is `path:line` where known.

    `problems` holds every problem found; the message spells out up to `MAX_SHOWN` of them.
    """

    def __init__(self, message: str, location: str = "", field: str = "") -> None:
        super().__init__(message, location, field)
        file, _, line = location.rpartition(":")
        self.problems: list[SuiteProblem] = [
            SuiteProblem(file=file, line=int(line), field=field, message=message)
            if file and line.isdigit()
            else SuiteProblem(file=location, field=field, message=message)
        ]

    @classmethod
    def from_problems(cls, problems: list[SuiteProblem]) -> SuiteError:
        """One error for all the problems of a file (sorted by line), or for the only one."""
        problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        if len(problems) == 1:
            only = problems[0]
            return cls(only.message, only.location, only.field)
        files = sorted({p.file for p in problems})
        shown = [f"  {p}" for p in problems[:MAX_SHOWN]]
        if len(problems) > MAX_SHOWN:
            shown.append(f"  ... and {len(problems) - MAX_SHOWN} more problems not shown")
        where = files[0] if len(files) == 1 else ", ".join(files)
        err = cls(f"{len(problems)} problems; fix them all and run again:\n" + "\n".join(shown), where)
        err.problems = problems
        return err


def raise_if_any(problems: list[SuiteProblem]) -> None:
    """Raise a `SuiteError` holding every problem, if there are any.

    Raises:
        SuiteError: one or more problems were found.
    """
    if problems:
        raise SuiteError.from_problems(problems)


# --- JSON --------------------------------------------------------------------------------------------

_JSON_WORDS = {
    "Invalid control character at": "a raw control character (a tab or a line break) inside a text value; "
    "write it as \\t or \\n",
    "Expecting property name enclosed in double quotes": "expected a field name in double quotes "
    "(a trailing comma, or single quotes?)",
    "Expecting value": "expected a value (is the line cut short, or not JSON at all?)",
    "Expecting ',' delimiter": "expected a comma between two items",
    "Expecting ':' delimiter": "expected a colon after the field name",
    "Extra data": "more text after the case's closing brace; put exactly one JSON object on each line",
    "Unterminated string starting at": "a text value is never closed with a double quote",
    "Invalid \\escape": "a backslash that starts no valid escape; write a literal backslash as \\\\",
    "Invalid \\uXXXX escape": "a \\u escape needs four hex digits",
}


def json_problem(err: json.JSONDecodeError) -> str:
    """A JSON syntax error in plain words, with the column it was found at."""
    words = _JSON_WORDS.get(err.msg, err.msg[:1].lower() + err.msg[1:])
    return f"invalid JSON at column {err.colno}: {words}"


_YAML_WORDS = {
    "expected <block end>": "the indentation is inconsistent (an item indented more or less than its siblings)",
    "mapping values are not allowed here": "a colon where none is allowed; put text that contains ': ' in quotes",
    "found character '\\t' that cannot start any token": "a tab character; indent YAML with spaces only",
    "could not find expected ':'": "a line is missing the colon of `key: value`",
    "found undefined alias": "an `*alias` with no matching `&anchor`; quote text that starts with *",
}


def yaml_problem(err: Exception) -> tuple[int | None, str]:
    """A YAML syntax error in plain words: (line or None, message with the column)."""
    mark = getattr(err, "problem_mark", None)
    problem = str(getattr(err, "problem", None) or err)
    words = next((w for key, w in _YAML_WORDS.items() if problem.startswith(key)), problem)
    if mark is None:
        return None, f"invalid YAML: {words}"
    return mark.line + 1, f"invalid YAML at column {mark.column + 1}: {words}"


# --- pydantic ----------------------------------------------------------------------------------------


class FieldProblems(ValueError):
    """Raised by a model validator to blame specific fields: a list of (field path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


def _got(error: Any) -> str:
    value = error.get("input")
    if isinstance(value, dict | list) or "input" not in error:
        return ""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return f" (got {text[:60]}{'…' if len(text) > 60 else ''})"


def _plain_message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field; remove it or fix its spelling (see evals/suites/schema.json)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("enum", "literal_error"):
        return f"must be {ctx.get('expected', 'one of the allowed values')}{_got(error)}"
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        bound = {"less_than_equal": "at most", "less_than": "below", "greater_than_equal": "at least",
                 "greater_than": "above"}[kind]
        limit = next(iter(ctx.values()), "?")
        return f"must be {bound} {limit}{_got(error)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number{_got(error)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false{_got(error)}"
    if kind == "string_type":
        return f"must be text in double quotes{_got(error)}"
    if kind == "list_type":
        return f"must be a list [...]{_got(error)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be an object {{...}}{_got(error)}"
    if kind == "string_too_short":
        size = ctx.get("min_length", 1)
        return "must not be empty" if size == 1 else f"must have at least {size} characters"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg.replace("Input should be", "should be") + _got(error)


def _data_path(raw: Any, loc: tuple[int | str, ...], keep_last: bool) -> str:
    """The part of a pydantic location that exists in the data (drops union-branch names)."""
    parts: list[str] = []
    node = raw
    for i, step in enumerate(loc):
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        elif keep_last and i == len(loc) - 1:
            pass
        else:
            continue
        parts.append(str(step))
    return ".".join(parts)


def validation_problems(err: ValidationError, raw: Any) -> list[tuple[str, str]]:
    """Every error of a failed validation of `raw`, as (field path, plain message), merged per field."""
    merged: dict[str, list[str]] = {}
    for error in err.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblems):
            for field, message in cause.problems:
                merged.setdefault(field, []).append(message)
            continue
        kind = error["type"]
        field = _data_path(raw, tuple(error["loc"]), keep_last=kind in ("missing", "extra_forbidden"))
        message = _plain_message(error)
        if message not in merged.setdefault(field, []):
            merged[field].append(message)
    return [(field, "; or ".join(messages)) for field, messages in merged.items()]
