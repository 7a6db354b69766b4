"""Grade a JSONL file of trainee turns: the logic behind `cooldown grade`.

Input, one JSON object per line (other fields are ignored)::

    {"id": "t-1", "context": [{"role": "customer", "text": "..."}], "trainee_turn": "...",
     "scenario": "optional facts", "persona": "optional persona name"}

Output, one line per valid input line, in input order::

    {"id", "perspective_taking", "behaviours", "techniques": [{"technique", "use", "evidence"}],
     "manipulation_tactics", "manipulative", "status": "graded"|"ungraded", "integrity_flags", "grader"}

An ungraded line carries nulls and empty lists, never a default score. A bad input line is reported
with its line number and skipped; the rest are graded. An id seen on an earlier line is reported too:
graded anyway (two output lines then share the id), or, with `strict_ids`, treated as a bad line. The
LLM grader runs with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

from simulator.call.transcript import Utterance
from simulator.errors import CooldownError
from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.integrity import sanitize_for_grading
from simulator.grading.labels import Behaviour, GradeStatus, Tactic, TechniqueUse, TurnGrade
from simulator.llm.base import ChatModel

log = logging.getLogger(__name__)

GraderKind = Literal["local", "llm"]
MAX_LINE_BYTES = 1_000_000


class GradeInputLine(BaseModel):
    """One input line. Unknown fields are ignored (datasets carry their own labels alongside)."""

    model_config = ConfigDict(extra="ignore")

    id: StrictStr | StrictInt
    context: list[Utterance] = Field(default_factory=list)
    trainee_turn: StrictStr
    scenario: StrictStr | None = None
    persona: StrictStr | None = None

    @field_validator("trainee_turn")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not sanitize_for_grading(value).strip():
            raise ValueError("trainee_turn is empty; give the words the trainee said (an empty turn is not graded)")
        return value

    def request(self) -> GradeRequest:
        """The grading request for this line."""
        return GradeRequest(
            trainee_turn=self.trainee_turn, context=self.context, scenario=self.scenario, persona=self.persona
        )


class GradeOutputLine(BaseModel):
    """One output line (the `cooldown grade` format)."""

    model_config = ConfigDict(extra="forbid")

    id: str | int
    perspective_taking: int | None
    behaviours: list[Behaviour]
    techniques: list[TechniqueUse]
    manipulation_tactics: list[Tactic]
    manipulative: bool | None
    status: GradeStatus
    integrity_flags: list[str]
    grader: str

    @classmethod
    def from_grade(cls, line_id: str | int, grade: TurnGrade) -> GradeOutputLine:
        """The output line for a grade; an ungraded grade gives nulls and empty lists."""
        verdict = grade.verdict if grade.status == "graded" else None
        return cls(
            id=line_id,
            perspective_taking=verdict.perspective_taking if verdict else None,
            behaviours=list(verdict.behaviours) if verdict else [],
            techniques=list(verdict.techniques) if verdict else [],
            manipulation_tactics=list(verdict.manipulation_tactics) if verdict else [],
            manipulative=verdict.manipulative if verdict else None,
            status=grade.status,
            integrity_flags=list(grade.integrity_flags),
            grader=grade.grader,
        )


class LineProblem(BaseModel):
    """An input line that could not be read, or a line the grader left ungraded."""

    model_config = ConfigDict(extra="forbid")

    line: int
    id: str | int | None = None
    message: str


class GradeFileSummary(BaseModel):
    """What a run did. `exit_code` is what `cooldown grade` exits with."""

    model_config = ConfigDict(extra="forbid")

    graded: int = 0
    ungraded: list[LineProblem] = Field(default_factory=list)
    bad_lines: list[LineProblem] = Field(default_factory=list)
    repeated_ids: list[LineProblem] = Field(default_factory=list)
    """Lines whose id an earlier line already used (also in `bad_lines` when refused)."""

    @property
    def exit_code(self) -> int:
        """0 all graded; 1 some input lines were bad (skipped); 3 all lines read but some ungraded."""
        if self.bad_lines:
            return 1
        if self.ungraded:
            return 3
        return 0


def read_lines(raw_lines: Iterable[bytes | str]) -> Iterator[tuple[int, GradeInputLine | LineProblem]]:
    """Parse input lines; blank lines are skipped, bad ones come back as `LineProblem` (1-based numbers)."""
    for number, raw in enumerate(raw_lines, start=1):
        if len(raw) > MAX_LINE_BYTES:
            yield number, LineProblem(line=number, message=f"line is over {MAX_LINE_BYTES} bytes; split it")
            continue
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            yield number, LineProblem(line=number, message=f"not UTF-8 ({exc.reason}); re-save the file as UTF-8")
            continue
        text = text.lstrip("\ufeff") if number == 1 else text
        text = text.rstrip("\r\n")  # else an error at the end of the line reads "line 2, column 1"
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, LineProblem(line=number, message=_json_problem(text, exc))
            continue
        if not isinstance(data, dict):
            yield number, LineProblem(line=number, message="expected a JSON object with id and trainee_turn")
            continue
        try:
            yield number, GradeInputLine.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()[:5]
            )
            yield number, LineProblem(line=number, id=_id_of(data), message=problems)


def _json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """Where on the line the JSON went wrong, as a 1-based column (the line is a single JSON document)."""
    column = exc.pos + 1
    if not text[exc.pos :].strip():
        return (
            f"invalid JSON: {exc.msg} at column {column} (the end of the line: is a closing '}}', ']' or "
            "'\"' missing?)"
        )
    return f"invalid JSON: {exc.msg} at column {column}, near {text[exc.pos : exc.pos + 20]!r}"


def _id_of(data: dict[str, object]) -> str | int | None:
    value = data.get("id")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


async def _grade_one(grader: TurnGrader, line: GradeInputLine, sem: asyncio.Semaphore) -> TurnGrade:
    async with sem:
        try:
            return await grader.grade(line.request())
        except Exception as exc:  # the protocol says never raise; if a grader does, fail closed per line
            log.exception("grader %s raised on line id %r", grader.name, line.id)
            return TurnGrade.ungraded(grader.name, f"grader raised {type(exc).__name__}: {exc}")


async def grade_lines(
    raw_lines: Iterable[bytes | str],
    grader: TurnGrader,
    write: Callable[[str], object],
    *,
    concurrency: int = 4,
    on_problem: Callable[[LineProblem], object] | None = None,
    strict_ids: bool = False,
) -> GradeFileSummary:
    """Grade every valid line and write output lines in input order.

    Args:
        raw_lines: the input file's lines (bytes or text).
        grader: any `TurnGrader`.
        write: called with each output line (JSON plus a newline).
        concurrency: how many turns are graded at once.
        on_problem: called with each bad, ungraded or repeated-id line as soon as it is known.
        strict_ids: refuse a line whose id an earlier line used (a bad line, not graded); by default it
            is graded and reported as a warning.

    Returns:
        Counts and problems; `exit_code` says whether any line failed.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    summary = GradeFileSummary()
    sem = asyncio.Semaphore(concurrency)
    pending: deque[tuple[int, GradeInputLine, asyncio.Task[TurnGrade]]] = deque()
    first_line: dict[str | int, int] = {}

    async def flush_one() -> None:
        number, line, task = pending.popleft()
        grade = await task
        write(GradeOutputLine.from_grade(line.id, grade).model_dump_json() + "\n")
        if grade.status == "graded":
            summary.graded += 1
        else:
            problem = LineProblem(line=number, id=line.id, message=f"ungraded: {grade.reason or 'no reason'}")
            summary.ungraded.append(problem)
            if on_problem:
                on_problem(problem)

    try:
        for number, item in read_lines(raw_lines):
            if isinstance(item, LineProblem):
                summary.bad_lines.append(item)
                if on_problem:
                    on_problem(item)
                continue
            first = first_line.setdefault(item.id, number)
            if first != number:
                what = "not graded (--strict)" if strict_ids else "graded again, so two output lines share it"
                repeat = LineProblem(line=number, id=item.id, message=f"duplicate id, first on line {first}; {what}")
                summary.repeated_ids.append(repeat)
                if strict_ids:
                    summary.bad_lines.append(repeat)
                if on_problem:
                    on_problem(repeat)
                if strict_ids:
                    continue
            pending.append((number, item, asyncio.create_task(_grade_one(grader, item, sem))))
            while len(pending) >= 4 * concurrency:
                await flush_one()
        while pending:
            await flush_one()
    finally:
        for _, _, task in pending:
            task.cancel()
    return summary


def library_persona_summary(name: str) -> str | None:
    """A one-line description of a library persona for the grader prompt, or None if there is none."""
    try:
        from simulator.persona.library import default_library

        persona = default_library().load(name)
    except (CooldownError, ImportError, OSError):
        return None
    who = persona.identity
    return f"{who.name} ({who.temperament}): {who.situation} Scenario: {persona.scenario.summary}"


def make_grader(kind: GraderKind, *, model: ChatModel | None = None) -> TurnGrader:
    """The grader for `--grader local|llm`.

    Args:
        kind: `local` (the offline appraiser) or `llm` (the grading chain).
        model: the grader model to use; by default `simulator.llm.get_model("grader", load_settings())`.

    Raises:
        CooldownError: the grader cannot be built (settings, model or appraiser weights missing).
    """
    from simulator.config import load_settings
    from simulator.runtime import build_llm_grader, local_grader

    if kind == "local":
        return local_grader()
    return build_llm_grader(load_settings(), model=model, persona_summary=library_persona_summary)
