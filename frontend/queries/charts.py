"""Chart data, read in a fixed number of queries and downsampled in SQL.

A sweep of 10,000 trials and 1,000,000 points must chart quickly, so curves never read every
point: each trial's series is thinned by `results.series` in PostgreSQL, and at most
`CURVE_TRIALS` trials are drawn, running ones and the best first.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Case, F, Subquery, When

from scheduler import results, stored
from scheduler.models import MetricPoint, Sweep, Trial, TrialStatus

from .common import maximizes, metric_of, param_names, resource_name
from .trial_table import read_filters

CURVE_TRIALS = 400
CURVE_POINTS = 40_000
PARALLEL_ROWS = 1_000
TRIAL_POINTS = 1_000


def metric_name(sweep: Sweep) -> str | None:
    """Return the ranking metric, or the first metric any trial reported."""
    metric = metric_of(sweep)
    if metric:
        return metric.name
    first = MetricPoint.objects.filter(trial__sweep=sweep).values_list("name", flat=True)
    return first.first()


def best_first(sweep: Sweep) -> list[Any]:
    """Order trials as metric_values.rank_key does: by value in the metric's direction, then
    NaN (which PostgreSQL sorts above every number), then trials without a value."""
    metric = F("metric_value")
    nan_last = Case(When(metric_value=math.nan, then=1), default=0)
    by_value = metric.desc(nulls_last=True) if maximizes(sweep) else metric.asc(nulls_last=True)
    return [nan_last.asc(), by_value]


def curves(sweep: Sweep, get: Any) -> dict[str, Any]:
    """Return learning curves of the metric against the resource (four queries)."""
    query, _, _ = read_filters(sweep, get)
    started = sweep.trials.filter(query).exclude(
        status__in=(TrialStatus.PENDING, TrialStatus.QUEUED)
    )
    running_first = Case(When(status=TrialStatus.RUNNING, then=0), default=1)
    order = [running_first.asc(), *best_first(sweep), "id"]
    fields = (
        "id", "number", "config_id", "bracket", "rung", "status", "parent_id", "promoted",
        "resource",
    )  # fmt: skip
    trials = list(started.order_by(*order).values(*fields, "metric_value")[:CURVE_TRIALS])
    name = metric_name(sweep)
    per = max(CURVE_POINTS // max(len(trials), 1), 2)
    points = results.series([t["id"] for t in trials], name, per)
    for trial in trials:
        trial["points"] = points.get(trial["id"], {}).get(name or "", [])
    return {
        "metric": name,
        "resource": resource_name(sweep),
        "rungs": rung_resources(sweep),
        "trials": trials,
        "total": started.count() if len(trials) >= CURVE_TRIALS else len(trials),
        "per_trial": per,
    }


def rung_resources(sweep: Sweep) -> list[dict[str, Any]]:
    """Return each rung index with the resources its brackets give it."""
    found: dict[int, list] = {}
    for bracket in (sweep.plan or {}).get("brackets", []):
        for rung in bracket["rungs"]:
            found.setdefault(rung["rung"], []).append(rung["resource"])
    return [{"rung": i, "resources": sorted(set(v))} for i, v in sorted(found.items())]


def parallel(sweep: Sweep) -> dict[str, Any]:
    """Return each config's params with its metric at the highest rung it finished."""
    latest = (
        sweep.trials.filter(status=TrialStatus.SUCCEEDED, metric_value__isnull=False)
        .order_by("config_id", "-rung")
        .distinct("config_id")
        .values("id")
    )
    rows = list(
        Trial.objects.filter(pk__in=Subquery(latest))
        .order_by(*best_first(sweep), "id")
        .values("id", "number", "rung", "metric_value", "config__params")[:PARALLEL_ROWS]
    )
    return {
        "params": param_names(sweep),
        "kinds": {p.name: p.kind for p in stored.spec_of(sweep).matrix.params},
        "metric": metric_name(sweep),
        "maximize": maximizes(sweep),
        "rows": [
            {"trial": r["id"], "number": r["number"], "rung": r["rung"],
             "metric": r["metric_value"], "params": r["config__params"]}
            for r in rows
        ],
    }  # fmt: skip


def best_so_far(sweep: Sweep) -> dict[str, Any]:
    """Return the best metric value so far against the cumulative resource spent."""
    return {"metric": metric_name(sweep), "resource": resource_name(sweep),
            **results.best_so_far(sweep)}  # fmt: skip


def trial_series(trial: Trial) -> dict[str, Any]:
    """Return every metric of one trial, thinned to `TRIAL_POINTS` points a metric."""
    series = results.series([trial.pk], None, TRIAL_POINTS).get(trial.pk, {})
    return {"trial": trial.pk, "status": trial.status, "series": series}
