"""Seeded draws of grid indices: one parameter by weight, or distinct configs of a grid.

A config is an index tuple, one grid index per parameter. ``weights`` holds each parameter's
``pvalues`` probabilities, or None when its values are equally likely. Distinct configs are a
successive sample: each pick is weighted among the configs not picked yet.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Sequence

Weights = tuple[float, ...] | None


def draw_index(rng: random.Random, weights: Weights, size: int) -> int:
    """Draw one grid index of a parameter, by weight when it has weights."""
    if weights is not None:
        return rng.choices(range(len(weights)), weights=weights)[0]
    return rng.randrange(size)


def ranked(
    rng: random.Random, weights: Sequence[Weights], sizes: Sequence[int], n: int
) -> list[tuple[int, ...]]:
    """Rank every config and keep n: exact, but touches the whole grid."""
    # Efraimidis-Spirakis: the n smallest Exp(1)/weight keys are a successive sample.
    keyed = ((_key(rng, weights, ix), ix) for ix in itertools.product(*map(range, sizes)))
    return [ix for _, ix in heapq.nsmallest(n, keyed)]


def rejected(
    rng: random.Random, weights: Sequence[Weights], sizes: Sequence[int], n: int
) -> list[tuple[int, ...]] | None:
    """Draw configs by weight, skipping repeats; None if the draw budget runs out first."""
    # Drawing by weight and skipping repeats is exactly successive sampling; the budget
    # only runs out when the weight sits on too few configs.
    seen: dict[tuple[int, ...], None] = {}  # an insertion-ordered set
    for _ in range(4 * n + 1000):
        if len(seen) == n:
            break
        seen.setdefault(tuple(draw_index(rng, w, s) for w, s in zip(weights, sizes, strict=True)))
    return list(seen) if len(seen) == n else None


def _key(
    rng: random.Random, weights: Sequence[Weights], index: tuple[int, ...]
) -> tuple[float, float]:
    # In logs: a product of many small probabilities would underflow to 0.
    log_weight = sum(_log_weight(w, i) for w, i in zip(weights, index, strict=True))
    exponential = -math.log(1.0 - rng.random())
    tie = rng.random()  # orders zero-weight configs (all ranked +inf) randomly
    if log_weight == -math.inf:
        return math.inf, tie
    log_e = math.log(exponential) if exponential > 0 else -math.inf
    return log_e - log_weight, tie


def _log_weight(weights: Weights, index: int) -> float:
    if weights is None:
        return 0.0
    weight = weights[index]
    return math.log(weight) if weight > 0 else -math.inf
