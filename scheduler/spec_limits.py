"""Bounds on a polyaxonfile, so whatever validates is small enough to plan and safe to sample.

Pure Python (no Django). Two passes, both reporting `Issue`s with line and column:

- `check_counts(text)` reads the YAML event stream (libyaml's C parser when PyYAML has it)
  before the document is built, and stops at the first container over its limit: at most
  `MAX_PARAMS` matrix parameters, `MAX_RULES` early-stopping rules, `MAX_ITEMS` entries in
  any other list or mapping (so a `values` list too) and `MAX_NODES` values in all. A file of
  tens of thousands of parameters is refused after reading a few kilobytes, which keeps
  validation time linear and small.
- `check_spec(doc, spec, max_plan_trials)` runs on the validated spec: its plan must have at
  most `max_plan_trials` trials (reported at `max_iter` or `n_experiments`), and every matrix
  parameter must draw finite values (`sampleable`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from scheduler import planning, yamlsource
from scheduler.space import Distribution
from scheduler.space_kinds import NUMERIC
from scheduler.spec_types import Issue, SweepSpec

MAX_PARAMS = 1_000
MAX_RULES = 100
MAX_ITEMS = 10_000
MAX_NODES = 20_000
DEFAULT_MAX_PLAN_TRIALS = 100_000

# Python's `random.normalvariate` (Kinderman-Monahan ratio of uniforms) returns mu + z*sigma
# with z*z <= -4*ln(u2) and u2 >= 2**-53, so |z| <= sqrt(4 * 53 * ln 2) < 12.2.
_NORMAL_REACH = 12.2
# The largest u `random.random()` returns is 1 - 2**-53.
_UNIFORM_DRAWS = (0.0, 0.5, 1.0 - 2.0**-53)
# Beyond 2**53 multiples of q, rounding to q is below a float's precision.
_MAX_Q_STEPS = 2.0**53

_LIMITED: dict[tuple[Hashable, ...], int] = {
    ("hptuning", "matrix"): MAX_PARAMS,
    ("hptuning", "early_stopping"): MAX_RULES,
}
_WHAT: dict[tuple[Hashable, ...], str] = {
    ("hptuning", "matrix"): "parameters",
    ("hptuning", "early_stopping"): "rules",
}


# --- counts, from the event stream ------------------------------------------------------------


def check_counts(text: str) -> list[Issue]:
    """Return the first count over its limit as an issue, or nothing.

    YAML errors are left to the full parse, which reports them; so is nesting beyond
    `yamlsource.MAX_DEPTH`, where this pass stops.
    """
    try:
        return _count(_events(text))
    except yaml.YAMLError:
        return []


# libyaml's parser when PyYAML was built with it: events only, no Python per character.
_FastParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)


def _events(text: str) -> Iterator[Any]:
    loader = _FastParser(text) if _FastParser is not None else yaml.SafeLoader(text)
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            yield event
    finally:
        loader.dispose()


class _Open:
    """A list or mapping being read: its path, how many entries so far, the pending key."""

    def __init__(self, path: tuple[Hashable, ...], is_mapping: bool) -> None:
        self.path, self.is_mapping = path, is_mapping
        self.entries, self.key, self.expect_key = 0, None, True


def _count(events: Iterator[Any]) -> list[Issue]:
    stack: list[_Open] = []
    nodes = 0
    for event in events:
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            _after_value(stack)
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            return [_issue(event, f"the file holds more than {MAX_NODES} values")]
        problem = _entry(stack, event)
        if problem:
            return [problem]
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= yamlsource.MAX_DEPTH:
                return []  # the full parse reports the depth
            path = _child_path(stack)
            stack.append(_Open(path, isinstance(event, yaml.MappingStartEvent)))
        else:
            _after_value(stack, event)
    return []


def _entry(stack: list[_Open], event: Any) -> Issue | None:
    """Count a new list item or mapping key; return the issue when the container is full."""
    if not stack:
        return None
    top = stack[-1]
    if top.is_mapping and not top.expect_key:
        return None
    top.entries += 1
    limit = _LIMITED.get(top.path, MAX_ITEMS)
    if top.entries <= limit:
        return None
    what = _WHAT.get(top.path, "entries")
    where = ".".join(str(p) for p in top.path) or "the file"
    return _issue(event, f"{where} has more than the limit of {limit} {what}")


def _after_value(stack: list[_Open], event: Any = None) -> None:
    if not stack or not stack[-1].is_mapping:
        return
    top = stack[-1]
    if top.expect_key:
        top.key = event.value if isinstance(event, yaml.ScalarEvent) else None
    top.expect_key = not top.expect_key


def _child_path(stack: list[_Open]) -> tuple[Hashable, ...]:
    if not stack:
        return ()
    top = stack[-1]
    return (*top.path, top.key if top.is_mapping else "*")


def _issue(event: Any, message: str) -> Issue:
    mark = event.start_mark
    return Issue(mark.line + 1, mark.column + 1, message)


# --- the built spec -----------------------------------------------------------------------------


Report = Callable[[tuple[Hashable, ...], str], None]


def check_spec(spec: SweepSpec, max_plan_trials: int | None, report: Report) -> None:
    """Report a plan over `max_plan_trials` trials and matrix parameters that cannot be drawn.

    `report(path, message)` records an error at the value of a document path.
    """
    for param in spec.matrix.params:
        problem = sampleable(param)
        if problem:
            report(("hptuning", "matrix", param.name), f"Parameter '{param.name}': {problem}.")
    if max_plan_trials is None:
        return
    trials = planning.build_plan(spec).total_trials
    if trials > max_plan_trials:
        path, advice = _plan_knob(spec)
        message = (
            f"the plan has {trials} trials; the limit is {max_plan_trials} trials "
            f"(HBSITE_MAX_PLAN_TRIALS): {advice}"
        )
        report(path, message)


def _plan_knob(spec: SweepSpec) -> tuple[tuple[Hashable, ...], str]:
    if spec.hyperband is not None:
        return ("hptuning", "hyperband", "max_iter"), "lower max_iter or raise eta"
    name = "random_search" if spec.random_search is not None else "grid_search"
    return ("hptuning", name, "n_experiments"), "lower n_experiments"


def sampleable(param: Distribution) -> str | None:
    """Return why a parameter cannot be drawn as finite numbers, or None when it can.

    Discrete kinds are checked at both ends of their grid (every numeric grid is monotonic);
    continuous kinds at the extreme uniform and normal draws Python's `random` can return.
    """
    try:
        return _discrete_problem(param) if param.is_discrete else _continuous_problem(param)
    except (ArithmeticError, ValueError) as exc:
        return f"its values cannot be computed ({exc})"


def _discrete_problem(param: Distribution) -> str | None:
    if param.kind in ("values", "pvalues"):
        return None
    size = param.size or 0
    for index in (0, size - 1):
        value = param.value_at(index)
        if not math.isfinite(value):
            return f"{param.kind} value {index} is {value}, not a finite number"
    return None


def _continuous_problem(param: Distribution) -> str | None:
    kind = NUMERIC[param.kind]
    assert kind.draw is not None
    for rng in _extreme_draws():
        value = kind.draw(rng, param.args)
        if not math.isfinite(value):
            return f"{param.kind} can draw {value}, which is not a finite number"
    if param.kind.startswith("q"):
        base = NUMERIC[param.kind[1:]].draw
        assert base is not None
        reach = max(abs(base(rng, param.args)) for rng in _extreme_draws())
        q = param.args[2]
        if reach / q > _MAX_Q_STEPS:
            return (
                f"q={q!r} is too small for values up to {reach:g}: rounding to it is below "
                "a float's precision; use a larger q or the unrounded kind"
            )
    return None


class _Fixed(random.Random):
    """A random source that returns one chosen uniform and one chosen normal deviate."""

    def __init__(self, u: float, z: float) -> None:
        super().__init__(0)
        self.u, self.z = u, z

    def random(self) -> float:
        return self.u

    def normalvariate(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return mu + self.z * sigma


def _extreme_draws() -> Iterator[random.Random]:
    for u in _UNIFORM_DRAWS:
        yield _Fixed(u, 0.0)
    for z in (-_NORMAL_REACH, _NORMAL_REACH):
        yield _Fixed(0.5, z)


__all__ = [
    "DEFAULT_MAX_PLAN_TRIALS",
    "MAX_ITEMS",
    "MAX_NODES",
    "MAX_PARAMS",
    "MAX_RULES",
    "check_counts",
    "check_spec",
    "sampleable",
]
