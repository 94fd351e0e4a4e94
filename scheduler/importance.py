"""Hyperparameter importance: how much each parameter explains a ranking metric.

Pure (no Django). Method, after Breiman (2001, "Random Forests", section 10) as scikit-learn
implements it (`sklearn.inspection.permutation_importance`): fit a random forest that
predicts each trial's *rank* from its params, then shuffle one param's column at a time and
measure how much the forest's R² drops. A param the ranking does not depend on drops nothing.

- The target is the rank of the metric (average ranks for ties; `scipy.stats.rankdata`), so a
  single huge or infinite value cannot dominate the fit; direction does not matter for R².
- Numbers are used as they are, log-scale kinds (`loguniform`, `logspace`, ...) as log10 of
  the value (trees split the same either way; the log matters for the slice plots, which show
  it). `values`/`pvalues` whose values are not all numbers are categories, coded 0..k-1 in
  sorted order and permuted as one column, so a param gets one importance, not one per level.
- The rows must already be usable: succeeded or stopped trials with a value that is not NaN
  (the same rule `models.ranked_q` applies to "best"); failed trials have no place here.

scikit-learn (and numpy, scipy) are an optional extra, `hbsite[analysis]`: `missing()` says
why importance cannot be computed when they are absent, and nothing else needs them.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Fewer usable trials than this at a rung and the forest has too little to learn from.
MIN_TRIALS = 8
TREES = 60
REPEATS = 5
LOG_KINDS = frozenset(
    {"loguniform", "qloguniform", "lognormal", "qlognormal", "logspace", "geomspace"}
)
CATEGORY_KINDS = frozenset({"values", "pvalues"})
INSTALL_HINT = "pip install 'hbsite[analysis]'"


@dataclass(frozen=True)
class ParamImportance:
    """One param's importance: `share` of the total (0..1, summing to 1 over the params when
    any matters), `drop` the mean fall in R² when it is shuffled and `spread` its standard
    deviation over the repeats; `scale` is how it was encoded (linear, log or category)."""

    name: str
    share: float
    drop: float
    spread: float
    scale: str


@dataclass(frozen=True)
class Importance:
    """Importance of every param, most important first, from `trials` usable trials.

    `fit` is the forest's out-of-bag R² (1 = the params predict the ranking perfectly; near or
    below 0 = they explain little, so the shares mean little), or None with too few trials.
    """

    trials: int
    params: tuple[ParamImportance, ...]
    fit: float | None
    method: str = "permutation importance of a random forest fit to the metric's rank"


class NotEnoughTrials(ValueError):
    """Raised when fewer than MIN_TRIALS rows are given."""


def missing() -> str | None:
    """Return why importance cannot be computed here (scikit-learn absent), or None."""
    if all(importlib.util.find_spec(name) for name in ("numpy", "scipy", "sklearn")):
        return None
    return f"Importance needs scikit-learn, which is not installed on the server: {INSTALL_HINT}"


def scale_of(kind: str, values: Sequence[Any]) -> str:
    """Return how a param is encoded: 'category', 'log' or 'linear'."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numeric or (kind in CATEGORY_KINDS and not values):
        return "category"
    if kind in LOG_KINDS and all(v > 0 for v in values):
        return "log"
    return "linear"


def encode(values: Sequence[Any], scale: str) -> list[float]:
    """Return one param's column: category codes, log10 values or the numbers."""
    if scale == "category":
        labels = sorted({str(v) for v in values})
        return [float(labels.index(str(v))) for v in values]
    if scale == "log":
        return [math.log10(v) for v in values]
    return [float(v) for v in values]


def compute(
    params: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    kinds: Mapping[str, str],
    seed: int = 0,
) -> Importance:
    """Return the importance of each param in `kinds` (name -> matrix kind) for `values`.

    `params[j]` and `values[j]` are trial j's params and metric value (infinities allowed,
    NaN not). Raises NotEnoughTrials below MIN_TRIALS rows, ImportError without scikit-learn.
    The result is deterministic for a given `seed`.
    """
    if len(values) < MIN_TRIALS:
        raise NotEnoughTrials(f"{len(values)} usable trials; importance needs {MIN_TRIALS}")
    import numpy as np
    from scipy.stats import rankdata

    names = list(kinds)
    columns = [[row.get(name) for row in params] for name in names]
    scales = [scale_of(kinds[n], col) for n, col in zip(names, columns, strict=True)]
    x = np.array([encode(c, s) for c, s in zip(columns, scales, strict=True)], float).T
    y = rankdata(np.array(values, float))
    drops, spreads, fit = permutation_drops(x, y, seed)
    total = sum(max(d, 0.0) for d in drops)
    found = [
        ParamImportance(name, max(d, 0.0) / total if total > 0 else 0.0, d, s, scale)
        for name, d, s, scale in zip(names, drops, spreads, scales, strict=True)
    ]
    found.sort(key=lambda p: (-p.share, -p.drop, p.name))
    return Importance(trials=len(values), params=tuple(found), fit=fit)


def permutation_drops(x: Any, y: Any, seed: int) -> tuple[list[float], list[float], float | None]:
    """Fit the forest; return each column's mean and spread of R² drop, and the OOB R²."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    forest = RandomForestRegressor(
        n_estimators=TREES, min_samples_leaf=2, oob_score=True, random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():  # few trials: some rows are in every bootstrap sample
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(x, y)
    result = permutation_importance(forest, x, y, n_repeats=REPEATS, random_state=seed, n_jobs=1)
    fit = float(forest.oob_score_) if math.isfinite(forest.oob_score_) else None
    return (
        [float(m) for m in result.importances_mean],
        [float(s) for s in result.importances_std],
        fit,
    )
