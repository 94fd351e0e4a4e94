"""The matrix kinds, and how each numeric kind is written, checked and evaluated.

``NUMERIC`` has one row per numeric kind: its argument names in list order, the checks on
their values, and either a count and value-at-index (discrete kinds) or a sampler
(continuous kinds). ``values`` and ``pvalues`` are not numeric and have no row.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from scheduler.space_errors import fmt

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

# math.exp overflows a float just above 709.78.
MAX_EXP = 709.0


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
    return math.exp(min(x, MAX_EXP))


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
        return None if a[key] > 0 else f"{key} must be positive, got {fmt(a[key])}"

    return check


def _less(low: str, high: str) -> Check:
    def check(a: dict[str, Num]) -> str | None:
        if a[low] < a[high]:
            return None
        return f"{low} must be less than {high}, got {low}={fmt(a[low])}, {high}={fmt(a[high])}"

    return check


def _exp_safe(key: str) -> Check:
    def check(a: dict[str, Num]) -> str | None:
        if a[key] <= MAX_EXP:
            return None
        return f"{key} must be at most {MAX_EXP:g} (it is a natural-log exponent), got {a[key]}"

    return check


def _whole_num(a: dict[str, Num]) -> str | None:
    num = a["num"]
    return (
        None if isinstance(num, int) and num >= 1 else f"num must be a whole number >= 1, got {num}"
    )


def _distinct_ends(a: dict[str, Num]) -> str | None:
    if a["num"] == 1 or a["start"] != a["stop"]:
        return None
    return f"start and stop are both {fmt(a['start'])}, so all {a['num']} values would be equal"


def _nonzero_step(a: dict[str, Num]) -> str | None:
    return None if a["step"] != 0 else "step must not be 0"


def _range_yields(a: dict[str, Num]) -> str | None:
    if _range_count((a["start"], a["stop"], a["step"])) > 0:
        return None
    return (
        f"start={fmt(a['start'])}, stop={fmt(a['stop'])}, step={fmt(a['step'])} yields no value "
        "(stop is excluded; a positive step needs start < stop, a negative one start > stop)"
    )


def _base_ok(a: dict[str, Num]) -> str | None:
    if a["base"] > 0 and a["base"] != 1:
        return None
    return f"base must be positive and not 1, got {fmt(a['base'])}"


def _same_sign(a: dict[str, Num]) -> str | None:
    if a["start"] * a["stop"] > 0:
        return None
    return (
        "start and stop must be non-zero and of the same sign (a geometric progression "
        f"cannot reach or cross 0), got start={fmt(a['start'])}, stop={fmt(a['stop'])}"
    )


@dataclass(frozen=True)
class NumericKind:
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

NUMERIC: dict[str, NumericKind] = {
    "range": NumericKind(
        ("start", "stop", "step"), (_nonzero_step, _range_yields), count=_range_count, at=_range_at
    ),
    "linspace": NumericKind(_SPACED, (_whole_num, _distinct_ends), count=_num, at=_linspace_at),
    "logspace": NumericKind(
        _SPACED,
        (_whole_num, _base_ok, _distinct_ends),
        optional=(("base", 10),),
        count=_num,
        at=_logspace_at,
    ),
    "geomspace": NumericKind(
        _SPACED, (_whole_num, _same_sign, _distinct_ends), count=_num, at=_geomspace_at
    ),
    "uniform": NumericKind(("low", "high"), (_LOW_HIGH,), draw=_uniform),
    "quniform": NumericKind(
        ("low", "high", "q"),
        (_LOW_HIGH, _Q),
        draw=lambda r, a: _q(_uniform(r, a), a[2], _all_int(a)),
    ),
    "loguniform": NumericKind(
        ("low", "high"),
        (_LOW_HIGH, _exp_safe("high")),
        draw=lambda r, a: math.exp(_uniform(r, a)),
    ),
    "qloguniform": NumericKind(
        ("low", "high", "q"),
        (_LOW_HIGH, _exp_safe("high"), _Q),
        draw=lambda r, a: _q(math.exp(_uniform(r, a)), a[2], _all_int(a)),
    ),
    "normal": NumericKind(("loc", "scale"), (_SCALE,), draw=_normal),
    "qnormal": NumericKind(
        ("loc", "scale", "q"),
        (_SCALE, _Q),
        draw=lambda r, a: _q(_normal(r, a), a[2], _all_int(a)),
    ),
    "lognormal": NumericKind(
        ("loc", "scale"), (_SCALE, _exp_safe("loc")), draw=lambda r, a: _exp(_normal(r, a))
    ),
    "qlognormal": NumericKind(
        ("loc", "scale", "q"),
        (_SCALE, _exp_safe("loc"), _Q),
        draw=lambda r, a: _q(_exp(_normal(r, a)), a[2], _all_int(a)),
    ),
}
