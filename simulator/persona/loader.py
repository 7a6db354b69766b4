"""Load persona files safely, and report every problem as `file:line:column: field.path: message`.

Persona files come from designers and are semi-trusted. Nothing in them is ever executed or turned
into a Python object other than str/int/float/bool/None/list/dict:

- raw checks before parsing: size (64 KB), empty, NUL bytes (binary), a UTF-8 BOM, non-UTF-8 bytes,
  tab indentation;
- parsing with a `yaml.SafeLoader` subclass that only *composes* nodes (never constructs tagged
  objects) and limits aliases and nesting depth;
- a walk over the node tree that rejects non-standard tags (`!!python/object...`, `!custom`, merge
  keys, timestamps...), duplicate keys, non-string keys and over-long strings, builds plain data, and
  records where each value sits;
- pydantic validation (`simulator.persona.schema.Persona`) whose error locations are mapped back to lines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from simulator.errors import PersonaError
from simulator.persona.schema import Persona
from simulator.resources import personas_dir

PERSONAS_DIR = personas_dir()
MAX_FILE_BYTES = 64 * 1024
MAX_ALIASES = 20
MAX_DEPTH = 12
MAX_STRING = 4000
MAX_NODES = 20_000
RESERVED_FILES = frozenset({"strategies.yaml"})
"""YAML files in the personas folder that are not personas."""

_ALLOWED_TAGS = frozenset(
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
)
M = TypeVar("M", bound=BaseModel)
Path_ = tuple[str | int, ...]


class _StrictLoader(yaml.SafeLoader):
    """Composes nodes only; counts aliases and nesting depth as it goes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Located(f"more than {MAX_ALIASES} aliases (*name); write the values out", mark)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Located(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


# Dates stay strings: a persona's "2024-05-01" is text for the caller, not a datetime.
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Located(Exception):
    def __init__(self, message: str, mark: Any, path: Path_ = ()) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path


class PersonaProblem(BaseModel):
    """One problem in a persona file, as lint prints it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    line: int
    column: int
    field: str = ""
    message: str

    @property
    def location(self) -> str:
        """`file:line:column`."""
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.location}: {field}{self.message}"

    def to_error(self, more: int = 0) -> PersonaError:
        """This problem as the exception `load_persona` raises."""
        tail = f" (and {more} more problem(s); run `cooldown personas lint` to see all)" if more else ""
        return PersonaError(self.message + tail, location=self.location, field=self.field)


class PersonaListing(BaseModel):
    """One entry of the persona library, for menus and `cooldown personas list`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    path: Path
    name: str = ""
    temperament: str = ""
    situation: str = ""
    technique_focus: str | None = None
    error: str | None = None
    """Set when the file does not load; the other fields are then empty."""


# --- reading ------------------------------------------------------------------------------------


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _read_text(path: Path) -> str:
    """Raw checks; returns the decoded text or raises `_Problems`."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _problem(name, 1, 1, f"file is {size} bytes; persona files are limited to {MAX_FILE_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise _problem(name, 1, 1, f"cannot read the file: {exc}") from None
    return _decode(name, data)


def _decode(name: str, data: bytes) -> str:
    """Checks on the raw bytes of a persona text; returns the decoded text or raises `_Problems`."""
    if len(data) > MAX_FILE_BYTES:
        raise _problem(name, 1, 1, f"text is {len(data)} bytes; persona files are limited to {MAX_FILE_BYTES}")
    if data.startswith(b"\xef\xbb\xbf"):
        raise _problem(name, 1, 1, "file starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise _problem(name, line, 1, "file has NUL bytes (a binary file?); personas are UTF-8 YAML text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start]
        raise _problem(name, line, col, f"not UTF-8 (byte 0x{bad:02x}); save the file as UTF-8") from None
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise _problem(name, 1, 1, "file is empty; start from `cooldown personas new NAME`")
    problems = []
    for number, line_text in enumerate(text.splitlines(), start=1):
        indent = re.match(r"[ \t]*", line_text)
        if indent and "\t" in indent.group(0):
            column = indent.group(0).index("\t") + 1
            problems.append(
                PersonaProblem(
                    file=name, line=number, column=column, message="tab in indentation; indent with spaces"
                )
            )
    if problems:
        raise _Problems(problems)
    return text


class _Problems(Exception):
    def __init__(self, problems: list[PersonaProblem]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems


def _problem(file: str, line: int, column: int, message: str, field: str = "") -> _Problems:
    return _Problems([PersonaProblem(file=file, line=line, column=column, field=field, message=message)])


def _compose(text: str) -> Node | None:
    loader = _StrictLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


class _Walker:
    """Turns a node tree into plain data, recording positions and counting values."""

    def __init__(self) -> None:
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.budget = MAX_NODES
        self._scalars = _StrictLoader("")

    def data(self, node: Node, path: Path_ = ()) -> Any:
        """Plain data from a node tree: standard scalars, lists and string-keyed maps only."""
        return _to_data(self, node, path)


def _to_data(walker: _Walker, node: Node, path: Path_) -> Any:
    positions = walker.positions
    walker.budget -= 1
    if walker.budget < 0:
        message = f"document expands to more than {MAX_NODES} values (an alias bomb?)"
        raise _Located(message, node.start_mark, path)
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if node.tag not in _ALLOWED_TAGS:
        raise _Located(
            f"tag {node.tag!r} is not allowed; persona files use plain YAML (strings, numbers, lists, maps)",
            node.start_mark,
            path,
        )
    if isinstance(node, ScalarNode):
        if len(node.value) > MAX_STRING:
            raise _Located(f"text longer than {MAX_STRING} characters", node.start_mark, path)
        return walker._scalars.construct_object(node)
    if isinstance(node, SequenceNode):
        return [_to_data(walker, item, (*path, i)) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                what = "merge keys (<<)" if key_node.tag.endswith(":merge") else "non-text keys"
                raise _Located(f"{what} are not allowed; write each key out", key_node.start_mark, path)
            key = key_node.value
            if key in out:
                message = f"duplicate key {key!r}; each key may appear once"
                raise _Located(message, key_node.start_mark, (*path, key))
            positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _to_data(walker, value_node, (*path, key))
        return out
    raise _Located("unsupported YAML node", node.start_mark, path)  # pragma: no cover


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _position(positions: dict[Path_, tuple[int, int]], loc: Path_) -> tuple[int, int]:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return 1, 1


def _known_prefix(positions: dict[Path_, tuple[int, int]], loc: Path_, keep_last: bool) -> Path_:
    """The part of a pydantic location that exists in the file (drops union-branch names)."""
    if keep_last:
        return (*_known_prefix(positions, loc[:-1], False), loc[-1]) if loc else loc
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            return loc[:end]
    return ()


_AT_PATH = re.compile(r"@([A-Za-z0-9_.]+): ")


def _describe(error: Any) -> tuple[Path_, str]:
    """A pydantic error as (location, message) with what was expected."""
    loc: Path_ = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return loc, f"unknown field {loc[-1]!r}; check the spelling (see personas/schema.json)"
    if kind == "missing":
        return loc, "required field is missing"
    found = _AT_PATH.search(message)
    if found:
        extra = tuple(int(p) if p.isdigit() else p for p in found.group(1).split("."))
        loc = (*loc, *extra)
        message = message[: found.start()] + message[found.end() :]
    message = message.removeprefix("Value error, ")
    if "input" in error and not isinstance(error["input"], dict | list) and kind != "value_error":
        message += f" (got {error['input']!r:.60})"
    return loc, message


def syntax_hint(exc: yaml.MarkedYAMLError, text: str | bytes) -> str:
    """The parser's complaint in plain words (indentation, a missing dash or colon), its own text last.

    The parser reports where it gave up; `context_mark` is where the construct it was reading began
    (the list, the mapping or the key), which is usually the line to look at, so the hint names it.
    """
    context, problem = exc.context or "", exc.problem or ""
    raw = " ".join(p for p in (context, problem) if p) or "syntax error"
    where = ""
    if exc.context_mark is not None:
        number = exc.context_mark.line + 1
        lines = text.splitlines() if isinstance(text, str) else []
        shown = lines[number - 1].strip() if number <= len(lines) else ""
        shown = shown.split(": ", 1)[0].rstrip(":")  # the key (or '- key') is enough to find the line
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        where = f"line {number}" + (f" ({shown!r})" if shown else "")
    found = problem.rsplit("found ", 1)[-1] if "found " in problem else ""
    if "block collection" in context and problem.startswith("expected <block end>"):
        rule = (
            "every item of a list starts with '- ' in the same column, and the other keys of an item line "
            "up under its first key, after the '- '"
        )
        hint = f"this line does not line up with the list that starts at {where}: {rule}"
        if found == "'<scalar>'":
            hint = (
                f"a quote opened in the list that starts at {where} is not closed, or this line does not "
                f"line up with that list: {rule}"
            )
    elif "block mapping" in context and problem.startswith("expected <block end>"):
        if found == "'-'":
            hint = (
                f"a list item ('- ') is out at the column of the keys of the mapping that starts at {where}; "
                "indent it under the key it belongs to, like the items above it"
            )
        else:
            hint = (
                f"this key is indented differently from the keys of the mapping that starts at {where}: keys "
                "of one mapping start in the same column, and a key one level down needs its parent key "
                "(ending in ':') on the line above"
            )
    elif problem.startswith("mapping values are not allowed"):
        hint = (
            "a 'key:' where no key can start: is this line indented further than the key above it, is the "
            "line above missing its ':', or does a value contain ': ' (then put the value in quotes)?"
        )
    elif "simple key" in context and "expected ':'" in problem:
        hint = f"{where} has no ':' after its key, or it is a list item missing its '- '"
    elif "flow sequence" in context or "flow mapping" in context:
        hint = (
            f"a '[' or '{{' opened at {where} is not closed on that line, or an item inside it contains "
            "': ' or ',' and needs quotes"
        )
    elif "quoted scalar" in context:
        hint = f"a quote opened at {where} is never closed"
    else:
        hint = (
            "check the indentation here (spaces, with the keys of one mapping in the same column), the '- ' "
            "before each list item and the ':' after each key"
        )
    return f"{hint} (YAML parser: {raw})"


def validate_yaml_file(path: Path, model: type[M]) -> tuple[M | None, list[PersonaProblem]]:
    """Load any strict YAML file into `model`; returns (value or None, every problem found)."""
    try:
        text = _read_text(path)
    except _Problems as exc:
        return None, exc.problems
    return validate_yaml_text(text, str(path), model)


def validate_yaml_text(text: str | bytes, name: str, model: type[M]) -> tuple[M | None, list[PersonaProblem]]:
    """Load strict YAML text into `model`; problems are reported against `name` (a file name or label)."""
    try:
        if isinstance(text, bytes):
            text = _decode(name, text)
        else:
            text = _decode(name, text.encode("utf-8", "surrogatepass"))
        node = _compose(text)
        if node is None:
            raise _problem(name, 1, 1, "file has no YAML document")
        walker = _Walker()
        data = walker.data(node)
        positions = walker.positions
    except _Problems as exc:
        return None, exc.problems
    except _Located as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        field = _dotted(exc.path)
        return None, [PersonaProblem(file=name, line=line, column=col, field=field, message=exc.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax: {syntax_hint(exc, text)}"
        return None, [PersonaProblem(file=name, line=line, column=col, message=message)]
    except yaml.YAMLError as exc:
        return None, [PersonaProblem(file=name, line=1, column=1, message=f"YAML error: {exc}")]
    if not isinstance(data, dict):
        return None, [PersonaProblem(file=name, line=1, column=1, message="the file must be a YAML mapping")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        merged: dict[Path_, list[str]] = {}
        for error in exc.errors():
            loc, message = _describe(error)
            loc = _known_prefix(positions, loc, keep_last=error["type"] == "missing")
            if message not in merged.setdefault(loc, []):
                merged[loc].append(message)
        problems = []
        for loc, messages in merged.items():
            line, col = _position(positions, loc)
            text = " or ".join(messages)
            field = _dotted(loc)
            problems.append(PersonaProblem(file=name, line=line, column=col, field=field, message=text))
        return None, sorted(problems, key=lambda p: (p.line, p.column))


def yaml_positions(path: Path) -> dict[Path_, tuple[int, int]]:
    """(line, column) of every value in a YAML file that loads, by its path (`("lines", "answer", "any", 0)`).

    For checks beyond the schema that report `file:line`; empty when the file does not parse.
    """
    try:
        node = _compose(_read_text(path))
        if node is None:
            return {}
        walker = _Walker()
        walker.data(node)
        return walker.positions
    except (_Problems, _Located, yaml.YAMLError):
        return {}


def position_of(positions: dict[Path_, tuple[int, int]], *path: str | int) -> tuple[int, int]:
    """The position of `path`, or of its nearest ancestor that is in the file."""
    return _position(positions, tuple(path))


def check_persona_file(path: Path) -> tuple[Persona | None, list[PersonaProblem]]:
    """Validate one persona file; returns the persona (or None) and every problem found."""
    persona, problems = validate_yaml_file(path, Persona)
    if persona is not None and persona.id != path.stem:
        line_col = _id_position(path)
        problems = [
            PersonaProblem(
                file=str(path),
                line=line_col[0],
                column=line_col[1],
                field="id",
                message=f"id {persona.id!r} must equal the file name {path.stem!r}",
            )
        ]
        persona = None
    return persona, problems


def _id_position(path: Path) -> tuple[int, int]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("id:"):
            return number, 1
    return 1, 1


def load_persona_text(text: str | bytes, name: str = "<persona text>") -> Persona:
    """Load and validate a persona from text it is already held as (a stored snapshot, a pasted file).

    Raises:
        PersonaError: With `location` `name:line:column` and the field path of the first problem.
    """
    persona, problems = validate_yaml_text(text, name, Persona)
    if persona is None:
        raise problems[0].to_error(more=len(problems) - 1)
    return persona


_LOADED: dict[Path, tuple[tuple[int, int], Persona]] = {}
"""By file path: the persona it last loaded as, with the file's (mtime_ns, size) then."""


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def load_persona(path: Path | str) -> Persona:
    """Load and validate one persona file.

    Every call start loads its persona, and parsing the YAML takes tens of milliseconds, so a file whose
    modification time (ns) and size are what they were at its last load is not parsed again; designers
    edit files while the server runs, and an edit changes the time, so it shows on the next load. Each
    load returns its own deep copy, so nothing one call does to its persona reaches another's.

    Raises:
        PersonaError: With `location` `file:line:column` and the field path of the first problem.
    """
    persona, problems = _parsed(Path(path))
    if persona is None:
        raise problems[0].to_error(more=len(problems) - 1)
    return persona.model_copy(deep=True)


def _parsed(path: Path) -> tuple[Persona | None, list[PersonaProblem]]:
    """The file's persona, shared and cached by (mtime_ns, size), or None and its problems. Never mutate it."""
    key, stamp = path.absolute(), _stamp(path)
    cached = _LOADED.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1], []
    persona, problems = check_persona_file(path)
    if persona is None:
        _LOADED.pop(key, None)
        return None, problems
    if stamp is not None and _stamp(path) == stamp:  # not changed while it was read
        _LOADED[key] = (stamp, persona)
    return persona, []


def persona_files(directory: Path = PERSONAS_DIR) -> list[Path]:
    """The persona files in a folder (`*.yaml`, sorted, without `strategies.yaml`)."""
    return sorted(p for p in Path(directory).glob("*.yaml") if p.name not in RESERVED_FILES)


def listing_of(path: Path) -> PersonaListing:
    """One persona file as a library entry; a file that does not load is listed with its first problem.

    Uses the parse cache of `load_persona`, so listing the library on every page load costs a stat per
    unchanged file, not a YAML parse."""
    persona, problems = _parsed(path)
    if persona is None:
        return PersonaListing(id=path.stem, path=path, error=str(problems[0]))
    return PersonaListing(
        id=persona.id,
        path=path,
        name=persona.identity.name,
        temperament=persona.identity.temperament,
        situation=persona.identity.situation,
        technique_focus=persona.scenario.technique_focus,
    )


def list_personas(directory: Path = PERSONAS_DIR) -> list[PersonaListing]:
    """Every persona file in a folder; files that fail to load are listed with their error."""
    return [listing_of(path) for path in persona_files(directory)]


def find_persona(name: str, directory: Path = PERSONAS_DIR) -> Path:
    """The file for a persona id (or a path), with a helpful error if there is none."""
    candidate = Path(name)
    if candidate.suffix == ".yaml" and candidate.is_file():
        return candidate
    path = Path(directory) / f"{name}.yaml"
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,47}", name) or not path.is_file():
        known = ", ".join(p.stem for p in persona_files(directory)) or "none"
        raise PersonaError(f"no persona named {name!r} in {directory}; known personas: {known}")
    return path


def persona_hash(persona: Persona | Path | str) -> str:
    """A content hash of the validated persona (comments and formatting don't change it).

    Sessions store it with their persona snapshot, so editing a file never changes a running call.
    """
    if not isinstance(persona, Persona):
        persona = load_persona(persona)
    canonical = persona.model_dump_json(exclude_none=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
