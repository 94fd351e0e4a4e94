"""Hyperparameter search spaces: Polyaxon v0 ``matrix`` kinds, seeded sampling and grids.

Pure Python (no Django, no numpy): randomness comes from an injected ``random.Random``.

Choices, where Polyaxon v0 was silent or buggy:

- Every value is a plain Python scalar, so configs serialize to JSON. Non-finite numbers are
  rejected for the same reason.
- Numeric kinds accept a list ``[a, b, c]``, a mapping (``{low: a, high: b}``...) or a string
  ``"a:b:c"``. Quoted numbers inside a list are rejected rather than guessed at.
- ``range`` yields ints when start, stop and step are all ints, floats otherwise. Float values
  are computed exactly from the decimals written (``start + k*step`` with fractions), so
  ``0:1:0.1`` has 10 values ending at ``0.9``, never ``0.9000000000000001`` or an 11th value.
- ``linspace``, ``logspace`` and ``geomspace`` yield floats (as numpy does) with exact endpoints.
  Descending progressions are allowed; ``geomspace`` accepts two negative bounds (as numpy).
  Equal start and stop with ``num > 1`` is rejected: the values would all be the same config.
- q-kinds return ``round(x / q) * q`` (Polyaxon floored); an int when every argument is an int,
  else a float with q's decimals. As in hyperopt, rounding may step just outside [low, high].
  ``qlognormal`` applies q (Polyaxon forgot to). ``exp`` is clamped so a far tail cannot
  overflow.
- ``values`` and ``pvalues`` may not repeat a value: every grid point is a distinct config.
  ``pvalues`` probabilities are in [0, 1] and sum to 1 within 1e-6; a value of probability 0
  is never drawn independently.
- A discrete space is sampled without replacement by successive sampling: each draw picks
  among the configs not drawn yet with probability proportional to its weight (the product
  of its pvalues probabilities). Zero-weight configs come only after all the others.
"""

from __future__ import annotations

import difflib
import heapq
import itertools
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, NoReturn

Num = int | float
Check = Callable[[dict[str, Num]], str | None]

KINDS: tuple[str, ...] = (
    "values",
    "pvalues",
    "range",
    "linspace",
    "logspace",
    "geomspace",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
)
DISCRETE_KINDS: frozenset[str] = frozenset(KINDS[:6])

PVALUES_TOLERANCE = 1e-6
# math.exp overflows a float just above 709.78.
_MAX_EXP = 709.0
# Discrete spaces this small (or not much bigger than the request) are sampled exactly by
# ranking every config; bigger ones by rejecting repeats, which never touches the whole grid.
_ENUMERATE_AT_MOST = 10_000
# When repeats are rejected too often (weights piled on few configs), rank every config
# instead, but only up to this size.
_FALLBACK_AT_MOST = 10**6

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class SpaceError(ValueError):
    """A matrix entry that does not describe a valid search space."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _fail(name: str, problem: str) -> NoReturn:
    raise SpaceError(f"Parameter '{name}': {problem}.", param=name)


def _fmt(value: object) -> str:
    """Write a scalar the way a YAML author would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str) else repr(value)


def _show(value: object) -> str:
    """Name a wrong value in an error message."""
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool) or value is None:
        return _fmt(value)
    if isinstance(value, Mapping | list | tuple):
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        return f"{'a mapping' if isinstance(value, Mapping) else 'a list'} {text}"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _exact(x: Num) -> Fraction:
    """Return the decimal the user wrote, exactly (a float's repr is its shortest decimal)."""
    return Fraction(x) if isinstance(x, int) else Fraction(repr(x))


def _all_int(args: Sequence[Any]) -> bool:
    return all(isinstance(a, int) for a in args)


# --- discrete numeric kinds: count and value at an index -----------------------------------


def _range_count(args: Sequence[Num]) -> int:
    start, stop, step = args
    return max(0, math.ceil((_exact(stop) - _exact(start)) / _exact(step)))


def _range_at(args: Sequence[Num], i: int) -> Num:
    start, stop, step = args
    if _all_int(args):
        return int(start) + i * int(step)
    return float(_exact(start) + i * _exact(step))


def _num(args: Sequence[Num]) -> int:
    return int(args[2])


def _linspace_at(args: Sequence[Num], i: int) -> float:
    start, stop, num = args[:3]
    if num == 1:  # the only value is start, as in numpy
        return float(start)
    # Exact fractions: the endpoint is stop itself, not start + (num-1)*delta rounded.
    return float(_exact(start) + (_exact(stop) - _exact(start)) * i / int(num - 1))


def _logspace_at(args: Sequence[Num], i: int) -> float:
    return math.pow(args[3], _linspace_at(args, i))


def _geomspace_at(args: Sequence[Num], i: int) -> float:
    start, stop, num = args
    if i in (0, num - 1):
        return float(start if i == 0 else stop)
    low, high = math.log10(abs(start)), math.log10(abs(stop))
    return math.copysign(10 ** (low + (high - low) * i / (num - 1)), start)


# --- continuous kinds ------------------------------------------------------------------------


def _q(x: float, q: Num, as_int: bool) -> Num:
    """Round x to the nearest multiple of q."""
    k = round(x / q)
    return k * int(q) if as_int else float(k * _exact(q))


def _exp(x: float) -> float:
    # Clamped: a 10-sigma lognormal tail must not crash a sweep with OverflowError.
    return math.exp(min(x, _MAX_EXP))


def _uniform(rng: random.Random, a: Sequence[Num]) -> float:
    low, high = a[0], a[1]
    u = rng.random()
    # A weighted mean, not low + (high - low) * u: high - low overflows for huge bounds.
    # Rounding can still step an ulp outside, hence the clamp.
    return float(min(max(low * (1 - u) + high * u, low), high))


def _normal(rng: random.Random, a: Sequence[Num]) -> float:
    return rng.normalvariate(a[0], a[1])


# --- argument checks: each returns the problem, or None --------------------------------------


def _positive(key: str) -> Check:
    def check(a: dict[str, Num]) -> str | None:
        return None if a[key] > 0 else f"{key} must be positive, got {_fmt(a[key])}"

    return check


def _less(low: str, high: str) -> Check:
    def check(a: dict[str, Num]) -> str | None:
        if a[low] < a[high]:
            return None
        return f"{low} must be less than {high}, got {low}={_fmt(a[low])}, {high}={_fmt(a[high])}"

    return check


def _exp_safe(key: str) -> Check:
    def check(a: dict[str, Num]) -> str | None:
        if a[key] <= _MAX_EXP:
            return None
        return f"{key} must be at most {_MAX_EXP:g} (it is a natural-log exponent), got {a[key]}"

    return check


def _whole_num(a: dict[str, Num]) -> str | None:
    num = a["num"]
    return (
        None if isinstance(num, int) and num >= 1 else f"num must be a whole number >= 1, got {num}"
    )


def _distinct_ends(a: dict[str, Num]) -> str | None:
    if a["num"] == 1 or a["start"] != a["stop"]:
        return None
    return f"start and stop are both {_fmt(a['start'])}, so all {a['num']} values would be equal"


def _nonzero_step(a: dict[str, Num]) -> str | None:
    return None if a["step"] != 0 else "step must not be 0"


def _range_yields(a: dict[str, Num]) -> str | None:
    if _range_count((a["start"], a["stop"], a["step"])) > 0:
        return None
    return (
        f"start={_fmt(a['start'])}, stop={_fmt(a['stop'])}, step={_fmt(a['step'])} yields no value "
        "(stop is excluded; a positive step needs start < stop, a negative one start > stop)"
    )


def _base_ok(a: dict[str, Num]) -> str | None:
    if a["base"] > 0 and a["base"] != 1:
        return None
    return f"base must be positive and not 1, got {_fmt(a['base'])}"


def _same_sign(a: dict[str, Num]) -> str | None:
    if a["start"] * a["stop"] > 0:
        return None
    return (
        "start and stop must be non-zero and of the same sign (a geometric progression "
        f"cannot reach or cross 0), got start={_fmt(a['start'])}, stop={_fmt(a['stop'])}"
    )


@dataclass(frozen=True)
class _Numeric:
    """How one numeric kind is written, checked and evaluated."""

    keys: tuple[str, ...]  # required arguments, in list order
    checks: tuple[Check, ...]
    optional: tuple[tuple[str, Num], ...] = ()  # trailing arguments with their defaults
    draw: Callable[[random.Random, Sequence[Num]], Num] | None = None  # continuous kinds
    count: Callable[[Sequence[Num]], int] | None = None  # discrete kinds
    at: Callable[[Sequence[Num], int], Num] | None = None  # discrete kinds

    @property
    def all_keys(self) -> tuple[str, ...]:
        return self.keys + tuple(key for key, _ in self.optional)


_SPACED = ("start", "stop", "num")
_LOW_HIGH = _less("low", "high")
_Q = _positive("q")
_SCALE = _positive("scale")

_NUMERIC: dict[str, _Numeric] = {
    "range": _Numeric(
        ("start", "stop", "step"), (_nonzero_step, _range_yields), count=_range_count, at=_range_at
    ),
    "linspace": _Numeric(_SPACED, (_whole_num, _distinct_ends), count=_num, at=_linspace_at),
    "logspace": _Numeric(
        _SPACED,
        (_whole_num, _base_ok, _distinct_ends),
        optional=(("base", 10),),
        count=_num,
        at=_logspace_at,
    ),
    "geomspace": _Numeric(
        _SPACED, (_whole_num, _same_sign, _distinct_ends), count=_num, at=_geomspace_at
    ),
    "uniform": _Numeric(("low", "high"), (_LOW_HIGH,), draw=_uniform),
    "quniform": _Numeric(
        ("low", "high", "q"),
        (_LOW_HIGH, _Q),
        draw=lambda r, a: _q(_uniform(r, a), a[2], _all_int(a)),
    ),
    "loguniform": _Numeric(
        ("low", "high"),
        (_LOW_HIGH, _exp_safe("high")),
        draw=lambda r, a: math.exp(_uniform(r, a)),
    ),
    "qloguniform": _Numeric(
        ("low", "high", "q"),
        (_LOW_HIGH, _exp_safe("high"), _Q),
        draw=lambda r, a: _q(math.exp(_uniform(r, a)), a[2], _all_int(a)),
    ),
    "normal": _Numeric(("loc", "scale"), (_SCALE,), draw=_normal),
    "qnormal": _Numeric(
        ("loc", "scale", "q"),
        (_SCALE, _Q),
        draw=lambda r, a: _q(_normal(r, a), a[2], _all_int(a)),
    ),
    "lognormal": _Numeric(
        ("loc", "scale"), (_SCALE, _exp_safe("loc")), draw=lambda r, a: _exp(_normal(r, a))
    ),
    "qlognormal": _Numeric(
        ("loc", "scale", "q"),
        (_SCALE, _exp_safe("loc"), _Q),
        draw=lambda r, a: _q(_exp(_normal(r, a)), a[2], _all_int(a)),
    ),
}


@dataclass(frozen=True)
class Distribution:
    """One hyperparameter: its kind and normalized arguments.

    ``args`` holds the values for ``values``/``pvalues`` (``weights`` the probabilities of
    ``pvalues``), else the numbers in list order (``logspace`` always has its base, 4th).
    """

    name: str
    kind: str
    args: tuple[Any, ...]
    weights: tuple[float, ...] | None = None

    @property
    def is_discrete(self) -> bool:
        """Tell whether the parameter has a finite grid of values."""
        return self.kind in DISCRETE_KINDS

    @cached_property
    def size(self) -> int | None:
        """Return the number of grid values, or None for a continuous kind."""
        if self.kind in ("values", "pvalues"):
            return len(self.args)
        count = _NUMERIC[self.kind].count
        return None if count is None else count(self.args)

    def value_at(self, index: int) -> Any:
        """Return the grid value at index (0-based) without building the grid."""
        size = self.size
        if size is None or not 0 <= index < size:
            raise IndexError(f"{self.name}: no grid value at index {index}")
        at = _NUMERIC[self.kind].at if self.kind in _NUMERIC else None
        return self.args[index] if at is None else at(self.args, index)

    def sample(self, rng: random.Random) -> Any:
        """Draw one value."""
        if self.is_discrete:
            return self.value_at(self._draw_index(rng))
        draw = _NUMERIC[self.kind].draw
        assert draw is not None  # every continuous kind has a sampler
        return draw(rng, self.args)

    def grid(self) -> tuple[Any, ...]:
        """Return every value of a discrete parameter, in order."""
        if self.size is None:
            _fail(self.name, f"{self.kind} is continuous, so it has no grid of values")
        return tuple(self.value_at(i) for i in range(self.size))

    def describe(self) -> str:
        """Return a short human description, e.g. ``uniform(0, 0.9)``."""
        if self.kind == "pvalues":
            assert self.weights is not None
            pairs = (f"{_fmt(v)}: {_fmt(w)}" for v, w in zip(self.args, self.weights, strict=True))
            return f"pvalues({', '.join(pairs)})"
        shown = [_fmt(a) for a in self.args[:6]]
        if len(self.args) > 6:
            shown.append(f"... {len(self.args) - 6} more")
        if self.kind == "logspace" and self.args[3] == 10:
            shown.pop()
        elif self.kind == "logspace":
            shown[3] = f"base={shown[3]}"
        return f"{self.kind}({', '.join(shown)})"

    def to_dict(self) -> dict[str, list[Any]]:
        """Return the normalized YAML mapping, which parse_param reads back to an equal value."""
        if self.kind == "pvalues":
            assert self.weights is not None
            return {"pvalues": [[v, w] for v, w in zip(self.args, self.weights, strict=True)]}
        return {self.kind: list(self.args)}

    def _draw_index(self, rng: random.Random) -> int:
        if self.weights is not None:
            return rng.choices(range(len(self.weights)), weights=self.weights)[0]
        assert self.size is not None
        return rng.randrange(self.size)

    def _log_weight(self, index: int) -> float:
        if self.weights is None:
            return 0.0
        weight = self.weights[index]
        return math.log(weight) if weight > 0 else -math.inf


# --- parsing ---------------------------------------------------------------------------------


def _kind_of(name: str, value: object) -> tuple[str, object]:
    """Return the single kind key of a matrix entry and its argument."""
    if not isinstance(value, Mapping):
        _fail(
            name, f"expected a mapping with one kind, e.g. {{uniform: [0, 1]}}, got {_show(value)}"
        )
    if len(value) != 1:
        given = ", ".join(str(k) for k in value) or "none"
        _fail(name, f"exactly one kind is needed (one of {', '.join(KINDS)}), got {given}")
    ((kind, raw),) = value.items()
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind).lower(), KINDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(KINDS)}"
        _fail(name, f"unknown kind {kind!r} ({hint})")
    return str(kind), raw


def _scalar(name: str, kind: str, value: object) -> object:
    """Check that a values entry is a JSON scalar."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    _fail(name, f"{kind} entries must be strings, numbers, booleans or null, got {_show(value)}")


def _no_repeats(name: str, kind: str, values: Sequence[object]) -> None:
    # Keyed by type too: 1, 1.0 and true are different configs once serialized.
    seen: set[tuple[type, object]] = set()
    for value in values:
        key = (type(value), value)
        if key in seen:
            _fail(name, f"{kind} lists {_show(value)} twice; each value must appear once")
        seen.add(key)


def _nonempty_list(name: str, kind: str, raw: object, example: str) -> Sequence[object]:
    if not isinstance(raw, list | tuple):
        _fail(name, f"{kind} expects a list like {example}, got {_show(raw)}")
    if not raw:
        _fail(name, f"{kind} must list at least one value")
    return raw


def _parse_values(name: str, raw: object) -> Distribution:
    values = tuple(
        _scalar(name, "values", v) for v in _nonempty_list(name, "values", raw, "[a, b]")
    )
    _no_repeats(name, "values", values)
    return Distribution(name, "values", values)


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(name, f"pvalues probabilities must be numbers, got {_show(value)}")
    if not 0 <= value <= 1:
        _fail(name, f"pvalues probabilities must be between 0 and 1, got {_fmt(value)}")
    return float(value)


def _pair(name: str, pair: object) -> tuple[object, float]:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        _fail(name, f"each pvalues entry must be a [value, probability] pair, got {_show(pair)}")
    return _scalar(name, "pvalues", pair[0]), _probability(name, pair[1])


def _parse_pvalues(name: str, raw: object) -> Distribution:
    raw_pairs = _nonempty_list(name, "pvalues", raw, "[[a, 0.3], [b, 0.7]]")
    pairs = [_pair(name, pair) for pair in raw_pairs]
    values = tuple(value for value, _ in pairs)
    weights = tuple(weight for _, weight in pairs)
    total = math.fsum(weights)
    # Polyaxon accepted a total below 1 (its reference example sums to 0.9); draws then use
    # the probabilities in proportion, and the spec parser warns. Above 1 is an error.
    if total > 1 + PVALUES_TOLERANCE or total <= 0:
        _fail(name, f"pvalues probabilities must sum to 1, got {total:g}")
    _no_repeats(name, "pvalues", values)
    return Distribution(name, "pvalues", values, weights)


def _parse_number_text(name: str, kind: str, text: str, part: str) -> Num:
    part = part.strip()
    if _INT_RE.fullmatch(part):
        return int(part)
    if _FLOAT_RE.fullmatch(part):
        return float(part)
    _fail(name, f"{kind} string {text!r} contains {part!r}, which is not a number")


def _from_mapping(name: str, kind: str, spec: _Numeric, raw: Mapping[Any, Any]) -> list[object]:
    for key in raw:
        if key not in spec.all_keys:
            close = difflib.get_close_matches(str(key), spec.all_keys, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            _fail(
                name, f"{kind} has no argument {key!r}{hint}; it takes {', '.join(spec.all_keys)}"
            )
    missing = [key for key in spec.keys if key not in raw]
    if missing:
        _fail(name, f"{kind} is missing {', '.join(missing)}")
    return [raw[key] for key in spec.all_keys if key in raw]


def _numeric_items(name: str, kind: str, spec: _Numeric, raw: object) -> list[object]:
    """Return the raw arguments of any of the three forms, in list order."""
    if isinstance(raw, str):
        return [_parse_number_text(name, kind, raw, part) for part in raw.split(":")]
    if isinstance(raw, Mapping):
        return _from_mapping(name, kind, spec, raw)
    if isinstance(raw, list | tuple):
        return list(raw)
    keys = spec.keys
    _fail(
        name,
        f"{kind} expects a list [{', '.join(keys)}], a mapping with keys {', '.join(keys)}, "
        f"or a string '{':'.join(keys)}', got {_show(raw)}",
    )


def _number(name: str, kind: str, key: str, value: object) -> Num:
    if isinstance(value, str):
        _fail(
            name,
            f"{kind} {key} must be a number, got {_show(value)}; write numbers unquoted, "
            "or the whole argument as one string like '0:1'",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(name, f"{kind} {key} must be a number, got {_show(value)}")
    if not math.isfinite(value):
        _fail(name, f"{kind} {key} must be a finite number, got {value}")
    if key == "num" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _arity(spec: _Numeric) -> str:
    count = str(len(spec.keys))
    if spec.optional:
        count += f" or {len(spec.all_keys)}"
    return f"{count} numbers [{', '.join(spec.all_keys)}]"


def _parse_numeric(name: str, kind: str, raw: object) -> Distribution:
    spec = _NUMERIC[kind]
    items = _numeric_items(name, kind, spec, raw)
    if not len(spec.keys) <= len(items) <= len(spec.all_keys):
        _fail(name, f"{kind} takes {_arity(spec)}, got {len(items)}")
    numbers = {
        key: _number(name, kind, key, v) for key, v in zip(spec.all_keys, items, strict=False)
    }
    for key, default in spec.optional:
        numbers.setdefault(key, default)
    for check in spec.checks:
        problem = check(numbers)
        if problem:
            _fail(name, f"{kind} {problem}")
    return Distribution(name, kind, tuple(numbers[key] for key in spec.all_keys))


def parse_param(name: str, value: object) -> Distribution:
    """Parse one matrix entry, e.g. ``{"uniform": [0, 0.9]}``, into a Distribution."""
    if not isinstance(name, str) or not name:
        raise SpaceError(f"Parameter names must be non-empty strings, got {_show(name)}.")
    kind, raw = _kind_of(name, value)
    if kind == "values":
        return _parse_values(name, raw)
    if kind == "pvalues":
        return _parse_pvalues(name, raw)
    return _parse_numeric(name, kind, raw)


# --- the whole space -------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """The matrix: every hyperparameter, in YAML order."""

    params: tuple[Distribution, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        for name in names:
            if names.count(name) > 1:
                _fail(name, "is defined twice in the matrix")

    @property
    def is_discrete(self) -> bool:
        """Tell whether every parameter is discrete."""
        return all(p.is_discrete for p in self.params)

    @property
    def size(self) -> int | None:
        """Return the number of grid points when discrete, else None."""
        sizes = self._sizes()
        return None if sizes is None else math.prod(sizes)

    def grid(self) -> list[dict[str, Any]]:
        """Return every config of a discrete space (cartesian product, params in order)."""
        if not self.is_discrete:
            continuous = ", ".join(p.name for p in self.params if not p.is_discrete)
            raise SpaceError(f"The matrix has no grid because these are continuous: {continuous}.")
        names = [p.name for p in self.params]
        combos = itertools.product(*(p.grid() for p in self.params))
        return [dict(zip(names, combo, strict=True)) for combo in combos]

    def sample(self, rng: random.Random, n: int) -> list[dict[str, Any]]:
        """Draw n configs: distinct ones (at most size) if discrete, else independent ones."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        sizes = self._sizes()
        if sizes is None:
            return [{p.name: p.sample(rng) for p in self.params} for _ in range(n)]
        return [self._config(index) for index in self._distinct(rng, n, sizes)]

    def _sizes(self) -> list[int] | None:
        sizes = [p.size for p in self.params]
        return [s for s in sizes if s is not None] if None not in sizes else None

    def _config(self, index: tuple[int, ...]) -> dict[str, Any]:
        return {p.name: p.value_at(i) for p, i in zip(self.params, index, strict=True)}

    def _distinct(self, rng: random.Random, n: int, sizes: list[int]) -> list[tuple[int, ...]]:
        """Draw min(n, size) distinct index tuples by successive weighted sampling."""
        size = math.prod(sizes)
        if size <= max(2 * n, _ENUMERATE_AT_MOST):
            return self._ranked(rng, min(n, size), sizes)
        drawn = self._rejected(rng, n)
        if drawn is not None:
            return drawn
        if size > _FALLBACK_AT_MOST:
            raise SpaceError(
                f"Cannot draw {n} distinct configurations: the pvalues probabilities put "
                "nearly all the weight on fewer configurations. Ask for fewer, or spread "
                "the probabilities."
            )
        return self._ranked(rng, n, sizes)

    def _ranked(self, rng: random.Random, n: int, sizes: list[int]) -> list[tuple[int, ...]]:
        # Efraimidis-Spirakis: the n smallest Exp(1)/weight keys are a successive sample.
        keyed = ((self._key(rng, ix), ix) for ix in itertools.product(*map(range, sizes)))
        return [ix for _, ix in heapq.nsmallest(n, keyed)]

    def _key(self, rng: random.Random, index: tuple[int, ...]) -> tuple[float, float]:
        # In logs: a product of many small probabilities would underflow to 0.
        log_weight = sum(p._log_weight(i) for p, i in zip(self.params, index, strict=True))
        exponential = -math.log(1.0 - rng.random())
        tie = rng.random()  # orders zero-weight configs (all ranked +inf) randomly
        if log_weight == -math.inf:
            return math.inf, tie
        log_e = math.log(exponential) if exponential > 0 else -math.inf
        return log_e - log_weight, tie

    def _rejected(self, rng: random.Random, n: int) -> list[tuple[int, ...]] | None:
        # Drawing by weight and skipping repeats is exactly successive sampling; the budget
        # only runs out when the weight sits on too few configs.
        seen: dict[tuple[int, ...], None] = {}  # an insertion-ordered set
        for _ in range(4 * n + 1000):
            if len(seen) == n:
                break
            seen.setdefault(tuple(p._draw_index(rng) for p in self.params))
        return list(seen) if len(seen) == n else None


def parse_matrix(matrix: Mapping[str, object]) -> Space:
    """Parse a whole ``matrix`` mapping into a Space, raising SpaceError on the first problem."""
    if not isinstance(matrix, Mapping):
        raise SpaceError(
            f"The matrix must map parameter names to kinds, e.g. "
            f"{{lr: {{uniform: [0, 1]}}}}, got {_show(matrix)}."
        )
    if not matrix:
        raise SpaceError("The matrix is empty; define at least one hyperparameter.")
    return Space(tuple(parse_param(name, value) for name, value in matrix.items()))
