"""Load YAML text into plain Python values that remember where each value came from.

`load(text)` returns a `Document`: the value as plain dicts, lists, str, int, float, bool
and None, plus the 1-based (line, column) of every mapping key, mapping value and sequence
item, looked up by path (a tuple of keys and list indices).

Scalars are resolved in the spirit of the YAML 1.2 core schema, not PyYAML's YAML 1.1:

- `1e-4`, `1E5`, `-2.5e+3`, `.5`, `1.` are floats; `.inf`, `-.inf`, `.nan` too.
- `12`, `-3`, `+7` are ints, and so are `0x1F` (31) and `0o17` (15): YAML 1.2 core reads
  them as integers, as did Polyaxon v0 under PyYAML, so both readings agree. A leading zero
  is decimal (`017` is 17, not YAML 1.1 octal 15). Underscores (`1_000`) stay strings.
- `1:10:2` and `190:20:30` stay strings (YAML 1.1 read them as base-60 integers).
- `true/True/TRUE/false/False/FALSE` are bools; `yes/no/on/off/y/n` stay strings.
- `null/Null/NULL/~` and an empty value are None. Dates stay strings.
- Explicit `!!str/!!int/!!float/!!bool/!!null` tags work; any other tag is an error.
- Merge keys (`<<`, YAML 1.1 only) are an error rather than a silent string key.

Abuse guards, all failing fast with a positioned `YamlSourceError`: text over 1 MiB is
rejected before parsing; nesting deeper than 64 levels stops the parse; aliases may be used
(`*lrs`), but re-expanding aliased nodes is capped at 10,000 nodes in total, so a
"billion laughs" document fails after a few thousand steps; a recursive alias is an error.
Duplicate mapping keys are errors at the second key. A scalar holding NUL or a lone
surrogate (only possible through a double-quoted escape) is an error: no database
stores it. Syntax errors carry PyYAML's mark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode  # type: ignore[import-untyped, unused-ignore]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

Path = tuple[Hashable, ...]

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"

# YAML 1.2.2 core schema, section 10.3.2, one pattern per tag.
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)

# NUL and lone surrogates (written as "\x00" or "\ud800" escapes) are not storable text.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the source text."""

    line: int
    column: int


START = Position(1, 1)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the YAML text, at a 1-based position."""

    line: int
    column: int
    message: str


class YamlSourceError(ValueError):
    """The text is not YAML we accept; `problems` says where and why, sorted by position."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.line, p.column, p.message)))
        first = self.problems[0]
        super().__init__(f"{first.line}:{first.column}: {first.message}")


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: its plain value and where each part of it was written."""

    value: Any
    value_positions: Mapping[Path, Position] = field(repr=False)
    key_positions: Mapping[Path, Position] = field(repr=False)

    def position(self, path: Path) -> Position:
        """Return where the value at `path` starts (or its nearest known ancestor)."""
        return _nearest(self.value_positions, path)

    def key_position(self, path: Path) -> Position:
        """Return where the mapping key ending `path` is (or the value's position)."""
        found = self.key_positions.get(path)
        return found if found is not None else self.position(path)


def load(text: str) -> Document:
    """Parse YAML text into a Document; raise YamlSourceError with positions on failure."""
    _check_size(text)
    root = _compose(text)
    if root is None:
        return Document(None, {(): START}, {})
    return _Walker().run(root)


def unstorable(text: str) -> str | None:
    """Return why text cannot be stored (it holds NUL or a lone surrogate), or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    return f"character #x{ord(found.group()):04x} cannot be stored as text"


def _nearest(table: Mapping[Path, Position], path: Path) -> Position:
    for end in range(len(path), -1, -1):
        found = table.get(path[:end])
        if found is not None:
            return found
    return START


def _check_size(text: str) -> None:
    # len() bounds the byte size from below, so huge text is refused without encoding it.
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlSourceError([Problem(1, 1, f"the file is larger than {MAX_BYTES} bytes")])


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """PyYAML's safe composer with YAML 1.2 core resolvers and a nesting limit."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Fatal(_at(mark, f"the document nests deeper than {MAX_DEPTH} levels"))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


for _tag, _regexp, _first in (
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_BOOL, _BOOL_RE, list("tTfF")),
    (_INT, _INT_RE, list("-+0123456789")),
    (_FLOAT, _FLOAT_RE, list("-+.0123456789")),
):
    _Loader.add_implicit_resolver(_tag, _regexp, _first)


class _Fatal(Exception):
    """A problem after which the walk cannot go on."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _at(mark: Any, message: str) -> Problem:
    if mark is None:
        return Problem(1, 1, message)
    return Problem(mark.line + 1, mark.column + 1, message)


def _compose(text: str) -> Node | None:
    try:
        loader = _Loader(text)  # the reader rejects unprintable characters right here
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except _Fatal as fatal:
        raise YamlSourceError([fatal.problem]) from None
    except yaml.MarkedYAMLError as exc:
        raise YamlSourceError([_syntax_problem(exc)]) from None
    except yaml.reader.ReaderError as exc:
        raise YamlSourceError([_reader_problem(text, exc)]) from None


def _syntax_problem(exc: Any) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    return _at(mark, f"YAML syntax error: {what}{context}")


def _reader_problem(text: str, exc: Any) -> Problem:
    position = int(exc.position)
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = exc.character if isinstance(exc.character, int) else 0
    return Problem(line, column, f"character #x{char:04x} is not allowed in YAML")


class _Walker:
    """Turn composed nodes into plain values, recording positions and collecting problems."""

    def __init__(self) -> None:
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.problems: list[Problem] = []
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.repeats = 0

    def run(self, root: Node) -> Document:
        try:
            value = self.node(root, ())
        except _Fatal as fatal:
            raise YamlSourceError([*self.problems, fatal.problem]) from None
        if self.problems:
            raise YamlSourceError(self.problems)
        return Document(value, self.values, self.keys)

    def node(self, node: Node, path: Path) -> Any:
        self.values.setdefault(path, _position(node))
        self._enter(node)
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            return self.scalar(node)
        finally:
            self.active.discard(id(node))

    def _enter(self, node: Node) -> None:
        # Aliases make the node graph a DAG (or a cycle): count every node walked again.
        if id(node) in self.active:
            raise _Fatal(_at(node.start_mark, "a YAML alias refers to itself"))
        if id(node) in self.seen:
            self.repeats += 1
            if self.repeats > MAX_ALIAS_NODES:
                message = f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes"
                raise _Fatal(_at(node.start_mark, message))
        self.seen.add(id(node))
        self.active.add(id(node))

    def mapping(self, node: Any, path: Path) -> dict[Any, Any]:
        self._check_tag(node, _MAP)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key is _SKIP:
                continue
            child = (*path, key)
            if key in result:
                first = self.keys[child]
                message = f"duplicate key {key!r} (first defined at line {first.line})"
                self.problems.append(_at(key_node.start_mark, message))
                continue
            self.keys[child] = _position(key_node)
            result[key] = self.node(value_node, child)
        return result

    def sequence(self, node: Any, path: Path) -> list[Any]:
        self._check_tag(node, _SEQ)
        return [self.node(item, (*path, index)) for index, item in enumerate(node.value)]

    def scalar(self, node: Any) -> Any:
        problem = unstorable(node.value)
        if problem:
            self.problems.append(_at(node.start_mark, problem))
            return node.value
        convert = _SCALARS.get(node.tag)
        if convert is None:
            self.problems.append(_at(node.start_mark, f"unsupported YAML tag {node.tag!r}"))
            return node.value
        try:
            return convert(node.value)
        except ValueError:
            message = f"cannot read {_clip(node.value)!r} as {_short_tag(node.tag)}"
            self.problems.append(_at(node.start_mark, message))
            return node.value

    def _key(self, key_node: Any) -> Any:
        self._enter(key_node)
        self.active.discard(id(key_node))
        if not isinstance(key_node, ScalarNode):
            message = "mapping keys must be plain scalars, not lists or mappings"
            self.problems.append(_at(key_node.start_mark, message))
            return _SKIP
        if key_node.value == "<<" and key_node.style is None:
            message = "YAML merge keys ('<<') are not supported; write the keys out"
            self.problems.append(_at(key_node.start_mark, message))
            return _SKIP
        return self.scalar(key_node)

    def _check_tag(self, node: Any, expected: str) -> None:
        if node.tag != expected:
            self.problems.append(_at(node.start_mark, f"unsupported YAML tag {node.tag!r}"))


_SKIP = object()


def _position(node: Any) -> Position:
    mark = node.start_mark
    return Position(mark.line + 1, mark.column + 1)


def _to_null(text: str) -> None:
    if not _NULL_RE.match(text):
        raise ValueError(text)


def _to_bool(text: str) -> bool:
    if not _BOOL_RE.match(text):
        raise ValueError(text)
    return text.lower() == "true"


def _to_int(text: str) -> int:
    if not _INT_RE.match(text):
        raise ValueError(text)
    if text.startswith("0x"):
        return int(text[2:], 16)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 10)  # may raise ValueError past Python's digit limit: reported


def _to_float(text: str) -> float:
    if not (_FLOAT_RE.match(text) or _INT_RE.match(text)):
        raise ValueError(text)
    lowered = text.lower()
    if lowered.endswith(".nan"):
        return float("nan")
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered.startswith(("0x", "0o")):
        return float(_to_int(text))
    return float(text)


_SCALARS: dict[str, Callable[[str], Any]] = {
    _NULL: _to_null,
    _BOOL: _to_bool,
    _INT: _to_int,
    _FLOAT: _to_float,
    _STR: str,
}


def _short_tag(tag: str) -> str:
    return "!!" + tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else tag


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
