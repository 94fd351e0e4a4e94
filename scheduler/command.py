"""Render a trial's command: each `{{ name }}` replaced by its value, quoted for where it sits.

The command runs with `/bin/sh -c`. Whatever the value holds (spaces, quotes, `$`, backquotes,
backslashes, newlines, `;`, an empty string), the program receives exactly the value's text,
never expanded, so a placeholder is rendered for its shell quoting context:

- bare, or part of a bare word (`--lr={{ lr }}`): `shlex.quote(text)`;
- inside double quotes (`--tag="{{ tag }}"`): `\\`, `"`, `$` and backquote escaped with `\\`;
- inside single quotes (`'{{ tag }}'`): the quote is closed, `shlex.quote(text)` inserted and
  the quote reopened;
- in a comment (`# {{ x }}`): as it is, with newlines made spaces so the comment goes on.

Inside `$( ... )` the same rules apply afresh. A placeholder that no rule above covers (inside
backquotes, `${...}` or `$'...'`, after a here-document `<<`, right after a backslash) and an
unterminated quote are problems that `problems()` reports and `render()` refuses, rather than
guess.

The text of a value is `str()` of the Python value, which is what Polyaxon v0's Jinja2
templating printed: `True`/`False`, `None`, `1e-05`, `1.0`, `0.001`, strings as written.
A lone `\\` between words is dropped: it is what a YAML line continuation leaves once the
lines are folded (`--a=1 \\` then `--b=2` reads `--a=1 \\ --b=2`), and Polyaxon v0 dropped
it too when it built the container command (`sanitize_cmd` in polyaxon_schemas.ops.run.cmd).
Pure Python: no Django.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

BARE, DOUBLE, SINGLE, COMMENT = "bare", "double-quoted", "single-quoted", "comment"

# Frames of the scanner's stack: a command (top level or `$( )`), and the quoted regions.
_COMMAND, _DQ, _SQ, _BACKQUOTE, _BRACE, _ANSI = "cmd", '"', "'", "`", "${", "$'"
_OPENERS = {"$(": _COMMAND, "${": _BRACE, "$'": _ANSI, "`": _BACKQUOTE, '"': _DQ, "'": _SQ}
_CLOSERS = {_DQ: '"', _SQ: "'", _BACKQUOTE: "`", _BRACE: "}", _ANSI: "'"}
_UNSUPPORTED = {_BACKQUOTE: "backquotes", _BRACE: "${...}", _ANSI: "$'...'"}
_WORD_BREAKS = set(" \t\n;&|()<>")
_DQ_ESCAPABLE = set('$`"\\\n')


class CommandError(ValueError):
    """The command template cannot be rendered safely."""


@dataclass(frozen=True)
class Slot:
    """One placeholder: its span in the template, its name and its quoting context."""

    start: int
    end: int
    name: str
    context: str


@dataclass
class _Frame:
    kind: str
    parens: int = 0  # open `(` inside a command frame


class _Scanner:
    """Walk a template once, tracking the shell's quoting state at every placeholder."""

    def __init__(self, template: str) -> None:
        self.text = template
        self.marks = {m.start(): m for m in PLACEHOLDER.finditer(template)}
        self.stack = [_Frame(_COMMAND)]
        self.slots: list[Slot] = []
        self.dropped: list[int] = []  # lone backslashes between words
        self.problems: list[str] = []
        self.word_start = True

    def run(self) -> None:
        i = 0
        while i < len(self.text):
            match = self.marks.get(i)
            if match is not None:
                self._placeholder(match)
                i = match.end()
                self.word_start = False
                continue
            i = self._step(i)
        for frame in reversed(self.stack[1:]):
            opener = "$(" if frame.kind == _COMMAND else frame.kind
            self.problems.append(f"run.cmd has an unterminated {opener}")

    def _placeholder(self, match: re.Match[str], where: str | None = None) -> None:
        name = match.group(1)
        unsupported = [_UNSUPPORTED[f.kind] for f in self.stack if f.kind in _UNSUPPORTED]
        where = where or (f"inside {unsupported[-1]}" if unsupported else None)
        if where is not None:
            self.problems.append(f"{{{{ {name} }}}} is {where}, where its value cannot be quoted")
            return
        context = {_COMMAND: BARE, _DQ: DOUBLE, _SQ: SINGLE}[self.stack[-1].kind]
        self._slot(match, context)

    def _slot(self, match: re.Match[str], context: str) -> None:
        self.slots.append(Slot(match.start(), match.end(), match.group(1), context))

    def _step(self, i: int) -> int:
        """Consume the text at i; return where to go on."""
        kind, char, two = self.stack[-1].kind, self.text[i], self.text[i : i + 2]
        if char == "\\" and kind != _SQ:
            return self._backslash(i, kind)
        if kind in _CLOSERS and char == _CLOSERS[kind]:
            self.stack.pop()
            return i + 1
        if kind == _COMMAND:
            return self._command(i, char, two)
        if kind in (_DQ, _BRACE) and (two in ("$(", "${") or char == "`"):
            return self._open(i, two if two in _OPENERS else char)
        if kind == _BRACE and char in "\"'":
            return self._open(i, char)
        return i + 1

    def _backslash(self, i: int, kind: str) -> int:
        if i + 1 in self.marks:
            self.problems.append(
                f"a backslash comes right before {self.marks[i + 1].group(0)}: "
                "write the backslash as \\\\ or move it"
            )
            return i + 1
        if kind == _COMMAND and self.word_start and self.text[i + 1 : i + 2] in ("", " ", "\t"):
            self.dropped.append(i)  # what a folded YAML line continuation leaves: ` \ `
            return i + 1
        if kind == _DQ and self.text[i + 1 : i + 2] not in _DQ_ESCAPABLE:
            return i + 1  # a literal backslash inside double quotes
        self.word_start = False
        return i + 2

    def _open(self, i: int, opener: str) -> int:
        self.stack.append(_Frame(_OPENERS[opener]))
        self.word_start = True
        return i + len(opener)

    def _command(self, i: int, char: str, two: str) -> int:
        frame = self.stack[-1]
        if two in ("$(", "${", "$'") or char in "`\"'":
            return self._open(i, two if two in _OPENERS else char)
        if char == "#" and self.word_start:
            return self._comment(i)
        if two == "<<":
            self._rest_unsupported(i, "after a here-document <<")
            return len(self.text)
        if char == "(":
            frame.parens += 1
        elif char == ")" and frame.parens:
            frame.parens -= 1
        elif char == ")" and len(self.stack) > 1:
            self.stack.pop()
        self.word_start = char in _WORD_BREAKS
        return i + 1

    def _comment(self, i: int) -> int:
        end = self.text.find("\n", i)
        end = len(self.text) if end < 0 else end
        for start in sorted(self.marks):
            if i < start < end:
                self._slot(self.marks[start], COMMENT)
        return end

    def _rest_unsupported(self, i: int, where: str) -> None:
        for start in sorted(self.marks):
            if start > i:
                self._placeholder(self.marks[start], where)


def scan(template: str) -> tuple[list[Slot], list[str]]:
    """Return each placeholder of one command with its quoting context, and the problems."""
    scanner = _Scanner(template)
    scanner.run()
    return scanner.slots, scanner.problems


def problems(template: str) -> list[str]:
    """Return why a command template cannot be rendered safely (empty when it can)."""
    return scan(template)[1]


def _edits(template: str) -> list[tuple[int, int, Slot | None]]:
    """Return the spans to replace, in order: placeholders, and lone backslashes to drop."""
    scanner = _Scanner(template)
    scanner.run()
    if scanner.problems:
        raise CommandError(scanner.problems[0])
    edits = [(s.start, s.end, s) for s in scanner.slots]
    return sorted(edits + [(i, i + 1, None) for i in scanner.dropped], key=lambda e: e[0])


def format_value(value: Any) -> str:
    """Return the text a value stands for: `str(value)`, as Polyaxon v0's Jinja2 printed it."""
    return str(value)


def quote(text: str, context: str) -> str:
    """Return `text` written so that, in `context`, the shell reads it back unchanged."""
    if context == DOUBLE:
        return re.sub(r'([\\"$`])', r"\\\1", text)
    if context == SINGLE:
        return "'" + shlex.quote(text) + "'"
    if context == COMMENT:
        return text.replace("\n", " ")  # a newline would end the comment and run the rest
    return shlex.quote(text)


def render(cmd: str | Sequence[str], values: Mapping[str, Any]) -> str:
    """Fill every placeholder; a list of commands is rendered one by one and joined by ` && `.

    Raises KeyError for an unknown name, CommandError for a template `problems()` rejects or a
    value holding a NUL character (no program argument can).
    """
    parts = [cmd] if isinstance(cmd, str) else list(cmd)
    return " && ".join(_render_one(part, values) for part in parts)


def _render_one(template: str, values: Mapping[str, Any]) -> str:
    out, done = [], 0
    for start, end, slot in _edits(template):
        out.append(template[done:start])
        done = end
        if slot is None:
            continue
        text = format_value(values[slot.name])
        if "\0" in text:
            raise CommandError(f"the value of {slot.name} holds a NUL character")
        out.append(quote(text, slot.context))
    return "".join([*out, template[done:]])
