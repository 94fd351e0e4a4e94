"""Side-by-side reads for 2–10 trials and 2–5 sweeps, for the API and the dashboard.

The caller passes ids; `pick` checks the count and `access.sweeps_access` decides what may be
read (any sweep that must look missing makes the whole comparison missing). The facts come
from where they are kept: params from the trial's config, curves from `results.series`,
best-so-far from `results.best_so_far`, plans from the stored plan and spec.
"""

from __future__ import annotations

from typing import Any

from . import access, planning, results, stored
from . import spec as specs
from .models import Sweep, Trial

TRIALS = (2, 10)
SWEEPS = (2, 5)
CURVE_POINTS = 1_000  # per trial and metric, thinned as results.series does


class BadPick(ValueError):
    """Raised when the ids to compare are malformed or too few or many."""


def pick(raw: str | list[str], bounds: tuple[int, int], what: str) -> list[int]:
    """Read ids from '1,2,3' or ['1', '2'] (order kept, duplicates dropped) within bounds."""
    parts = raw.split(",") if isinstance(raw, str) else [p for r in raw for p in r.split(",")]
    ids: list[int] = []
    for part in (p.strip() for p in parts):
        if not part.isdigit():
            raise BadPick(f"{what} ids are whole numbers separated by commas, not {part!r}")
        if int(part) not in ids:
            ids.append(int(part))
    low, high = bounds
    if not low <= len(ids) <= high:
        raise BadPick(f"pick {low} to {high} {what}s to compare, not {len(ids)}")
    return ids


def readable_trials(user, ids: list[int], share_token: str | None = None) -> list[Trial] | None:
    """Return the trials in the order asked, or None when any is missing or not readable."""
    found = {t.pk: t for t in Trial.objects.select_related("config", "sweep").filter(pk__in=ids)}
    if len(found) != len(ids):
        return None
    sweep_ids = [t.sweep_id for t in found.values()]
    if access.sweeps_access(user, sweep_ids, share_token) is None:
        return None
    return [found[i] for i in ids]


def readable_sweeps(user, ids: list[int]) -> list[Sweep] | None:
    """Return the sweeps in the order asked, or None when any is missing or not readable."""
    found = access.sweeps_access(user, ids)
    return None if found is None else [found[i].sweep for i in ids]


def metric_of(sweep: Sweep) -> specs.Metric | None:
    """Return a sweep's ranking metric, or None (none, or a spec stored under older rules)."""
    try:
        return stored.spec_of(sweep).metric
    except specs.SpecError:
        return None


def trials(chosen: list[Trial]) -> dict[str, Any]:
    """Return the trials' facts and params side by side and their curves (every metric).

    `params` is the union of param names in first-seen order; `metric` the ranking metric of
    the first trial's sweep (the curves' default). Each curve is [[step, value], ...].
    """
    curves = results.series([t.pk for t in chosen], None, CURVE_POINTS)
    names: dict[str, None] = {}
    for trial in chosen:
        names.update(dict.fromkeys(trial.config.params))
    metric = metric_of(chosen[0].sweep)
    rows = [trial_row(t, curves.get(t.pk, {})) for t in chosen]
    metrics = sorted({m for row in rows for m in row["curves"]})
    return {"metric": metric.name if metric else None, "params": list(names),
            "metrics": metrics, "trials": rows}  # fmt: skip


def trial_row(trial: Trial, curves: dict[str, list]) -> dict[str, Any]:
    """Return one trial's facts, params and curves for a comparison."""
    return {
        "id": trial.pk,
        "number": trial.number,
        "sweep": {"id": trial.sweep_id, "name": trial.sweep.name},
        "status": trial.status,
        "bracket": trial.bracket,
        "rung": trial.rung,
        "resource": trial.resource,
        "resource_name": planning.resource_name(stored.spec_of(trial.sweep)),
        "metric_value": trial.metric_value,
        "params": trial.config.params,
        "curves": curves,
    }


def sweeps(chosen: list[Sweep]) -> dict[str, Any]:
    """Return each sweep's plan and spec side by side and its best-so-far series.

    `params` is the union of matrix param names; each sweep's `matrix` maps a name to its
    distribution as written (e.g. "loguniform(-9, 0)").
    """
    rows = [sweep_row(s) for s in chosen]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row["matrix"]))
    return {"params": list(names), "sweeps": rows}


def sweep_row(sweep: Sweep) -> dict[str, Any]:
    """Return one sweep's plan summary, matrix, best value and best-so-far series."""
    spec = stored.spec_of(sweep)
    plan = sweep.plan or {}
    metric = spec.metric
    best = results.best(sweep)
    return {
        "id": sweep.pk, "name": sweep.name, "status": sweep.status,
        "algorithm": sweep.algorithm, "concurrency": sweep.concurrency, "seed": sweep.seed,
        "metric": metric.name if metric else None,
        "maximize": bool(metric and metric.maximize),
        "resource_name": planning.resource_name(spec),
        "plan": {"max_iter": plan.get("max_iter"), "eta": plan.get("eta"),
                 "brackets": len(plan.get("brackets", [])),
                 "configs": plan.get("total_configs"), "trials": plan.get("total_trials"),
                 "resource": plan.get("total_resource")},
        "matrix": {p.name: p.describe() for p in spec.matrix.params},
        "best": best["value"] if best else None,
        "best_trial": best["trial"] if best else None,
        "best_so_far": results.best_so_far(sweep),
    }  # fmt: skip
