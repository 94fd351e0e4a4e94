"""Bayesian optimization: encode the matrix, fit a Gaussian process, maximize an acquisition.

Pure (no Django), on numpy and scikit-learn's GaussianProcessRegressor (imported when a
suggestion is made: a clear error names the package if it is missing). The method is
Polyaxon v0.5's (polyaxon/hpsearch/search_managers/bayesian_optimization: space.py,
acquisition_function.py, optimizer.py), itself after fmfn/BayesianOptimization::

    x  = encode(config)  per parameter, in name order (Polyaxon sorted the names):
         values with a non-number among them -> one 0/1 coordinate per value (one-hot)
         other discrete kinds                -> the number, in [min, max] of its values
         uniform                             -> the number, in [low, high]
    y  = metric if maximized, else -metric               (so a larger y is always better)
    gp = GaussianProcessRegressor(Matern(length_scale, nu) or RBF(length_scale),
                                  n_restarts_optimizer).fit(X, y)
    ucb(x) = mu(x) + kappa * sigma(x)
    ei(x)  = (mu - y_max - eps) * Phi(z) + sigma * phi(z),  z = (mu - y_max - eps) / sigma
    poi(x) = Phi(z)
    config = decode(x): one-hot -> the value with the largest coordinate; discrete -> the
             allowed value nearest to the number; uniform -> the number, clipped to the box
    x* = argmax of acq(encode(decode(x))) over n_warmup uniform points in the box, then
         L-BFGS-B from n_iter starts;  the suggestion is decode(x*)

Where hbsite differs, and why:

- Each numeric coordinate is scaled to [0, 1] before fitting (Polyaxon fitted raw values):
  one isotropic length scale then suits parameters of very different ranges.
  `length_scale` is the fit's starting value in those units; the fit optimizes it, as in
  Polyaxon.
- `normalize_y=True` and a small noise term `alpha` (1e-6, raised if the kernel matrix is
  still singular): trials repeat configs in a discrete space, and metric scales differ.
  `kappa` weighs the standard deviation in the metric's units; `eps` is in the metric's units.
- Pending configs (trials still running) enter the fit as a constant liar (Ginsbourger,
  Le Riche and Carraro, "Kriging is well-suited to parallelize optimization", 2010): each
  gets the worst value observed so far, so parallel suggestions spread out instead of
  piling onto one optimum. `y_max` is taken over real observations only.
- The acquisition is evaluated where a point decodes to, encode(decode(x)), not at x
  itself (Garrido-Merchan and Hernandez-Lobato, "Dealing with categorical and
  integer-valued variables in Bayesian optimization with Gaussian processes",
  Neurocomputing 380, 2020). Polyaxon evaluated it at x and decoded afterwards: its
  maximum then often lay between one-hot corners or allowed values, where the GP is
  unsure, and decoded to a config already tried.
- The best warmup point is always one of the L-BFGS-B starts.

Each suggestion is a function of (observations, pending configs, seed): the same inputs give
the same config.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scheduler.space import Distribution, Space
from scheduler.spec_types import UtilityFunction

CATEGORICAL = "categorical"
DISCRETE = "discrete"
UNIFORM = "uniform"
ALPHA = 1e-6
MIN_SIGMA = 1e-12

Array = Any  # numpy arrays; numpy's own types make little difference to these few lines


class BayesError(RuntimeError):
    """A suggestion cannot be made (no observation, or scikit-learn is missing)."""


@dataclass(frozen=True)
class Feature:
    """One parameter's coordinates: its kind, allowed values (categorical, discrete), box."""

    name: str
    kind: str
    values: tuple[Any, ...]
    low: float
    high: float

    @property
    def width(self) -> int:
        """Return how many coordinates the parameter takes."""
        return len(self.values) if self.kind == CATEGORICAL else 1


def feature(param: Distribution) -> Feature:
    """Return how a matrix parameter is encoded; raise BayesError for a kind bo cannot use."""
    if param.kind == "uniform":
        low, high = (float(a) for a in param.args[:2])
        return Feature(param.name, UNIFORM, (), low, high)
    if not param.is_discrete or param.kind == "pvalues":
        raise BayesError(f"'{param.name}': bayesian optimization cannot search {param.kind}")
    values = param.grid()
    if any(not isinstance(v, int | float) for v in values):  # bools count as numbers
        return Feature(param.name, CATEGORICAL, values, 0.0, 1.0)
    ordered = tuple(sorted(values))
    return Feature(param.name, DISCRETE, ordered, float(ordered[0]), float(ordered[-1]))


@dataclass(frozen=True)
class Encoding:
    """A matrix as a box of coordinates in [0, 1], parameters in name order."""

    features: tuple[Feature, ...]

    @classmethod
    def of(cls, space: Space) -> Encoding:
        """Return the encoding of a space (see the module docstring)."""
        return cls(tuple(feature(p) for p in sorted(space.params, key=lambda p: p.name)))

    @property
    def dim(self) -> int:
        """Return the number of coordinates."""
        return sum(f.width for f in self.features)

    def encode(self, config: dict[str, Any]) -> list[float]:
        """Return the coordinates of a config; a value not allowed raises BayesError."""
        x: list[float] = []
        for f in self.features:
            value = config[f.name]
            if f.kind == CATEGORICAL:
                if value not in f.values:
                    raise BayesError(f"'{f.name}': {value!r} is not one of its values")
                x += [1.0 if v == value else 0.0 for v in f.values]
            else:
                x.append(_unit(float(value), f.low, f.high))
        return x

    def decode(self, x: Sequence[float]) -> dict[str, Any]:
        """Return the config nearest to coordinates x (see the module docstring)."""
        config: dict[str, Any] = {}
        at = 0
        for f in self.features:
            if f.kind == CATEGORICAL:
                part = list(x[at : at + f.width])
                config[f.name] = f.values[part.index(max(part))]
            else:
                value = f.low + min(max(float(x[at]), 0.0), 1.0) * (f.high - f.low)
                config[f.name] = _nearest(f.values, value) if f.kind == DISCRETE else value
            at += f.width
        return config

    def project(self, x: Array) -> Array:
        """Return each row of x moved to the coordinates of the config it decodes to."""
        return np.array([self.encode(self.decode(list(row))) for row in x])


def _unit(value: float, low: float, high: float) -> float:
    return 0.0 if high == low else (value - low) / (high - low)


def _nearest(values: tuple[Any, ...], value: float) -> Any:
    # Ties go to the smaller value, as numpy's argmin in Polyaxon's snapping.
    return min(values, key=lambda v: abs(float(v) - value))


@dataclass(frozen=True)
class Suggestion:
    """A suggested config, its acquisition value and the GP's prediction of the metric there.

    `acquisition` is in the acquisition function's own terms (on y, where larger is better);
    `mean` and `std` are the predicted metric and its standard deviation, in the metric's
    units and direction.
    """

    params: dict[str, Any]
    acquisition: float
    mean: float
    std: float


def suggest(
    space: Space,
    utility: UtilityFunction,
    maximize: bool,
    observed: Sequence[tuple[dict[str, Any], float]],
    pending: Sequence[dict[str, Any]],
    seed: int | tuple[int, ...],
) -> Suggestion:
    """Suggest the next config from observed (config, metric value) pairs.

    `pending` are configs still running (constant liar). `seed` (ints >= 0: entropy for
    numpy's SeedSequence) fixes the random warmup points, the L-BFGS-B starts and the GP's
    restarts. Raises BayesError when nothing is observed or scikit-learn is missing.
    """
    finite = [(c, v) for c, v in observed if math.isfinite(v)]
    if not finite:
        raise BayesError("nothing observed yet: a Gaussian process needs one finished trial")
    encoding = Encoding.of(space)
    sign = 1.0 if maximize else -1.0
    y_real = np.array([sign * v for _, v in finite])
    lie = float(y_real.min())
    x = np.array([encoding.encode(c) for c, _ in finite] + [encoding.encode(c) for c in pending])
    y = np.concatenate([y_real, np.full(len(pending), lie)])
    rng = np.random.default_rng(seed)
    gp = _fitted(utility, x, y, int(rng.integers(2**31 - 1)))
    acquire = _acquisition(gp, utility, float(y_real.max()))
    best = _argmax(lambda points: acquire(encoding.project(points)), encoding.dim, utility, rng)
    params = encoding.decode(list(best))
    at = np.array([encoding.encode(params)])
    mean, std = gp.predict(at, return_std=True)
    return Suggestion(params, float(acquire(at)[0]), sign * float(mean[0]), float(std[0]))


def _sklearn() -> tuple[Any, Any, Any]:
    try:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, Matern
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise BayesError(
            "bayesian optimization needs scikit-learn: pip install scikit-learn"
        ) from exc
    return GaussianProcessRegressor, RBF, Matern


def _fitted(utility: UtilityFunction, x: Array, y: Array, seed: int) -> Any:
    regressor, rbf, matern = _sklearn()
    process = utility.gaussian_process
    if process.kernel == "rbf":
        kernel = rbf(length_scale=process.length_scale)
    else:
        kernel = matern(length_scale=process.length_scale, nu=process.nu)
    alpha = ALPHA
    while True:
        gp = regressor(
            kernel=kernel,
            alpha=alpha,
            normalize_y=True,
            n_restarts_optimizer=process.n_restarts_optimizer,
            random_state=np.random.RandomState(seed),
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # length scales at their bounds, mostly
                return gp.fit(x, y)
        except np.linalg.LinAlgError:
            if alpha >= 1.0:
                raise
            alpha *= 1000


def _acquisition(gp: Any, utility: UtilityFunction, y_max: float) -> Any:
    from scipy.stats import norm  # scipy comes with scikit-learn

    kind, kappa, eps = utility.acquisition_function, utility.kappa or 0.0, utility.eps or 0.0

    def acquire(x: Array) -> Array:
        mean, std = gp.predict(x, return_std=True)
        if kind == "ucb":
            return mean + kappa * std
        std = np.maximum(std, MIN_SIGMA)
        gain = mean - y_max - eps
        z = gain / std
        if kind == "poi":
            return norm.cdf(z)
        return gain * norm.cdf(z) + std * norm.pdf(z)

    return acquire


def _argmax(acquire: Any, dim: int, utility: UtilityFunction, rng: Any) -> Array:
    """Return the box point with the largest acquisition found (Polyaxon's max_compute)."""
    from scipy.optimize import minimize

    tries = rng.uniform(0.0, 1.0, size=(utility.n_warmup, dim))
    values = acquire(tries)
    best, best_value = tries[values.argmax()], float(values.max())
    starts = [best, *rng.uniform(0.0, 1.0, size=(max(utility.n_iter - 1, 0), dim))]
    for start in starts[: utility.n_iter]:
        result = minimize(
            lambda p: -acquire(p.reshape(1, -1))[0],
            start,
            bounds=[(0.0, 1.0)] * dim,
            method="L-BFGS-B",
        )
        if result.success and -float(result.fun) >= best_value:
            best, best_value = result.x, -float(result.fun)
    return np.clip(best, 0.0, 1.0)
