"""Reading one matrix entry: its kind, and its arguments in any of the written forms.

Values are checked and normalized here (numbers in list order, defaults filled in); every
problem raises SpaceError naming the parameter.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from scheduler.space_errors import SpaceError, fail, fmt, show
from scheduler.space_kinds import KINDS, NUMERIC, Num, NumericKind

PVALUES_TOLERANCE = 1e-6

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Entry(NamedTuple):
    """A parsed matrix entry: what a Distribution holds besides its name."""

    kind: str
    args: tuple[Any, ...]
    weights: tuple[float, ...] | None = None


def _kind_of(name: str, value: object) -> tuple[str, object]:
    """Return the single kind key of a matrix entry and its argument."""
    if not isinstance(value, Mapping):
        fail(name, f"expected a mapping with one kind, e.g. {{uniform: [0, 1]}}, got {show(value)}")
    if len(value) != 1:
        given = ", ".join(str(k) for k in value) or "none"
        fail(name, f"exactly one kind is needed (one of {', '.join(KINDS)}), got {given}")
    ((kind, raw),) = value.items()
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind).lower(), KINDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(KINDS)}"
        fail(name, f"unknown kind {kind!r} ({hint})")
    return str(kind), raw


def _scalar(name: str, kind: str, value: object) -> object:
    """Check that a values entry is a JSON scalar."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    fail(name, f"{kind} entries must be strings, numbers, booleans or null, got {show(value)}")


def _no_repeats(name: str, kind: str, values: Sequence[object]) -> None:
    # Keyed by type too: 1, 1.0 and true are different configs once serialized.
    seen: set[tuple[type, object]] = set()
    for value in values:
        key = (type(value), value)
        if key in seen:
            fail(name, f"{kind} lists {show(value)} twice; each value must appear once")
        seen.add(key)


def _nonempty_list(name: str, kind: str, raw: object, example: str) -> Sequence[object]:
    if not isinstance(raw, list | tuple):
        fail(name, f"{kind} expects a list like {example}, got {show(raw)}")
    if not raw:
        fail(name, f"{kind} must list at least one value")
    return raw


def _parse_values(name: str, raw: object) -> Entry:
    values = tuple(
        _scalar(name, "values", v) for v in _nonempty_list(name, "values", raw, "[a, b]")
    )
    _no_repeats(name, "values", values)
    return Entry("values", values)


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(name, f"pvalues probabilities must be numbers, got {show(value)}")
    if not 0 <= value <= 1:
        fail(name, f"pvalues probabilities must be between 0 and 1, got {fmt(value)}")
    return float(value)


def _pair(name: str, pair: object) -> tuple[object, float]:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        fail(name, f"each pvalues entry must be a [value, probability] pair, got {show(pair)}")
    return _scalar(name, "pvalues", pair[0]), _probability(name, pair[1])


def _parse_pvalues(name: str, raw: object) -> Entry:
    raw_pairs = _nonempty_list(name, "pvalues", raw, "[[a, 0.3], [b, 0.7]]")
    pairs = [_pair(name, pair) for pair in raw_pairs]
    values = tuple(value for value, _ in pairs)
    weights = tuple(weight for _, weight in pairs)
    total = math.fsum(weights)
    # Polyaxon accepted a total below 1 (its reference example sums to 0.9); draws then use
    # the probabilities in proportion, and the spec parser warns. Above 1 is an error.
    if total > 1 + PVALUES_TOLERANCE or total <= 0:
        fail(name, f"pvalues probabilities must sum to 1, got {total:g}")
    _no_repeats(name, "pvalues", values)
    return Entry("pvalues", values, weights)


def _parse_number_text(name: str, kind: str, text: str, part: str) -> Num:
    part = part.strip()
    if _INT_RE.fullmatch(part):
        return int(part)
    if _FLOAT_RE.fullmatch(part):
        return float(part)
    fail(name, f"{kind} string {text!r} contains {part!r}, which is not a number")


def _from_mapping(name: str, kind: str, spec: NumericKind, raw: Mapping[Any, Any]) -> list[object]:
    for key in raw:
        if key not in spec.all_keys:
            close = difflib.get_close_matches(str(key), spec.all_keys, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            fail(name, f"{kind} has no argument {key!r}{hint}; it takes {', '.join(spec.all_keys)}")
    missing = [key for key in spec.keys if key not in raw]
    if missing:
        fail(name, f"{kind} is missing {', '.join(missing)}")
    return [raw[key] for key in spec.all_keys if key in raw]


def _numeric_items(name: str, kind: str, spec: NumericKind, raw: object) -> list[object]:
    """Return the raw arguments of any of the three forms, in list order."""
    if isinstance(raw, str):
        return [_parse_number_text(name, kind, raw, part) for part in raw.split(":")]
    if isinstance(raw, Mapping):
        return _from_mapping(name, kind, spec, raw)
    if isinstance(raw, list | tuple):
        return list(raw)
    keys = spec.keys
    fail(
        name,
        f"{kind} expects a list [{', '.join(keys)}], a mapping with keys {', '.join(keys)}, "
        f"or a string '{':'.join(keys)}', got {show(raw)}",
    )


def _number(name: str, kind: str, key: str, value: object) -> Num:
    if isinstance(value, str):
        fail(
            name,
            f"{kind} {key} must be a number, got {show(value)}; write numbers unquoted, "
            "or the whole argument as one string like '0:1'",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(name, f"{kind} {key} must be a number, got {show(value)}")
    if not math.isfinite(value):
        fail(name, f"{kind} {key} must be a finite number, got {value}")
    if key == "num" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _arity(spec: NumericKind) -> str:
    count = str(len(spec.keys))
    if spec.optional:
        count += f" or {len(spec.all_keys)}"
    return f"{count} numbers [{', '.join(spec.all_keys)}]"


def _parse_numeric(name: str, kind: str, raw: object) -> Entry:
    spec = NUMERIC[kind]
    items = _numeric_items(name, kind, spec, raw)
    if not len(spec.keys) <= len(items) <= len(spec.all_keys):
        fail(name, f"{kind} takes {_arity(spec)}, got {len(items)}")
    numbers = {
        key: _number(name, kind, key, v) for key, v in zip(spec.all_keys, items, strict=False)
    }
    for key, default in spec.optional:
        numbers.setdefault(key, default)
    for check in spec.checks:
        problem = check(numbers)
        if problem:
            fail(name, f"{kind} {problem}")
    return Entry(kind, tuple(numbers[key] for key in spec.all_keys))


def read_entry(name: str, value: object) -> Entry:
    """Read one matrix entry, e.g. ``{"uniform": [0, 0.9]}``, raising SpaceError if invalid."""
    if not isinstance(name, str) or not name:
        raise SpaceError(f"Parameter names must be non-empty strings, got {show(name)}.")
    kind, raw = _kind_of(name, value)
    if kind == "values":
        return _parse_values(name, raw)
    if kind == "pvalues":
        return _parse_pvalues(name, raw)
    return _parse_numeric(name, kind, raw)
