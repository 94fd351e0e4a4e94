"""The `hptuning.bo` section (Bayesian optimization) and the matrix it can search.

Polyaxon v0.5's meaning (polyaxon_schemas.ops.group.hptuning: BOConfig,
UtilityFunctionConfig, GaussianProcessConfig; the BO search manager in
polyaxon/hpsearch/search_managers/bayesian_optimization):

- `n_initial_trials` random configs, then `n_iterations` configs, each suggested by
  maximizing an acquisition function over a Gaussian process fitted to every finished trial's
  `metric`. All three are required.
- `utility_function.acquisition_function` is `ucb` (the default; needs `kappa`), `ei` or
  `poi` (need `eps`): Polyaxon's own checks, with its messages. Polyaxon failed at run time
  without a `utility_function`; here it is required up front, since its default (`ucb`)
  needs `kappa` anyway.
- `utility_function.gaussian_process` left out means Polyaxon's GaussianProcessConfig
  defaults (kernel `matern`, `length_scale` 1.0, `nu` 1.5, `n_restarts_optimizer` 0), with a
  warning: Polyaxon v0.5 failed at run time without it.
- `n_warmup` and `n_iter` default to 5000 and 150 (Polyaxon's BOOptimizer).
- The matrix may hold discrete kinds (`values`, `range`, `linspace`, `logspace`,
  `geomspace`) and `uniform`; any other distribution is an error, as in Polyaxon
  (`validate_matrix(..., is_bo=True)`).

Limits (hbsite's, to keep a scheduling step short): n_initial_trials + n_iterations <=
MAX_BO_TRIALS, n_warmup <= MAX_BO_WARMUP, n_iter <= MAX_BO_STARTS. Pure Python: no Django.
"""

from __future__ import annotations

from typing import Any

from scheduler.space import Space
from scheduler.spec_fields import (
    BAD,
    Check,
    Context,
    Field,
    choice,
    dotted,
    integer,
    is_bad,
    number,
    section,
    spellings,
)
from scheduler.spec_types import (
    MAX_BO_STARTS,
    MAX_BO_TRIALS,
    MAX_BO_WARMUP,
    BayesianOptimization,
    GaussianProcess,
    UtilityFunction,
)
from scheduler.yamlsource import Path

# What a bo matrix may hold: every discrete kind but pvalues (a distribution), and uniform.
BO_KINDS = ("values", "range", "linspace", "logspace", "geomspace", "uniform")
ACQUISITION_FUNCTIONS = ("ucb", "ei", "poi")
KERNELS = ("matern", "rbf")
MAX_RESTARTS = 20


def bo_section(metric: Check) -> Check:
    """Return the check of a `bo` section; `metric` checks its (required) metric."""
    fields = {
        "n_initial_trials": Field(integer(1, MAX_BO_TRIALS), required=True),
        "n_iterations": Field(integer(0, MAX_BO_TRIALS), required=True),
        "metric": Field(metric, required=True),
        "utility_function": Field(_utility_function, required=True),
    }

    def check(ctx: Context, path: Path, value: Any) -> Any:
        got = section(ctx, path, {} if value is None else value, fields)
        if got is None or is_bad(*got.values()):
            return BAD
        total = got["n_initial_trials"] + got["n_iterations"]
        if total > MAX_BO_TRIALS:
            message = (
                f"{dotted(path)}: n_initial_trials + n_iterations is {total}; hbsite runs at "
                f"most {MAX_BO_TRIALS} trials per bo sweep"
            )
            return ctx.error(path, message, at_key=True)
        return BayesianOptimization(
            got["n_initial_trials"], got["n_iterations"], got["metric"], got["utility_function"]
        )

    return check


def check_bo_matrix(ctx: Context, path: Path, space: Space) -> None:
    """Report every matrix parameter Bayesian optimization cannot search (Polyaxon's rule)."""
    for param in space.params:
        if param.kind not in BO_KINDS:
            message = (
                f"'{param.name}' defines a non uniform distribution ({param.kind}), and it "
                "cannot be used with bayesian optimization: use uniform, or a discrete kind "
                "such as values, linspace or logspace"
            )
            ctx.error((*path, param.name), message)


def _utility_function(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _UTILITY_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    acquisition = got["acquisition_function"]
    if acquisition == "ucb" and got["kappa"] is None:
        return ctx.error(path, "the acquisition function `ucb` requires a parameter `kappa`")
    if acquisition in ("ei", "poi") and got["eps"] is None:
        message = f"the acquisition function `{acquisition}` requires a parameter `eps`"
        return ctx.error(path, message)
    process = got["gaussian_process"]
    if process is None:
        message = (
            f"{dotted(path)}.gaussian_process not given: Polyaxon's defaults (kernel matern, "
            "length_scale 1.0, nu 1.5, n_restarts_optimizer 0); Polyaxon v0.5 itself failed "
            "at run time without it"
        )
        ctx.warn(path, message, True)
        process = GaussianProcess()
    return UtilityFunction(
        acquisition, got["kappa"], got["eps"], process, got["n_warmup"], got["n_iter"]
    )


def _gaussian_process(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _PROCESS_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    return GaussianProcess(
        got["kernel"], float(got["length_scale"]), float(got["nu"]), got["n_restarts_optimizer"]
    )


_DEFAULT_PROCESS = GaussianProcess()
_UTILITY_FIELDS = {
    "acquisition_function": Field(
        choice(spellings(*ACQUISITION_FUNCTIONS)), default=ACQUISITION_FUNCTIONS[0]
    ),
    "kappa": Field(number(0)),
    "eps": Field(number(0)),
    "gaussian_process": Field(_gaussian_process),
    "n_warmup": Field(integer(1, MAX_BO_WARMUP), default=5000),
    "n_iter": Field(integer(0, MAX_BO_STARTS), default=150),
}
_PROCESS_FIELDS = {
    "kernel": Field(choice(spellings(*KERNELS)), default=_DEFAULT_PROCESS.kernel),
    "length_scale": Field(number(0, strict=True), default=_DEFAULT_PROCESS.length_scale),
    "nu": Field(number(0, strict=True), default=_DEFAULT_PROCESS.nu),
    "n_restarts_optimizer": Field(
        integer(0, MAX_RESTARTS), default=_DEFAULT_PROCESS.n_restarts_optimizer
    ),
}
