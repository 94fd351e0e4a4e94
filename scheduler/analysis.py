"""A sweep's hyperparameter importance and slice data, per rung, for the API and dashboard.

A "rung" here is a resource level: every trial that ran at the same resource, whichever
bracket it belongs to (in Hyperband, rung i of bracket s runs at R·eta^(i-s), so rungs of
different brackets share levels). Metrics at one level are comparable; across levels they are
not. Random, grid and bo sweeps have one level. By default the highest level with at least
`importance.MIN_TRIALS` usable trials is used: the most resource, the most telling ranking.

Usable trials follow `models.ranked_q` (succeeded or stopped, a value that is not NaN):
failed, lost and NaN trials are counted as excluded, never fitted. The forest's result is
cached under a digest of its exact input (trial ids, params and values), so it is computed
once per change of the level's finished trials, not once per request (measured: 0.6 s for
10 trials, 1.5 s for 1,000 on one core; scikit-learn's first import adds about 4 s).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q

from . import importance, metric_values, stored
from .models import Sweep, Trial, ranked_q

MAX_ROWS = 1000  # a seeded sample of a bigger level is fitted, and says so
CACHE_SECONDS = 24 * 3600


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
    scikit-learn is missing or trials are too few), reason (why not, else ''), params (each
    with name, kind, scale, share, drop, spread, from most to least important), trials (the
    count the result rests on), sampled_from, fit (out-of-bag R²) and points (trial, params,
    value as on the wire) for slice plots. `resource` not among the levels: level None.
    """
    spec = stored.spec_of(sweep)
    metric = spec.metric
    kinds = {p.name: p.kind for p in spec.matrix.params}
    found = levels(sweep)
    level = choose(found, resource)
    out: dict[str, Any] = {
        "metric": metric.name if metric else None,
        "maximize": bool(metric and metric.maximize),
        "levels": found, "level": level, "min_trials": importance.MIN_TRIALS,
        "available": False, "reason": "", "method": "", "trials": 0, "sampled_from": 0, "fit": None,
        "params": [{"name": n, "kind": k, "scale": None, "share": None, "drop": None,
                    "spread": None} for n, k in kinds.items()],
        "points": [],
    }  # fmt: skip
    rows = usable_rows(sweep, level["resource"]) if level else []
    out["points"] = [
        {"trial": t, "params": p, "value": metric_values.to_wire(v)} for t, p, v in rows
    ]
    out["sampled_from"] = len(rows)
    out["reason"] = unavailable_reason(metric is not None, level, len(rows))
    if out["reason"]:
        return out
    return out | fitted(sweep, rows, kinds)


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


def fitted(sweep: Sweep, rows: list[tuple[int, dict, float]], kinds: dict[str, str]) -> dict:
    """Return the cached or freshly computed importance of these rows (a sample of MAX_ROWS)."""
    if len(rows) > MAX_ROWS:
        rows = sorted(random.Random(sweep.seed).sample(rows, MAX_ROWS))
    key = "hbsite:importance:" + digest(sweep.pk, rows, kinds)
    cached = cache.get(key)
    if cached is None:
        result = importance.compute([r[1] for r in rows], [r[2] for r in rows], kinds, sweep.seed)
        cached = {
            "available": True, "trials": result.trials, "method": result.method,
            "fit": result.fit if result.fit is None or math.isfinite(result.fit) else None,
            "params": [{"name": p.name, "kind": kinds[p.name], "scale": p.scale,
                        "share": p.share, "drop": p.drop, "spread": p.spread}
                       for p in result.params],
        }  # fmt: skip
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def digest(sweep_id: int, rows: list[tuple[int, dict, float]], kinds: dict[str, str]) -> str:
    """Return a digest of exactly what the forest is fitted to."""
    body = json.dumps([sweep_id, kinds, rows], sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(body.encode()).hexdigest()
