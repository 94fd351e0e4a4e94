"""The parsed polyaxonfile: the frozen SweepSpec, its sections, Issue and SpecError.

Also the names and limits the polyaxonfile is checked against. Pure Python: no Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from scheduler.space import Space

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
ALGORITHMS = ("hyperband", "random_search", "grid_search", "bo")
SIZINGS = ("algorithm1", "table1")
MAX_ITER = 1_000_000
MAX_EXPERIMENTS = 100_000
MAX_CONCURRENCY = 10_000
MAX_SEED = 2**63 - 1
MAX_RETRIES = 100
# bo: the trial budget (n_initial_trials + n_iterations) and the acquisition optimizer's
# effort, capped so one scheduling step (a Gaussian-process fit and an acquisition search,
# under the sweep's row lock) stays within about a second.
MAX_BO_TRIALS = 500
MAX_BO_WARMUP = 100_000
MAX_BO_STARTS = 500
MAX_NAME = 200


@dataclass(frozen=True, order=True)
class Issue:
    """One problem (or warning) at a 1-based line and column."""

    line: int
    column: int
    message: str

    def format(self, filename: str) -> str:
        """Return the issue as `FILE:LINE:COL: message`."""
        return f"{filename}:{self.line}:{self.column}: {self.message}"


class SpecError(ValueError):
    """The polyaxonfile is invalid; `issues` holds every error, sorted by position."""

    def __init__(self, issues: list[Issue] | tuple[Issue, ...]) -> None:
        self.issues = tuple(sorted(issues))
        lines = [f"{i.line}:{i.column}: {i.message}" for i in self.issues]
        super().__init__("\n".join(lines) or "invalid polyaxonfile")


@dataclass(frozen=True)
class Metric:
    """The metric Hyperband ranks trials by."""

    name: str
    optimization: str

    @property
    def maximize(self) -> bool:
        """Return True when a higher value is better: the one place that says so."""
        return self.optimization == MAXIMIZE

    @property
    def sign(self) -> str:
        """Return the comparison that means "at least as good as": `>=` or `<=`."""
        return ">=" if self.maximize else "<="

    def better(self, a: float, b: float) -> bool:
        """Return True if `a` is strictly better than `b`; NaN is never better than a number."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.maximize else a < b

    def reached(self, value: float, threshold: float) -> bool:
        """Return True if `value` is at least as good as `threshold` (False for NaN)."""
        return value >= threshold if self.maximize else value <= threshold


@dataclass(frozen=True)
class Resource:
    """The budget Hyperband grows per rung, e.g. num_steps of type int."""

    name: str
    type: str


@dataclass(frozen=True)
class Hyperband:
    """The `hyperband` section."""

    max_iter: int | float
    eta: int
    resource: Resource
    metric: Metric
    resume: bool
    sizing: str


@dataclass(frozen=True)
class RandomSearch:
    """The `random_search` section; `metric` (optional, an hbsite extension) ranks trials."""

    n_experiments: int
    metric: Metric | None = None


@dataclass(frozen=True)
class GridSearch:
    """The `grid_search` section; n_experiments None means the whole grid."""

    n_experiments: int | None
    metric: Metric | None = None


@dataclass(frozen=True)
class GaussianProcess:
    """The `bo.utility_function.gaussian_process` section (Polyaxon's defaults)."""

    kernel: str = "matern"
    length_scale: float = 1.0
    nu: float = 1.5
    n_restarts_optimizer: int = 0


@dataclass(frozen=True)
class UtilityFunction:
    """The `bo.utility_function` section: the acquisition function and how it is maximized.

    `kappa` weighs the standard deviation in `ucb`; `eps` is the improvement margin of `ei`
    and `poi`. `n_warmup` random points, then `n_iter` L-BFGS-B starts, search its maximum.
    """

    acquisition_function: str
    kappa: float | None
    eps: float | None
    gaussian_process: GaussianProcess
    n_warmup: int = 5000
    n_iter: int = 150


@dataclass(frozen=True)
class BayesianOptimization:
    """The `bo` section: `n_initial_trials` random configs, then `n_iterations` suggested."""

    n_initial_trials: int
    n_iterations: int
    metric: Metric
    utility_function: UtilityFunction

    @property
    def n_trials(self) -> int:
        """Return the trial budget: random configs plus suggested ones."""
        return self.n_initial_trials + self.n_iterations


@dataclass(frozen=True)
class EarlyStoppingRule:
    """Stop the sweep once any trial's `metric` reaches `value` in its direction."""

    metric: str
    value: float
    optimization: str

    @property
    def direction(self) -> Metric:
        """Return the rule's metric with its optimization, which knows which way is better."""
        return Metric(self.metric, self.optimization)

    def reached(self, value: float) -> bool:
        """Return True if `value` meets the rule (inclusive); False for NaN."""
        return self.direction.reached(value, self.value)

    def describe(self) -> str:
        """Return the rule as text, e.g. `accuracy >= 0.9`."""
        return f"{self.metric} {self.direction.sign} {self.value!r}"


@dataclass(frozen=True)
class Run:
    """The `run` section: the command template and hbsite's execution options."""

    cmd: str
    workdir: str | None
    timeout: float | None
    max_retries: int | None
    parts: tuple[str, ...] = ()  # a list-form cmd's commands, each rendered on its own


@dataclass(frozen=True)
class SweepSpec:
    """A validated group polyaxonfile."""

    version: int
    kind: str
    name: str | None
    concurrency: int
    seed: int | None
    algorithm: str
    hyperband: Hyperband | None
    random_search: RandomSearch | None
    grid_search: GridSearch | None
    matrix: Space
    early_stopping: tuple[EarlyStoppingRule, ...]
    params: Mapping[str, Any] = field(hash=False)
    run: Run
    warnings: tuple[Issue, ...]
    bo: BayesianOptimization | None = None
    tags: tuple[str, ...] = ()

    @property
    def metric(self) -> Metric | None:
        """Return the metric that ranks trials (required for Hyperband and bo, else optional)."""
        section = self.hyperband or self.random_search or self.grid_search or self.bo
        return section.metric if section is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe summary for storage and display."""
        sections = (self.hyperband, self.random_search, self.grid_search, self.bo)
        hb, rs, gs, bo = (asdict(s) if s is not None else None for s in sections)
        return {
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
            "algorithm": self.algorithm,
            "concurrency": self.concurrency,
            "seed": self.seed,
            "hyperband": hb,
            "random_search": rs,
            "grid_search": gs,
            "bo": bo,
            "matrix": {p.name: p.describe() for p in self.matrix.params},
            "matrix_kinds": {p.name: p.kind for p in self.matrix.params},
            "matrix_size": self.matrix.size,
            "early_stopping": [asdict(r) | {"rule": r.describe()} for r in self.early_stopping],
            "params": dict(self.params),
            "run": asdict(self.run),
            "warnings": [asdict(w) for w in self.warnings],
            "tags": list(self.tags),
        }
