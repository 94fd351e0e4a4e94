"""The bo part of the scheduling step: a bo sweep's configs, made as slots free up.

A bo sweep's plan is one rung of n_initial_trials + n_iterations configs (`Plan.budget`).
`start_configs` draws the n_initial_trials random configs when the sweep starts, as random
search does. Then, in every step, `fill_slots` makes one config per free slot (fewer than
`concurrency` trials pending, queued or running) until the budget is spent:

- once some trial has finished with a metric value, the config is suggested by
  `scheduler.bayes.suggest` from every such trial, with the configs still running as
  pending (constant liar), so parallel suggestions differ;
- before any value exists (`concurrency` above n_initial_trials, or the first trials still
  running), a free slot takes another random config instead of idling; it is marked random;
- when nothing has a value and nothing is running, no suggestion can be made: the sweep
  ends with the budget unspent and says why (`unspent_reason`).

Each config records how it was made in `Config.origin`. With concurrency 1 the suggestions
are reproducible from the sweep's seed; with more, they depend on which trials have finished
when a slot frees, as in any parallel Bayesian optimization.
"""

from __future__ import annotations

import random
from typing import Any

from . import events, hyperband, numbering
from . import spec as specs
from .models import Config, Sweep, Trial

RANDOM = "random"
SUGGESTED = "suggested"


def start_configs(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Create the sweep's random configs (plan.budget[0]) and their pending trials."""
    assert plan.budget is not None
    params = spec.matrix.sample(random.Random(f"{sweep.seed}:0"), plan.budget[0])
    _create(sweep, [(p, {"how": RANDOM}) for p in params], first_index=0)


def fill_slots(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Make one config per free slot, while the budget lasts (see the module docstring)."""
    assert spec.bo is not None
    made = sweep.configs.count()
    running = list(
        Config.objects.filter(sweep=sweep, trials__status__in=Trial.UNFINISHED).values_list(
            "params", flat=True
        )
    )
    free = min(sweep.concurrency - len(running), plan.total_configs - made)
    if free <= 0:
        return
    observed = observations(sweep)
    new: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for index in range(made, made + free):
        if observed:
            pending = running + [p for p, _ in new]
            new.append(_suggested(sweep, spec, observed, pending, index))
        elif running or new:
            params = spec.matrix.sample(random.Random(f"{sweep.seed}:bo:{index}"), 1)[0]
            new.append((params, {"how": RANDOM, "why": "no result yet"}))
    if new:
        _create(sweep, new, first_index=made)


def observations(sweep: Sweep) -> list[tuple[dict[str, Any], float]]:
    """Return (params, metric value) of every trial that finished with a value, by trial id."""
    rows = sweep.trials.ranked().order_by("id").values_list("config__params", "metric_value")
    return [(params, float(value)) for params, value in rows]


def unspent_reason(sweep: Sweep, plan: hyperband.Plan, metric: specs.Metric) -> str:
    """Return why a finished bo sweep ran fewer configs than its budget ('' if it did not)."""
    made = sweep.configs.count()
    if made >= plan.total_configs:
        return ""
    return (
        f"ran {made} of {plan.total_configs} configs: no trial reported '{metric.name}', so "
        "there was nothing to fit a Gaussian process to"
    )


def _suggested(
    sweep: Sweep,
    spec: specs.SweepSpec,
    observed: list[tuple[dict[str, Any], float]],
    pending: list[dict[str, Any]],
    index: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    # numpy and scikit-learn load only when a bo sweep suggests (the `bo` extra): a server
    # that runs no bo sweep does not need them.
    from . import bayes

    assert spec.bo is not None
    utility = spec.bo.utility_function
    made = bayes.suggest(
        spec.matrix, utility, spec.bo.metric.maximize, observed, pending, (sweep.seed, index)
    )
    origin = {
        "how": SUGGESTED,
        "function": utility.acquisition_function,
        "acquisition": made.acquisition,
        "mean": made.mean,
        "std": made.std,
        "observed": len(observed),
        "pending": len(pending),
    }
    return made.params, origin


def _create(
    sweep: Sweep, made: list[tuple[dict[str, Any], dict[str, Any]]], first_index: int
) -> None:
    configs = Config.objects.bulk_create(
        Config(sweep=sweep, bracket=0, index=first_index + i, params=params, origin=origin)
        for i, (params, origin) in enumerate(made)
    )
    Trial.objects.bulk_create(
        numbering.numbered(
            sweep, (Trial(sweep=sweep, config=c, bracket=0, rung=0, resource=None) for c in configs)
        )
    )
    payload: events.ConfigsMade = {
        "configs": [
            {"config": c.pk, "index": c.index, "how": c.origin["how"],
             "acquisition": c.origin.get("acquisition")}
            for c in configs
        ]
    }  # fmt: skip
    events.emit(sweep, events.CONFIGS_MADE, payload)
