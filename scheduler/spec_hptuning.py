"""The `hptuning` section: search algorithm, matrix and early-stopping rules.

Defaults are Polyaxon v0.5's (polyaxon_schemas.ops.group.hptuning, metrics and
early_stopping_policies), each announced by a warning where it may surprise:
no algorithm section means a grid search over the whole matrix (`HPTuningConfig.
search_algorithm`); a metric or early-stopping rule without `optimization` is maximized
(`SearchMetricConfig`, `EarlyStoppingConfig`); a resource without `type` is a float
(`ResourceConfig`); `concurrency` is 1 and grid_search `n_experiments` absent is the whole grid.
The `bo` section is checked in `spec_bo`.
"""

from __future__ import annotations

from typing import Any

from scheduler.space import PVALUES_TOLERANCE, Distribution, Space, SpaceError, parse_param
from scheduler.space_traps import traps
from scheduler.spec_bo import bo_section, check_bo_matrix
from scheduler.spec_fields import (
    BAD,
    IDENTIFIER,
    OPTIMIZATION,
    Context,
    Field,
    boolean,
    choice,
    dotted,
    finite,
    identifier,
    integer,
    is_bad,
    number,
    section,
    show,
    spellings,
    string,
)
from scheduler.spec_types import (
    ALGORITHMS,
    MAX_CONCURRENCY,
    MAX_EXPERIMENTS,
    MAX_ITER,
    MAX_SEED,
    MAXIMIZE,
    SIZINGS,
    EarlyStoppingRule,
    GridSearch,
    Hyperband,
    Metric,
    RandomSearch,
    Resource,
)
from scheduler.yamlsource import Path


def _hyperband(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, {} if value is None else value, _HYPERBAND_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    max_iter = _max_iter_for(ctx, (*path, "max_iter"), got["max_iter"], got["resource"])
    if max_iter is BAD:
        return BAD
    if max_iter < got["eta"]:
        ctx.warn((*path, "max_iter"), "max_iter < eta: Hyperband runs a single bracket")
    return Hyperband(
        max_iter, got["eta"], got["resource"], got["metric"], got["resume"], got["sizing"]
    )


def _max_iter_for(ctx: Context, path: Path, max_iter: Any, resource: Resource) -> Any:
    if resource.type == "float" or isinstance(max_iter, int):
        return max_iter
    if float(max_iter).is_integer():
        return int(max_iter)
    message = f"{dotted(path)} must be an integer when the resource type is int, got {max_iter!r}"
    return ctx.error(path, message)


def _resource(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _RESOURCE_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    if got["type"] is None:
        message = (
            f"{dotted(path)}.type not given: 'float', as in Polyaxon v0, so trials get values "
            "like 9.0; set type: int for whole numbers"
        )
        ctx.warn(path, message, True)
    return Resource(got["name"], got["type"] or "float")


def _metric(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _METRIC_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    if got["optimization"] is None:
        _default_maximize(ctx, path, got["name"])
    return Metric(got["name"], got["optimization"] or MAXIMIZE)


def _default_maximize(ctx: Context, path: Path, metric: str) -> None:
    message = (
        f"{dotted(path)}.optimization not given: '{metric}' is maximized, as in Polyaxon v0; "
        "set optimization: minimize for a loss or an error"
    )
    ctx.warn(path, message, True)


def _random_search(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, {} if value is None else value, _RANDOM_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    return RandomSearch(got["n_experiments"], got["metric"])


def _grid_search(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, {} if value is None else value, _GRID_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    return GridSearch(got["n_experiments"], got["metric"])


def _matrix(ctx: Context, path: Path, value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        what = "empty" if value == {} else show(value)
        message = f"{dotted(path)} must map parameter names to kinds, got {what}"
        return ctx.error(path, message)
    params = [_param(ctx, (*path, name), name, entry) for name, entry in value.items()]
    if is_bad(*params):
        return BAD
    try:
        return Space(params=tuple(params))
    except SpaceError as exc:
        return ctx.error(path, str(exc))


def _param(ctx: Context, path: Path, name: Any, entry: Any) -> Distribution | Any:
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        message = (
            f"matrix parameter names must be identifiers (letters, digits, _), got {show(name)}"
        )
        return ctx.error(path, message, at_key=True)
    try:
        dist = parse_param(name, entry)
    except SpaceError as exc:
        return ctx.error(path, str(exc))
    except (ValueError, ArithmeticError) as exc:  # e.g. a number too big for a float
        return ctx.error(path, f"Parameter '{name}': cannot be read ({exc}).")
    total = sum(dist.weights or (1.0,))
    if total < 1 - PVALUES_TOLERANCE:
        message = f"Parameter '{name}': pvalues probabilities sum to {total:g}, not 1; "
        ctx.warn(path, message + "they are used in proportion")
    for message in traps(dist):
        ctx.warn(path, message)
    return dist


def _early_stopping(ctx: Context, path: Path, value: Any) -> Any:
    if not isinstance(value, list):
        return ctx.error(path, f"{dotted(path)} must be a list of rules, got {show(value)}")
    rules = [_rule(ctx, (*path, index), item) for index, item in enumerate(value)]
    return BAD if is_bad(*rules) else tuple(rules)


def _rule(ctx: Context, path: Path, value: Any) -> Any:
    got = section(ctx, path, value, _RULE_FIELDS)
    if got is None or is_bad(*got.values()):
        return BAD
    if got["optimization"] is None:
        _default_maximize(ctx, path, got["metric"])
    return EarlyStoppingRule(got["metric"], got["value"], got["optimization"] or MAXIMIZE)


def _policy(ctx: Context, path: Path, value: Any) -> Any:
    accepted = spellings("all", "group")
    if isinstance(value, str) and value in accepted:
        return accepted[value]
    message = f"{dotted(path)} must be 'all' (hbsite stops the whole sweep), got {show(value)}"
    return ctx.error(path, message)


def check_hptuning(ctx: Context, path: Path, value: Any) -> Any:
    """Check `hptuning`; return its fields and `algorithm`, or BAD if anything is invalid."""
    got = section(ctx, path, value, _HPTUNING_FIELDS)
    if got is None:
        return BAD
    got["algorithm"] = _algorithm(ctx, path, value)
    implicit = got["algorithm"] == "grid_search" and got["grid_search"] is None
    if implicit:
        got["grid_search"] = GridSearch(None)  # no algorithm section: Polyaxon's default
    if got["algorithm"] == "grid_search" and not is_bad(got["matrix"], got["grid_search"]):
        _check_grid(ctx, path, got["matrix"], got["grid_search"], implicit)
    if got["algorithm"] == "bo" and not is_bad(got["matrix"]):
        check_bo_matrix(ctx, (*path, "matrix"), got["matrix"])
    return BAD if is_bad(*got.values()) else got


def _algorithm(ctx: Context, path: Path, value: dict[Any, Any]) -> Any:
    present = [name for name in value if name in ALGORITHMS]
    if not present:
        message = (
            "no search algorithm section: a grid search over the whole matrix, as in Polyaxon "
            f"v0 (or add one of {', '.join(ALGORITHMS)})"
        )
        ctx.warn(path, message, at_key=True)
        return "grid_search"
    for extra in present[1:]:
        message = f"only one search algorithm is allowed, found {' and '.join(present)}"
        ctx.error((*path, extra), message, at_key=True)
    return present[0] if len(present) == 1 else BAD


def _check_grid(ctx: Context, path: Path, space: Space, grid: GridSearch, implicit: bool) -> None:
    search = "grid search (no algorithm section)" if implicit else "grid_search"
    for param in space.params:
        if not param.is_discrete:
            message = f"{search} needs discrete parameters, but '{param.name}' is {param.kind}"
            ctx.error((*path, "matrix", param.name), message)
    size = space.size
    if grid.n_experiments is None and size is not None and size > MAX_EXPERIMENTS:
        message = f"the grid has {size} points; set grid_search.n_experiments <= {MAX_EXPERIMENTS}"
        ctx.error((*path, "grid_search"), message, at_key=True)


# --- field tables ---------------------------------------------------------------------------


_RESOURCE_FIELDS = {
    "name": Field(identifier, required=True),
    "type": Field(choice(spellings("int", "float"))),
}
_METRIC_FIELDS = {
    "name": Field(string(), required=True),
    "optimization": Field(OPTIMIZATION),
}
_HYPERBAND_FIELDS = {
    "max_iter": Field(number(1, MAX_ITER), required=True),
    "eta": Field(integer(2), required=True),
    "resource": Field(_resource, required=True),
    "metric": Field(_metric, required=True),
    "resume": Field(boolean, default=False),
    "sizing": Field(choice({s: s for s in SIZINGS}), default=SIZINGS[0]),
}
_RANDOM_FIELDS = {
    "n_experiments": Field(integer(1, MAX_EXPERIMENTS), required=True),
    "metric": Field(_metric),
}
_GRID_FIELDS = {"n_experiments": Field(integer(1, MAX_EXPERIMENTS)), "metric": Field(_metric)}
_RULE_FIELDS = {
    "metric": Field(string(), required=True),
    "value": Field(finite, required=True),
    "optimization": Field(OPTIMIZATION),
    "policy": Field(_policy, default="all"),
}
_HPTUNING_FIELDS = {
    "concurrency": Field(integer(1, MAX_CONCURRENCY), default=1),
    "seed": Field(integer(0, MAX_SEED)),
    "hyperband": Field(_hyperband, keep_null=True),
    "random_search": Field(_random_search, keep_null=True),
    "grid_search": Field(_grid_search, keep_null=True),
    "bo": Field(bo_section(_metric), keep_null=True),
    "matrix": Field(_matrix, required=True),
    "early_stopping": Field(_early_stopping, default=()),
}
