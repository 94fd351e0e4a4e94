"""Hyperband plans: exact bracket and rung sizing, and rung promotion.

Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization", JMLR 18 (2018), Algorithm 1, with R = max_iter::

    s_max = floor(log_eta(R));  B = (s_max + 1) * R
    for s in s_max, s_max - 1, ..., 0:                  # one bracket per s
        n = ceil(B / R * eta**s / (s + 1));  r = R * eta**-s
        T = sample n configurations
        for i in 0, ..., s:                             # successive halving, s+1 rungs
            n_i = floor(n * eta**-i);  r_i = r * eta**i
            L = {run t with r_i resource: t in T}
            T = the floor(n_i / eta) best of T by L
    return the best configuration seen

Everything here is exact: ``s_max`` comes from integer/Fraction powers (floating
``math.log`` floors log_3(243) and log_10(1000) one too low), config counts are integer
divisions and resources are ``Fraction``s, so the top rung gets exactly R.

Sizing. ``ALGORITHM1`` (the default) is n(s) above: 81/34/15/8/5 configs for R=81, eta=3.
``TABLE1`` reproduces the paper's Table 1 (and Polyaxon's documentation table), which
truncates (s_max+1)/(s+1) to an integer before scaling: n(s) = floor((s_max+1)/(s+1)) *
eta**s, giving 81/27/9/6/5. It is an explicit option, never a silent default.

This module imports no Django: plans are plain frozen dataclasses built from plain numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeGuard

from . import metric_values

ALGORITHM1 = "algorithm1"
TABLE1 = "table1"
SINGLE = "single"
SIZINGS = (ALGORITHM1, TABLE1)
RESOURCE_TYPES = ("int", "float")
SINGLE_RUNG_ALGORITHMS = ("random_search", "grid_search", "bo")


def render_resource(value: Fraction, resource_type: str) -> int | float:
    """Return the resource a trial actually gets: floored for "int", nearest for "float"."""
    _check_resource_type(resource_type)
    if resource_type == "int":
        return value.numerator // value.denominator  # exact floor, as an int
    return float(value)


@dataclass(frozen=True)
class Rung:
    """One rung of a bracket: ``configs`` trials, each run at ``resource``."""

    index: int
    configs: int
    resource: Fraction | None

    def resource_value(self, resource_type: str) -> int | float | None:
        """Return this rung's resource rendered for the resource type (None if it has none)."""
        if self.resource is None:
            _check_resource_type(resource_type)
            return None
        return render_resource(self.resource, resource_type)


@dataclass(frozen=True)
class Bracket:
    """One successive-halving run: rung 0 samples ``n_configs``, each later rung keeps 1/eta."""

    s: int
    rungs: tuple[Rung, ...]
    capped: bool = False

    @property
    def n_configs(self) -> int:
        """Return how many configurations the bracket samples."""
        return self.rungs[0].configs

    @property
    def n_trials(self) -> int:
        """Return how many trials the bracket runs over all its rungs."""
        return sum(rung.configs for rung in self.rungs)

    @property
    def total_resource(self) -> Fraction:
        """Return the exact resource spent over all rungs (0 when rungs have no resource)."""
        return sum((_rung_resource(rung) for rung in self.rungs), Fraction(0))

    def keep(self, rung_index: int) -> int:
        """Return how many configs rung ``rung_index`` promotes (0 for the top rung)."""
        if not 0 <= rung_index < len(self.rungs):
            raise IndexError(f"bracket s={self.s} has no rung {rung_index}")
        if rung_index == len(self.rungs) - 1:
            return 0
        return self.rungs[rung_index + 1].configs


@dataclass(frozen=True)
class Plan:
    """A whole sweep's schedule: brackets ordered s = s_max down to 0."""

    algorithm: str
    max_iter: Fraction | None
    eta: int | None
    sizing: str
    brackets: tuple[Bracket, ...]
    # bo only: (random configs, suggested configs), which sum to the one rung's configs.
    budget: tuple[int, int] | None = None

    @property
    def total_configs(self) -> int:
        """Return how many configurations the sweep samples."""
        return sum(bracket.n_configs for bracket in self.brackets)

    @property
    def total_trials(self) -> int:
        """Return how many trials the sweep runs."""
        return sum(bracket.n_trials for bracket in self.brackets)

    @property
    def total_resource(self) -> Fraction:
        """Return the exact resource summed over every trial (0 when there is no resource)."""
        return sum((bracket.total_resource for bracket in self.brackets), Fraction(0))

    def bracket(self, s: int) -> Bracket:
        """Return the bracket with this s; raise KeyError if the plan has none."""
        for bracket in self.brackets:
            if bracket.s == s:
                return bracket
        raise KeyError(f"plan has no bracket s={s}")

    def total_resource_value(self, resource_type: str = "int") -> int | float:
        """Return the resource trials will actually get in total, from rendered rung values."""
        total = Fraction(0)
        for bracket in self.brackets:
            for rung in bracket.rungs:
                value = rung.resource_value(resource_type)
                # Fraction(float) is exact, so only the final conversion rounds.
                total += rung.configs * Fraction(value or 0)
        return int(total) if resource_type == "int" else float(total)

    def to_dict(self, resource_type: str = "int") -> dict[str, Any]:
        """Return a JSON-ready dict of the plan with resources rendered for the type."""
        max_iter = None if self.max_iter is None else render_resource(self.max_iter, resource_type)
        budget = None
        if self.budget is not None:
            budget = {"n_initial_trials": self.budget[0], "n_iterations": self.budget[1]}
        return {
            "algorithm": self.algorithm,
            "max_iter": max_iter,
            "eta": self.eta,
            "sizing": self.sizing,
            "brackets": [_bracket_dict(bracket, resource_type) for bracket in self.brackets],
            "total_configs": self.total_configs,
            "total_trials": self.total_trials,
            "total_resource": self.total_resource_value(resource_type),
            "budget": budget,
        }


def s_max(max_iter: int | Fraction, eta: int) -> int:
    """Return the largest s with eta**s <= max_iter, by exact powers."""
    limit = _check_max_iter(max_iter)
    _check_eta(eta)
    s, power = 0, eta
    while power <= limit:
        s += 1
        power *= eta
    return s


def hyperband_plan(
    max_iter: int | Fraction,
    eta: int,
    *,
    sizing: str = ALGORITHM1,
    max_configs: int | None = None,
) -> Plan:
    """Plan Hyperband for max_iter and eta (see the module docstring for sizing).

    ``max_configs`` is the size of a small discrete search space: a bracket that wants more
    configs starts with ``max_configs`` and keeps ``max(1, max_configs // eta**i)`` at rung i.
    """
    limit = _check_max_iter(max_iter)
    _check_eta(eta)
    _check_sizing(sizing)
    _check_max_configs(max_configs)
    top = s_max(limit, eta)
    brackets = tuple(
        _hyperband_bracket(limit, eta, s, bracket_size(s, top, eta, sizing), max_configs)
        for s in range(top, -1, -1)
    )
    return Plan("hyperband", limit, eta, sizing, brackets)


def bracket_size(s: int, top: int, eta: int, sizing: str = ALGORITHM1) -> int:
    """Return n(s), the configs bracket s samples when the largest bracket is s_max=top."""
    if not 0 <= s <= top:
        raise ValueError(f"s must be in 0..{top}, got {s}")
    _check_sizing(sizing)
    scale: int = eta**s  # int ** non-negative int is an int; typeshed says Any
    if sizing == TABLE1:
        return (top + 1) // (s + 1) * scale
    # ceil((B/R) * eta**s / (s+1)) with B/R = s_max+1, as exact integer ceiling division.
    return -(-(top + 1) * scale // (s + 1))


def single_rung_plan(algorithm: str, n_configs: int, budget: tuple[int, int] | None = None) -> Plan:
    """Return a random/grid search or bo plan: one bracket s=0 with one rung, no resource.

    ``budget`` (bo only) splits ``n_configs`` into random and suggested configs.
    """
    if algorithm not in SINGLE_RUNG_ALGORITHMS:
        allowed = ", ".join(SINGLE_RUNG_ALGORITHMS)
        raise ValueError(f"algorithm must be one of {allowed}, got {algorithm!r}")
    if not _is_int(n_configs) or n_configs < 1:
        raise ValueError(f"n_configs must be an integer >= 1, got {n_configs!r}")
    if budget is not None and (sum(budget) != n_configs or min(budget) < 0):
        raise ValueError(f"budget {budget!r} must be two counts >= 0 summing to {n_configs}")
    bracket = Bracket(0, (Rung(0, n_configs, None),))
    return Plan(algorithm, None, None, SINGLE, (bracket,), budget)


def rank(results: Sequence[tuple[int, float | None, bool]], maximize: bool) -> list[int]:
    """Order trial ids best first; failed trials and those without a value (None or NaN)
    last, by id. Values rank as `metric_values.rank_key` says: -inf first when minimizing."""
    valid = [(tid, value) for tid, value, ok in results if ok and metric_values.counts(value)]
    ordered = sorted(valid, key=lambda r: (metric_values.rank_key(r[1], maximize), r[0]))
    valid_ids = {tid for tid, _ in valid}
    rest = sorted(tid for tid, _, _ in results if tid not in valid_ids)
    return [tid for tid, _ in ordered] + rest


def promote(
    results: Sequence[tuple[int, float | None, bool]], keep: int, maximize: bool
) -> list[int]:
    """Return the ids of the ``keep`` best trials of one finished rung, best first.

    ``results`` holds (trial_id, last metric value, succeeded) for every trial of the rung.
    Trials rank by value in the optimization direction (infinities included: -inf is the
    best of a minimized metric), ties by smaller trial id. A failed trial, or one whose value
    is None or NaN, is never promoted, even when too few good trials remain to fill ``keep``:
    then fewer than ``keep`` ids come back (possibly none).
    """
    if not _is_int(keep) or keep < 0:
        raise ValueError(f"keep must be an integer >= 0, got {keep!r}")
    valid = [r for r in results if r[2] and metric_values.counts(r[1])]
    return rank(valid, maximize)[:keep]


def _hyperband_bracket(
    limit: Fraction, eta: int, s: int, n: int, max_configs: int | None
) -> Bracket:
    capped = max_configs is not None and n > max_configs
    first = max_configs if capped and max_configs is not None else n
    base = limit / eta**s  # r(s) = R * eta**-s, exact
    rungs = tuple(
        Rung(i, _rung_configs(first, eta**i, capped), base * eta**i) for i in range(s + 1)
    )
    return Bracket(s, rungs, capped)


def _rung_configs(first: int, shrink: int, capped: bool) -> int:
    # A capped bracket still climbs to max_iter with at least one config.
    return max(1, first // shrink) if capped else first // shrink


def _rung_resource(rung: Rung) -> Fraction:
    return rung.configs * rung.resource if rung.resource is not None else Fraction(0)


def _bracket_dict(bracket: Bracket, resource_type: str) -> dict[str, Any]:
    rungs = [
        {
            "rung": rung.index,
            "configs": rung.configs,
            "resource": rung.resource_value(resource_type),
        }
        for rung in bracket.rungs
    ]
    return {"s": bracket.s, "capped": bracket.capped, "rungs": rungs}


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, but True as eta or a count is a bug upstream.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_max_iter(max_iter: int | Fraction) -> Fraction:
    if not (_is_int(max_iter) or isinstance(max_iter, Fraction)):
        raise ValueError(f"max_iter must be an int or Fraction, got {max_iter!r}")
    limit = Fraction(max_iter)
    if limit < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    return limit


def _check_eta(eta: int) -> None:
    if not _is_int(eta):
        raise ValueError(f"eta must be an integer, got {eta!r}")
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")


def _check_sizing(sizing: str) -> None:
    if sizing not in SIZINGS:
        raise ValueError(f"sizing must be one of {', '.join(SIZINGS)}, got {sizing!r}")


def _check_max_configs(max_configs: int | None) -> None:
    if max_configs is None:
        return
    if not _is_int(max_configs) or max_configs < 1:
        raise ValueError(f"max_configs must be an integer >= 1, got {max_configs!r}")


def _check_resource_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        allowed = ", ".join(RESOURCE_TYPES)
        raise ValueError(f"resource_type must be one of {allowed}, got {resource_type!r}")
