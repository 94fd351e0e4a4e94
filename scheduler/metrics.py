"""Metric points: validate, store in bulk, keep each trial's last values, mark early stops.

A value is a number or one of the strings "NaN", "Infinity", "-Infinity" (see
`metric_values`); NaN and infinities are stored as they are. Points are stored only while
their trial runs. Whatever is not stored (a malformed point or line, points sent after the
trial ended) is counted on the trial with its first reasons (`reject`), never dropped unseen.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    F,
    FloatField,
    JSONField,
    PositiveSmallIntegerField,
    Q,
    Value,
    When,
)
from django.db.models.expressions import CombinedExpression
from django.utils import timezone

from . import events, metric_values, queueing, stored, trials, yamlsource
from . import spec as specs
from .models import MetricPoint, Sweep, Trial

MAX_NAME = 100


class MetricError(ValueError):
    """A metric point that cannot be stored; the message says why."""


class Point(NamedTuple):
    """One metric point: a name, a step (resource units) and a value (NaN and infinities
    allowed). A named tuple: a runner builds one per value it reads, 100,000 a second."""

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


NAME_RULE = f"name must be a non-empty string of at most {MAX_NAME} chars"


def make_point(name: Any, step: Any, value: Any, where: str = "metric") -> Point:
    """Check one point's parts and build it; raise MetricError saying `where` and why.

    A float value and step (what JSON numbers with a fraction parse to) skip the conversions.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise MetricError(f"{where}: {NAME_RULE}")
    problem = unstorable_name(name)
    if problem is not None:
        raise MetricError(f"{where}: name holds a NUL or a lone surrogate: {problem}")
    if type(value) is float:
        number = value
    else:
        try:
            number = metric_values.from_wire(value)
        except ValueError as exc:
            raise MetricError(f"{where}: value of {name!r} {exc}") from None
    at = step if type(step) is float else as_float(0 if step is None else step)
    if at is None or not math.isfinite(at):
        raise MetricError(f"{where}: step of {name!r} must be a finite number")
    return Point(name, at, number)


@functools.lru_cache(maxsize=4096)
def unstorable_name(name: str) -> str | None:
    """Return why a name of at most MAX_NAME chars cannot be stored, or None. Cached (at most
    4096 names of 100 chars): a trial repeats a few names."""
    return yamlsource.unstorable(name)


def as_float(value: Any) -> float | None:
    """Return a JSON number as a float, or None for a non-number or an int past a float."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


@dataclass(frozen=True)
class Latest:
    """What a batch of points of one trial sets on it: the last value of each metric (wire
    form), the ranking metric's last value if the batch has it (`ranked`), and the first
    early-stopping rule a point meets as (rule index, value)."""

    last: dict[str, Any]
    ranked: bool
    metric_value: float | None
    met: tuple[int, float] | None

    @classmethod
    def of(cls, points: list[Point], spec: specs.SweepSpec) -> Latest:
        newest = {p.name: p.value for p in points}
        last = {name: metric_values.to_wire(value) for name, value in newest.items()}
        metric = spec.metric
        ranked = metric is not None and metric.name in newest
        value = newest[metric.name] if metric is not None and ranked else None
        return cls(last, ranked, value, first_rule_met(spec, points))


def record(trial: Trial, points: list[Point]) -> int:
    """Store points of a running trial in bulk, update its last values, publish them live;
    return how many were stored.

    `trial` speaks for the attempt it was loaded in. The trial's status, attempt and token
    hash are checked in the same statement that updates its last values, so a point never
    lands after the attempt ended (stopped, killed, finished, requeued): such points are
    counted on the trial instead (`reject`). When a value meets an early-stopping rule, the
    trial is marked with the rule and a scheduling step is requested: the step ends the sweep.
    """
    if not points:
        return 0
    spec = stored.spec_of(trial.sweep)
    latest = Latest.of(points, spec)
    with transaction.atomic():
        running = update_last_values(trial, latest)
        if running:
            insert_points(trial.pk, points)
            if latest.met is not None:
                queueing.request_step(trial.sweep_id)
    if not running:
        # Counted when this attempt's trial ended; a stale attempt (requeued) changes nothing.
        same_attempt = Trial.objects.filter(
            pk=trial.pk, attempt=trial.attempt, token_hash=trial.token_hash
        )
        if trial.token_hash and same_attempt.exists():
            reject(trial.pk, [f"{len(points)} point(s) sent after the trial ended"], len(points))
        return 0
    events.publish_metrics(trial.sweep_id, trial.pk, points)
    return len(points)


# The fields `merge_locked` changes on the trial, for the caller's save.
MERGED_FIELDS = ("last_metrics", "metric_value", "met_rule", "met_value")


def merge_locked(trial: Trial, spec: specs.SweepSpec, points: list[Point]) -> None:
    """Take a running attempt's last points into its trial, whose row the caller has locked
    and saves with MERGED_FIELDS: its last values, ranking value and early-stopping mark (as
    `record` sets them); publish them once the transaction commits. The caller stores the
    points themselves (`insert_many`).

    A local runner's finish takes an attempt's last points this way, in its own
    transaction (scheduler.handoff), instead of in one of their own.
    """
    latest = Latest.of(points, spec)
    trial.last_metrics = {**trial.last_metrics, **latest.last}
    if latest.ranked:
        trial.metric_value = latest.metric_value
    met = latest.met
    if met is not None and (trial.met_rule is None or trial.met_rule > met[0]):
        trial.met_rule, trial.met_value = met
    sweep_id, trial_id = trial.sweep_id, trial.pk
    transaction.on_commit(lambda: events.publish_metrics(sweep_id, trial_id, points))


COPY_FROM = 100  # points: fewer go in one INSERT (COPY costs a round trip more)


def insert_many(points_of: list[tuple[int, list[Point]]]) -> None:
    """Store the points of several trials (trial id, points) in one INSERT."""
    now = timezone.now()
    MetricPoint.objects.bulk_create(
        MetricPoint(trial_id=trial_id, name=p.name, step=p.step, value=p.value, created_at=now)
        for trial_id, points in points_of
        for p in points
    )


# The table's columns and their types for binary COPY (it sends each value in PostgreSQL's
# own binary form, so the types must be exact: bigint for the trial's id).
COPY_COLUMNS = "trial_id, name, step, value, created_at"
COPY_TYPES = ["int8", "varchar", "float8", "float8", "timestamptz"]


@contextlib.contextmanager
def copy_rows() -> Iterator[Callable[[tuple[int, str, float, float, datetime]], None]]:
    """Open a binary COPY into the metric points table on the current connection and yield
    its row writer, taking (trial id, name, step, value, created_at); the rows are sent when
    the block ends.

    COPY moves rows about ten times faster than a multi-row INSERT built by the ORM, and its
    binary format about four times faster again than its text format (psycopg writes the
    values in C: https://www.psycopg.org/psycopg3/docs/basic/copy.html#binary-copy); NaN and
    infinities go as they are.
    """
    table = MetricPoint._meta.db_table
    sql = f"COPY {table} ({COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(COPY_TYPES)
        yield copy.write_row


def insert_points(trial_id: int, points: list[Point]) -> None:
    """Store points of one trial in the current transaction: COPY_FROM or more with binary
    COPY (`copy_rows`), fewer with one INSERT."""
    if len(points) < COPY_FROM:
        insert_many([(trial_id, points)])
        return
    now = timezone.now()
    with copy_rows() as write:
        for point in points:
            write((trial_id, point.name, point.step, point.value, now))


@transaction.atomic
def reject(trial_id: int, reasons: list[str], count: int) -> None:
    """Count `count` metric points or lines of a trial that were not stored, keep the first
    Trial.MAX_REJECTIONS reasons, and the first time, emit a metrics_rejected event."""
    locked = trials.lock_trial(trial_id) if count > 0 else None
    if locked is not None:
        reject_locked(*locked, reasons, count)


def reject_locked(sweep: Sweep, trial: Trial, reasons: list[str], count: int) -> None:
    """`reject` for a trial whose sweep and row the caller has locked (those instances)."""
    first = trial.rejected_points == 0
    room = max(Trial.MAX_REJECTIONS - len(trial.rejections), 0)
    trial.rejected_points += count
    trial.rejections = [*trial.rejections, *reasons[:room]]
    trial.save(update_fields=["rejected_points", "rejections"])
    if first:
        payload: events.MetricsRejected = {
            "trial": trial.pk,
            "number": trial.number,
            "bracket": trial.bracket,
            "rung": trial.rung,
            "count": count,
            "reasons": reasons[: Trial.MAX_REJECTIONS],
        }
        events.emit(sweep, events.METRICS_REJECTED, payload)


def first_rule_met(spec: specs.SweepSpec, points: list[Point]) -> tuple[int, float] | None:
    """Return (rule index, value) of the first early-stopping rule any point meets, or None."""
    for index, rule in enumerate(spec.early_stopping):
        for point in points:
            if point.name == rule.metric and rule.reached(point.value):
                return index, point.value
    return None


def update_last_values(trial: Trial, latest: Latest) -> bool:
    """Merge the newest values into a running trial's last_metrics and ranking value, and
    mark it with the first early-stopping rule they meet unless an earlier rule marks it;
    False (and nothing changed) when the trial is not running.

    One UPDATE: a second one of the same row in the transaction would have PostgreSQL check
    the row's foreign keys at commit, locking the sweep's row, which a scheduling step may
    hold while it waits for this trial's.
    """
    last = latest.last
    # Concatenating jsonb in the database keeps concurrent writers from losing each other's keys.
    merged = CombinedExpression(F("last_metrics"), "||", Value(last, output_field=JSONField()))
    updates: dict[str, Any] = {"last_metrics": merged}
    if latest.ranked:
        updates["metric_value"] = latest.metric_value
    if latest.met is not None:
        index, value = latest.met
        earlier = Q(met_rule__isnull=True) | Q(met_rule__gt=index)
        updates["met_rule"] = Case(
            When(earlier, then=Value(index)),
            default=F("met_rule"),
            output_field=PositiveSmallIntegerField(),
        )
        updates["met_value"] = Case(
            When(earlier, then=Value(value)), default=F("met_value"), output_field=FloatField()
        )
    current = Trial.objects.running_attempt(trial.pk, trial.attempt, trial.token_hash)
    running = current.update(**updates)
    if running:
        trial.last_metrics = {**trial.last_metrics, **last}
    return bool(running)
