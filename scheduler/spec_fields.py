"""The machinery behind scheduler.spec: issue collection, field tables and scalar checks.

A check takes the context, the path of a value and the value; it returns the checked value,
or reports an error on the context and returns BAD so later checks can skip it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler import yamlsource
from scheduler.spec_types import MAXIMIZE, MINIMIZE, Issue
from scheduler.yamlsource import Path, Position

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- collecting issues -------------------------------------------------------------------


class _Bad:
    """Marks a value whose error has already been reported."""

    def __repr__(self) -> str:
        return "<invalid>"


BAD: Any = _Bad()


class Context:
    """The document being checked and the issues found so far."""

    def __init__(self, doc: yamlsource.Document) -> None:
        self.doc = doc
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self.valueless: set[str] = set()  # optional inputs without a value

    def where(self, path: Path, at_key: bool) -> Position:
        if not path:
            return yamlsource.START
        return self.doc.key_position(path) if at_key else self.doc.position(path)

    def error(self, path: Path, message: str, at_key: bool = False) -> Any:
        pos = self.where(path, at_key)
        self.errors.append(Issue(pos.line, pos.column, message))
        return BAD

    def warn(self, path: Path, message: str, at_key: bool = False) -> None:
        pos = self.where(path, at_key)
        self.warnings.append(Issue(pos.line, pos.column, message))


Check = Callable[[Context, Path, Any], Any]


def dotted(path: Path) -> str:
    """Write a path the way the author sees it, e.g. `hptuning.early_stopping[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "the file"


def show(value: Any) -> str:
    """Name a wrong value in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 42 else text[:39] + "..."


def suggestion(word: str, choices: list[str]) -> str:
    """Return `; did you mean 'x'?` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def is_bad(*values: Any) -> bool:
    """Tell whether any value already failed its check."""
    return any(v is BAD for v in values)


# --- a small table-driven section validator ------------------------------------------------


@dataclass(frozen=True)
class Field:
    """How one key of a section is checked."""

    check: Check
    required: bool = False
    default: Any = None
    keep_null: bool = False  # pass a null value to the check instead of using the default


def section(
    ctx: Context,
    path: Path,
    value: Any,
    fields: Mapping[str, Field],
    ignored: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """Check a mapping against its field table; return the checked values (BAD if invalid)."""
    if not isinstance(value, dict):
        ctx.error(path, f"{dotted(path)} must be a mapping, got {show(value)}")
        return None
    _unknown_keys(ctx, path, value, fields, ignored or {})
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        child = (*path, name)
        if name in value and (value[name] is not None or spec.keep_null or spec.required):
            out[name] = spec.check(ctx, child, value[name])
        elif spec.required:
            out[name] = ctx.error(path, f"{dotted(path)} is missing '{name}'", at_key=True)
        else:
            out[name] = spec.default
    return out


# Top-level keys that belong in a section: the hint names where they go.
_MOVED = {
    "matrix": "hptuning.matrix",
    "concurrency": "hptuning.concurrency",
    "hyperband": "hptuning.hyperband",
    "random_search": "hptuning.random_search",
    "grid_search": "hptuning.grid_search",
    "bo": "hptuning.bo",
    "early_stopping": "hptuning.early_stopping",
    "seed": "hptuning.seed",
    "cmd": "run.cmd",
}


def _unknown_keys(
    ctx: Context,
    path: Path,
    value: dict[Any, Any],
    fields: Mapping[str, Any],
    ignored: Mapping[str, str],
) -> None:
    for key in value:
        if key in fields:
            continue
        if key in ignored:
            ctx.warn((*path, key), ignored[key], at_key=True)
            continue
        where = f"in {dotted(path)}" if path else "at the top level"
        hint = suggestion(str(key), list(fields))
        if not path and key in _MOVED:
            hint = f"; did you mean '{_MOVED[key]}'?"
        ctx.error((*path, key), f"unknown key {show(key)} {where}{hint}", at_key=True)


# --- scalar checks --------------------------------------------------------------------------


def integer(minimum: int, maximum: int | None = None) -> Check:
    """Check an integer from minimum to maximum (inclusive)."""

    def check(ctx: Context, path: Path, value: Any) -> Any:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and value >= minimum and (maximum is None or value <= maximum):
            return value
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        return ctx.error(path, f"{dotted(path)} must be an integer {bound}, got {show(value)}")

    return check


def number(minimum: float, maximum: float | None = None, strict: bool = False) -> Check:
    """Check a finite number above minimum (strictly if `strict`) and at most maximum."""

    def check(ctx: Context, path: Path, value: Any) -> Any:
        if is_number(value) and _within(value, minimum, maximum, strict):
            return value
        low = f"> {minimum}" if strict else f">= {minimum}"
        bound = low if maximum is None else f"{low} and <= {maximum}"
        return ctx.error(path, f"{dotted(path)} must be a number {bound}, got {show(value)}")

    return check


def is_number(value: Any) -> bool:
    """Tell whether value is a finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too big for a float: no field here can use it
        return False


def _within(value: float, minimum: float, maximum: float | None, strict: bool) -> bool:
    above = value > minimum if strict else value >= minimum
    return above and (maximum is None or value <= maximum)


def finite(ctx: Context, path: Path, value: Any) -> Any:
    """Check a finite number; return it as a float."""
    if is_number(value):
        return float(value)
    return ctx.error(path, f"{dotted(path)} must be a finite number, got {show(value)}")


def string(max_length: int | None = None) -> Check:
    """Check a non-blank string of at most max_length characters."""

    def check(ctx: Context, path: Path, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and len(value) <= (max_length or len(value)):
            return value
        limit = f" of at most {max_length} characters" if max_length else ""
        return ctx.error(
            path, f"{dotted(path)} must be a non-empty string{limit}, got {show(value)}"
        )

    return check


def identifier(ctx: Context, path: Path, value: Any) -> Any:
    """Check a name that `{{ name }}` can reach."""
    if isinstance(value, str) and IDENTIFIER.fullmatch(value):
        return value
    message = f"{dotted(path)} must be an identifier (letters, digits, _), got {show(value)}"
    return ctx.error(path, message)


def boolean(ctx: Context, path: Path, value: Any) -> Any:
    """Check true or false."""
    if isinstance(value, bool):
        return value
    return ctx.error(path, f"{dotted(path)} must be true or false, got {show(value)}")


def spellings(*words: str) -> dict[str, str]:
    """Accept each word as written, in capitals and capitalized (Polyaxon's spellings)."""
    return {form: word for word in words for form in (word, word.upper(), word.capitalize())}


def choice(accepted: Mapping[str, str]) -> Check:
    """Check one of the accepted spellings; return its canonical word."""
    canonical = sorted(set(accepted.values()))

    def check(ctx: Context, path: Path, value: Any) -> Any:
        if isinstance(value, str) and value in accepted:
            return accepted[value]
        hint = suggestion(str(value).lower(), canonical) if isinstance(value, str) else ""
        options = " or ".join(repr(c) for c in canonical)
        return ctx.error(path, f"{dotted(path)} must be {options}, got {show(value)}{hint}")

    return check


OPTIMIZATION = choice(spellings(MINIMIZE, MAXIMIZE))


def scalar_value(ctx: Context, path: Path, value: Any) -> Any:
    """Accept a template value: a string, a boolean or a finite number."""
    if isinstance(value, str | bool) or is_number(value):
        return value
    message = f"{dotted(path)} must be a string, number or boolean, got {show(value)}"
    return ctx.error(path, message)
