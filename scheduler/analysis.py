"""A sweep's hyperparameter importance and slice data, per rung, for the API and dashboard.

A "rung" here is a resource level: every trial that ran at the same resource, whichever
bracket it belongs to (in Hyperband, rung i of bracket s runs at R·eta^(i-s), so rungs of
different brackets share levels). Metrics at one level are comparable; across levels they are
not. Random, grid and bo sweeps have one level. By default the highest level with at least
`importance.MIN_TRIALS` usable trials is used: the most resource, the most telling ranking.

Usable trials follow `models.ranked_q` (succeeded or stopped, a value that is not NaN):
failed, lost and NaN trials are counted as excluded, never fitted.

Fitting takes seconds (measured on one core: 0.6 s for 10 trials, 1.5 s for 1,000, plus about
4 s for scikit-learn's first import in a process), too long for a web request: under ASGI it
would hold the thread every synchronous view shares. So a request only reads the result from
the shared Redis cache ("analysis"), keyed by a digest of its exact input (trial ids, params,
values); on a miss it answers `pending` and queues the `importance` task, once per sweep at a
time, which computes every rung with enough trials on the scheduler's worker.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from typing import Any

from django.core.cache import caches
from django.db.models import Count, Q

from . import importance, queueing, stored
from .models import Sweep, Trial, ranked_q

MAX_ROWS = 1000  # a seeded sample of a bigger level is fitted, and says so
CACHE_SECONDS = 24 * 3600
QUEUED_SECONDS = 60  # a sweep's task is queued again only after this, or once it ran


def levels(sweep: Sweep) -> list[dict[str, Any]]:
    """Return each resource level: `resource` (None for searches without one), `rungs`
    (bracket/rung pairs), `usable`, `excluded` (failed, lost or NaN) and `trials` ended."""
    ended = Q(status__in=Trial.ENDED)
    rows = (
        sweep.trials.values("resource", "bracket", "rung")
        .annotate(usable=Count("id", filter=ranked_q()), ended=Count("id", filter=ended))
        .order_by("resource", "bracket", "rung")
    )
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        level = found.setdefault(
            row["resource"], {"resource": row["resource"], "rungs": [], "usable": 0, "trials": 0}
        )
        level["rungs"].append({"bracket": row["bracket"], "rung": row["rung"]})
        level["usable"] += row["usable"]
        level["trials"] += row["ended"]
    for level in found.values():
        level["excluded"] = level["trials"] - level["usable"]
    return list(found.values())


def choose(found: list[dict[str, Any]], asked: float | None) -> dict[str, Any] | None:
    """Return the level asked for, else the highest with enough usable trials, else the one
    with the most usable trials (None when the sweep has no trials)."""
    if asked is not None:
        return next((lv for lv in found if lv["resource"] == asked), None)
    enough = [lv for lv in found if lv["usable"] >= importance.MIN_TRIALS]
    if enough:
        return max(enough, key=lambda lv: lv["resource"] or 0)
    return max(found, key=lambda lv: (lv["usable"], lv["resource"] or 0), default=None)


def usable_rows(sweep: Sweep, resource: float | None) -> list[tuple[int, dict, float]]:
    """Return (trial id, params, metric value) of the usable trials at one level, by id."""
    rows = sweep.trials.filter(ranked_q(), resource=resource).order_by("id")  # None: IS NULL
    return list(rows.values_list("id", "config__params", "metric_value"))


def sweep_importance(sweep: Sweep, resource: float | None = None) -> dict[str, Any]:
    """Return importance and slice points at one level of a sweep (see the module doc).

    Keys: metric, maximize, levels, level (the one used, or None), available (False when
    scikit-learn is missing, trials are too few or the result is still being computed),
    pending (True while it is), reason (why not available, else ''), params (each with name,
    kind, scale, share, drop, spread, from most to least important), trials (the count the
    result rests on), sampled_from, fit (out-of-bag R²), method and points (trial id,
    number, params, value) for slice plots. `resource` not among the levels: level None.
    """
    spec = stored.spec_of(sweep)
    metric = spec.metric
    kinds = {p.name: p.kind for p in spec.matrix.params}
    found = levels(sweep)
    level = choose(found, resource)
    rows = usable_rows(sweep, level["resource"]) if level else []
    numbers = dict(sweep.trials.filter(pk__in=[t for t, _, _ in rows]).values_list("id", "number"))
    out: dict[str, Any] = {
        "metric": metric.name if metric else None,
        "maximize": bool(metric and metric.maximize),
        "levels": found, "level": level, "min_trials": importance.MIN_TRIALS,
        "available": False, "pending": False, "method": "", "trials": 0,
        "sampled_from": len(rows), "fit": None,
        "reason": unavailable_reason(metric is not None, level, len(rows)),
        "params": [{"name": n, "kind": k, "scale": scale(n, k, rows), "share": None,
                    "drop": None, "spread": None} for n, k in kinds.items()],
        "points": [{"trial": t, "number": numbers.get(t), "params": p, "value": v}
                   for t, p, v in rows],
    }  # fmt: skip
    if out["reason"]:
        return out
    result = caches["analysis"].get(cache_key(sweep, rows, kinds))
    if result is None:
        request(sweep.pk)
        return out | {"pending": True, "reason": "Computing importance…"}
    return out | result


def scale(name: str, kind: str, rows: list[tuple[int, dict, float]]) -> str:
    """Return how a param's axis reads (linear, log or category), as the forest encodes it."""
    return importance.scale_of(kind, [params.get(name) for _, params, _ in rows])


def request(sweep_id: int) -> None:
    """Queue the importance task for a sweep unless one is already waiting."""
    if caches["analysis"].add(queued_key(sweep_id), 1, QUEUED_SECONDS):
        queueing.request_importance(sweep_id)


def compute(sweep_id: int) -> None:
    """Compute and cache the importance at every level of a sweep with enough usable trials
    that is not cached yet (the `importance` task's body); a failure is cached as a reason."""
    sweep = Sweep.objects.filter(pk=sweep_id).first()
    caches["analysis"].delete(queued_key(sweep_id))
    if sweep is None:
        return
    kinds = {p.name: p.kind for p in stored.spec_of(sweep).matrix.params}
    for level in levels(sweep):
        rows = usable_rows(sweep, level["resource"])
        key = cache_key(sweep, rows, kinds)
        if len(rows) >= importance.MIN_TRIALS and caches["analysis"].get(key) is None:
            caches["analysis"].set(key, fitted(sweep, rows, kinds), CACHE_SECONDS)


def unavailable_reason(has_metric: bool, level: dict[str, Any] | None, usable: int) -> str:
    """Say why importance cannot be shown, or return '' when it can."""
    if not has_metric:
        return "This sweep has no ranking metric, so there is nothing to explain."
    if level is None:
        return "No trial has run at this resource yet."
    if usable < importance.MIN_TRIALS:
        return (
            f"{usable} usable trial{'s' if usable != 1 else ''} at this rung: importance needs "
            f"at least {importance.MIN_TRIALS} succeeded trials with a metric value."
        )
    return importance.missing() or ""


def sample(sweep: Sweep, rows: list[tuple[int, dict, float]]) -> list[tuple[int, dict, float]]:
    """Return the rows, or a seeded sample of MAX_ROWS of them, in id order."""
    if len(rows) <= MAX_ROWS:
        return rows
    return sorted(random.Random(sweep.seed).sample(rows, MAX_ROWS))


def fitted(sweep: Sweep, rows: list[tuple[int, dict, float]], kinds: dict[str, str]) -> dict:
    """Return the importance of these rows (a sample of MAX_ROWS), as the response's keys."""
    rows = sample(sweep, rows)
    try:
        result = importance.compute([r[1] for r in rows], [r[2] for r in rows], kinds, sweep.seed)
    except Exception as error:  # shown on the page instead of a result that never comes
        return {"reason": f"Importance could not be computed: {error}"}
    return {
        "available": True, "trials": result.trials, "method": result.method,
        "fit": result.fit if result.fit is None or math.isfinite(result.fit) else None,
        "params": [{"name": p.name, "kind": kinds[p.name], "scale": p.scale,
                    "share": p.share, "drop": p.drop, "spread": p.spread}
                   for p in result.params],
    }  # fmt: skip


def cache_key(sweep: Sweep, rows: list[tuple[int, dict, float]], kinds: dict[str, str]) -> str:
    """Return the cache key of exactly what the forest is fitted to."""
    body = json.dumps([sweep.pk, kinds, sample(sweep, rows)], sort_keys=True, allow_nan=True)
    return "hbsite:importance:" + hashlib.sha256(body.encode()).hexdigest()


def queued_key(sweep_id: int) -> str:
    return f"hbsite:importance-queued:{sweep_id}"
