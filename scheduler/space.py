"""Hyperparameter search spaces: Polyaxon v0 ``matrix`` kinds, seeded sampling and grids.

Pure Python (no Django, no numpy): randomness comes from an injected ``random.Random``.
The kinds table is in ``space_kinds``, entry parsing in ``space_parse``, index draws in
``space_sampling`` and ``SpaceError`` in ``space_errors``; all public names are here.

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

import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from scheduler.space_errors import SpaceError, fail, fmt, show
from scheduler.space_kinds import DISCRETE_KINDS, KINDS, NUMERIC, Check, Num
from scheduler.space_parse import PVALUES_TOLERANCE, read_entry
from scheduler.space_sampling import draw_index, ranked, rejected

__all__ = [
    "DISCRETE_KINDS",
    "KINDS",
    "PVALUES_TOLERANCE",
    "Check",
    "Distribution",
    "Num",
    "Space",
    "SpaceError",
    "parse_matrix",
    "parse_param",
]

# Discrete spaces this small (or not much bigger than the request) are sampled exactly by
# ranking every config; bigger ones by rejecting repeats, which never touches the whole grid.
_ENUMERATE_AT_MOST = 10_000
# When repeats are rejected too often (weights piled on few configs), rank every config
# instead, but only up to this size.
_FALLBACK_AT_MOST = 10**6


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
        count = NUMERIC[self.kind].count
        return None if count is None else count(self.args)

    def value_at(self, index: int) -> Any:
        """Return the grid value at index (0-based) without building the grid."""
        size = self.size
        if size is None or not 0 <= index < size:
            raise IndexError(f"{self.name}: no grid value at index {index}")
        at = NUMERIC[self.kind].at if self.kind in NUMERIC else None
        return self.args[index] if at is None else at(self.args, index)

    def sample(self, rng: random.Random) -> Any:
        """Draw one value."""
        if self.is_discrete:
            assert self.size is not None
            return self.value_at(draw_index(rng, self.weights, self.size))
        draw = NUMERIC[self.kind].draw
        assert draw is not None  # every continuous kind has a sampler
        return draw(rng, self.args)

    def grid(self) -> tuple[Any, ...]:
        """Return every value of a discrete parameter, in order."""
        if self.size is None:
            fail(self.name, f"{self.kind} is continuous, so it has no grid of values")
        return tuple(self.value_at(i) for i in range(self.size))

    def describe(self) -> str:
        """Return a short human description, e.g. ``uniform(0, 0.9)``."""
        if self.kind == "pvalues":
            assert self.weights is not None
            pairs = (f"{fmt(v)}: {fmt(w)}" for v, w in zip(self.args, self.weights, strict=True))
            return f"pvalues({', '.join(pairs)})"
        shown = [fmt(a) for a in self.args[:6]]
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


def parse_param(name: str, value: object) -> Distribution:
    """Parse one matrix entry, e.g. ``{"uniform": [0, 0.9]}``, into a Distribution."""
    kind, args, weights = read_entry(name, value)
    return Distribution(name, kind, args, weights)


# --- the whole space -------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """The matrix: every hyperparameter, in YAML order."""

    params: tuple[Distribution, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name in (p.name for p in self.params):
            if name in seen:
                fail(name, "is defined twice in the matrix")
            seen.add(name)

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
        weights = [p.weights for p in self.params]
        if size <= max(2 * n, _ENUMERATE_AT_MOST):
            return ranked(rng, weights, sizes, min(n, size))
        drawn = rejected(rng, weights, sizes, n)
        if drawn is not None:
            return drawn
        if size > _FALLBACK_AT_MOST:
            raise SpaceError(
                f"Cannot draw {n} distinct configurations: the pvalues probabilities put "
                "nearly all the weight on fewer configurations. Ask for fewer, or spread "
                "the probabilities."
            )
        return ranked(rng, weights, sizes, n)


def parse_matrix(matrix: Mapping[str, object]) -> Space:
    """Parse a whole ``matrix`` mapping into a Space, raising SpaceError on the first problem."""
    if not isinstance(matrix, Mapping):
        raise SpaceError(
            f"The matrix must map parameter names to kinds, e.g. "
            f"{{lr: {{uniform: [0, 1]}}}}, got {show(matrix)}."
        )
    if not matrix:
        raise SpaceError("The matrix is empty; define at least one hyperparameter.")
    return Space(tuple(parse_param(name, value) for name, value in matrix.items()))
