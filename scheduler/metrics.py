"""Metric points: validate, store in bulk, keep each trial's last values, mark early stops."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, JSONField, Q, Value
from django.db.models.expressions import CombinedExpression

from . import events, queueing, stored, yamlsource
from . import spec as specs
from .models import MetricPoint, Trial

MAX_NAME = 100


class MetricError(ValueError):
    """A metric point that cannot be stored; the message says why."""


@dataclass(frozen=True)
class Point:
    name: str
    step: float
    value: float


def parse_points(items: Iterable[Any], default_step: float | None) -> list[Point]:
    """Turn `{"name", "value", "step"?}` dicts into points; raise MetricError on a bad one."""
    points = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise MetricError(f"point {n}: expected an object with name and value")
        step = item.get("step", default_step)
        points.append(make_point(item.get("name"), step, item.get("value"), where=f"point {n}"))
    if len(points) > settings.HBSITE_MAX_METRIC_BATCH:
        raise MetricError(f"at most {settings.HBSITE_MAX_METRIC_BATCH} points per request")
    return points


def make_point(name: Any, step: Any, value: Any, where: str = "metric") -> Point:
    """Check one point's parts and build it."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise MetricError(f"{where}: name must be a non-empty string of at most {MAX_NAME} chars")
    problem = yamlsource.unstorable(name)
    if problem:
        raise MetricError(f"{where}: name {problem}")
    number = as_float(value)
    if number is None:
        beyond = " within a float's range" if isinstance(value, int) else ""
        raise MetricError(f"{where}: value of {name!r} must be a number{beyond}")
    step = as_float(0 if step is None else step)
    if step is None or not math.isfinite(step):
        raise MetricError(f"{where}: step of {name!r} must be a finite number")
    return Point(name=name, step=step, value=number)


def as_float(value: Any) -> float | None:
    """Return a JSON number as a float, or None for a non-number or an int past a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def record(trial: Trial, points: list[Point]) -> None:
    """Store points in bulk, update the trial's last values, and publish them live.

    When a value meets an early-stopping rule, the trial is marked with the rule and a
    scheduling step is requested: the step ends the sweep.
    """
    if not points:
        return
    spec = stored.spec_of(trial.sweep)
    with transaction.atomic():
        MetricPoint.objects.bulk_create(
            MetricPoint(trial=trial, name=p.name, step=p.step, value=p.value) for p in points
        )
        last = {p.name: (p.value if math.isfinite(p.value) else None) for p in points}
        update_last_values(trial, last, spec.metric)
        if mark_early_stop(trial, spec, points):
            queueing.request_step(trial.sweep_id)
    events.publish_metrics(trial.sweep_id, trial.pk, [json_point(p) for p in points])


def first_rule_met(spec: specs.SweepSpec, points: list[Point]) -> tuple[int, float] | None:
    """Return (rule index, value) of the first early-stopping rule any point meets, or None."""
    for index, rule in enumerate(spec.early_stopping):
        for point in points:
            if point.name == rule.metric and rule.reached(point.value):
                return index, point.value
    return None


def mark_early_stop(trial: Trial, spec: specs.SweepSpec, points: list[Point]) -> bool:
    """Mark the trial with the first rule its points meet, unless an earlier rule marks it."""
    met = first_rule_met(spec, points)
    if met is None:
        return False
    index, value = met
    earlier = Q(met_rule__isnull=True) | Q(met_rule__gt=index)
    return bool(Trial.objects.filter(earlier, pk=trial.pk).update(met_rule=index, met_value=value))


def update_last_values(
    trial: Trial, last: dict[str, float | None], metric: specs.Metric | None
) -> None:
    """Merge the newest values into the trial's last_metrics and its ranking value."""
    # Concatenating jsonb in the database keeps concurrent writers from losing each other's keys.
    merged = CombinedExpression(F("last_metrics"), "||", Value(last, output_field=JSONField()))
    updates: dict[str, Any] = {"last_metrics": merged}
    if metric is not None and metric.name in last:
        # A NaN value is stored as None: it ranks last, like a trial that never reported.
        updates["metric_value"] = last[metric.name]
    Trial.objects.filter(pk=trial.pk).update(**updates)
    trial.last_metrics = {**trial.last_metrics, **last}


def json_point(point: Point) -> dict[str, Any]:
    value = point.value if math.isfinite(point.value) else None
    return {"name": point.name, "step": point.step, "value": value}
