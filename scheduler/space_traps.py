"""Matrix entries that are valid but probably do not mean what their author meant.

Polyaxon v0's log kinds take exponents, not values (polyaxon_schemas.ops.group.matrix:
`loguniform` is `np.exp(uniform(low, high))`, `lognormal` is `rng.lognormal(mean=loc,
sigma=scale)`, `logspace` is `np.logspace(start, stop, num)`, i.e. `base ** linspace`). Bounds
written as the values wanted, `loguniform: [0.0001, 0.1]`, silently sample 1.0001..1.105.
`range` excludes its stop (`np.arange`), which a float step makes easy to forget.

`traps(dist)` returns a warning for each such entry, naming what will be sampled and what was
probably meant. Pure Python: no Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from scheduler.space import Distribution
from scheduler.space_errors import fmt

# The normal's central 95%: exp(loc ± 1.96·scale) bounds 95% of lognormal draws.
_Z95 = 1.96


def _short(x: float) -> str:
    return f"{x:.5g}"


def _looks_like_values(low: float, high: float) -> bool:
    """Both bounds in (0, 1]: written as the values wanted rather than their logarithms."""
    return 0 < low <= 1 and 0 < high <= 1


def _log_uniform(dist: Distribution) -> str | None:
    low, high = dist.args[0], dist.args[1]
    if not _looks_like_values(low, high):
        return None
    rest = "".join(f", {fmt(a)}" for a in dist.args[2:])
    return (
        f"{dist.kind} bounds are natural-log exponents: [{fmt(low)}, {fmt(high)}{rest}] samples "
        f"exp({fmt(low)})..exp({fmt(high)}) = {_short(math.exp(low))}..{_short(math.exp(high))}; "
        f"for values from {fmt(low)} to {fmt(high)} write "
        f"[{math.log(low):.2f}, {math.log(high):.2f}{rest}] (ln of each)"
    )


def _log_normal(dist: Distribution) -> str | None:
    loc, scale = dist.args[0], dist.args[1]
    if not (0 < loc < 1 and scale <= loc):
        return None
    low, high = math.exp(loc - _Z95 * scale), math.exp(loc + _Z95 * scale)
    return (
        f"{dist.kind} takes the mean and standard deviation of the value's natural log: "
        f"[{fmt(loc)}, {fmt(scale)}] samples exp(normal({fmt(loc)}, {fmt(scale)})), 95% within "
        f"{_short(low)}..{_short(high)}; for values around {fmt(loc)} write loc "
        f"{math.log(loc):.2f} (its ln)"
    )


def _log_space(dist: Distribution) -> str | None:
    start, stop, num, base = dist.args
    if not _looks_like_values(start, stop):
        return None
    exponents = [round(math.log(x, base), 2) for x in (start, stop)]
    meant = ", ".join(f"{e:g}" for e in exponents)
    extra = "" if base == 10 else f", {fmt(base)}"
    return (
        f"logspace bounds are exponents of {fmt(base)}: [{fmt(start)}, {fmt(stop)}, {num}{extra}] "
        f"gives {_short(base**start)}..{_short(base**stop)}; for values from {fmt(start)} to "
        f"{fmt(stop)} write [{meant}, {num}{extra}] (log{fmt(base)} of each)"
    )


def _float_range(dist: Distribution) -> str | None:
    start, stop, step = dist.args
    if all(isinstance(a, int) for a in dist.args):
        return None
    steps = (Fraction(repr(stop)) - Fraction(repr(start))) / Fraction(repr(step))
    if steps.denominator != 1 or dist.size is None:
        return None  # stop is not on the grid, so nobody expects it
    n = dist.size
    return (
        f"range excludes its stop (as numpy.arange): {n} values from {fmt(dist.value_at(0))} to "
        f"{fmt(dist.value_at(n - 1))}, not {fmt(stop)}; "
        f"linspace: [{fmt(start)}, {fmt(stop)}, {n + 1}] includes it"
    )


_CHECKS: dict[str, Callable[[Distribution], str | None]] = {
    "loguniform": _log_uniform,
    "qloguniform": _log_uniform,
    "lognormal": _log_normal,
    "qlognormal": _log_normal,
    "logspace": _log_space,
    "range": _float_range,
}


def traps(dist: Distribution) -> list[str]:
    """Return warnings for an entry whose written numbers probably mean something else."""
    check = _CHECKS.get(dist.kind)
    message = check(dist) if check is not None else None
    return [] if message is None else [f"Parameter '{dist.name}': {message}"]
