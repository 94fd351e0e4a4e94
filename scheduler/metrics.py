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

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import events, metric_values, queueing, stored, trials, yamlsource
from . import spec as specs
from .models import MetricPoint, Sweep, Trial, TrialStatus

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

    `trial` speaks for the attempt it was loaded in (its sweep loaded). The trial's status,
    attempt and token hash are checked in the same statement that updates its last values,
    so a point never lands after the attempt ended (stopped, killed, finished, requeued):
    such points are counted on the trial instead (`reject`). When a value meets an
    early-stopping rule, the trial is marked with the rule and a scheduling step is
    requested: the step ends the sweep.
    """
    if not points:
        return 0
    if record_many([(trial, points)]) == [True]:
        return len(points)
    # Counted when this attempt's trial ended; a stale attempt (requeued) changes nothing.
    same_attempt = Trial.objects.filter(
        pk=trial.pk, attempt=trial.attempt, token_hash=trial.token_hash
    )
    if trial.token_hash and same_attempt.exists():
        reject(trial.pk, [f"{len(points)} point(s) sent after the trial ended"], len(points))
    return 0


Attempt = tuple[int, int, str]  # a trial's id, attempt number and token hash


def attempt_of(trial: Trial) -> Attempt:
    """The attempt a trial instance speaks for."""
    return trial.pk, trial.attempt, trial.token_hash


def record_many(posts: list[tuple[Trial, list[Point]]]) -> list[bool]:
    """Store the points of several posts (trial, points), as `record` stores one, at once:
    fewer than COPY_FROM points in all in one statement (atomic on its own: one round trip
    where a transaction takes four), more in one transaction with COPY. Return, for each
    post, whether its points were stored: False for a post whose trial no longer runs that
    attempt (nothing of it is stored, nothing counted: the caller decides).

    Raises what the database raises; then nothing is stored.
    """
    batch = PostBatch.of(posts)
    running: set[Attempt] = set()
    if batch.merged and batch.small:
        running = attempts_returned(*batch.statement())
    elif batch.merged:
        with transaction.atomic():
            running = attempts_returned(*last_values_statement(batch.updates))
            copy_points([(trial.pk, points) for key, (trial, points) in batch.merged.items()
                         if key in running])  # fmt: skip
    for sweep_id in batch.steps_wanted(running):
        queueing.request_step(sweep_id)
    return batch.stored(running)


def attempts_returned(sql: str, params: list[Any]) -> set[Attempt]:
    """Run a `last_values_statement`; return the attempts it updated (still running)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(trial_id, attempt, token_hash) for trial_id, attempt, token_hash in cursor}


@dataclass
class PostBatch:
    """Posts of metric points (trial, points) to store at once, their points merged per
    attempt in the posts' order, with each attempt's newest values (`Latest`)."""

    posts: list[tuple[Trial, list[Point]]]
    merged: dict[Attempt, tuple[Trial, list[Point]]]
    latest: dict[Attempt, Latest]

    @classmethod
    def of(cls, posts: list[tuple[Trial, list[Point]]]) -> PostBatch:
        merged: dict[Attempt, tuple[Trial, list[Point]]] = {}
        for trial, points in posts:
            if points:
                merged.setdefault(attempt_of(trial), (trial, []))[1].extend(points)
        latest = {
            key: Latest.of(points, stored.spec_of(trial.sweep))
            for key, (trial, points) in merged.items()
        }
        return cls(posts, merged, latest)

    @property
    def updates(self) -> list[tuple[Trial, Latest]]:
        return [(trial, self.latest[key]) for key, (trial, _) in self.merged.items()]

    @property
    def small(self) -> bool:
        """Whether the points go in the same statement as the UPDATE (`statement`)."""
        return sum(len(points) for _, points in self.merged.values()) < COPY_FROM

    def statement(self) -> tuple[str, list[Any]]:
        """The one statement storing a small batch (`last_values_statement` with points)."""
        points = [points for _, points in self.merged.values()]
        return last_values_statement(self.updates, points)

    def stored(self, running: set[Attempt]) -> list[bool]:
        """Take what was stored (the attempts `running`, as the database returned them):
        merge the last values into the trials and publish the points; return, for each post,
        whether its points were stored. The caller asks for the `steps_wanted`."""
        for key in running:
            trial, points = self.merged[key]
            trial.last_metrics = {**trial.last_metrics, **self.latest[key].last}
            events.publish_metrics(trial.sweep_id, trial.pk, points)
        return [attempt_of(trial) in running for trial, _ in self.posts]

    def steps_wanted(self, running: set[Attempt]) -> set[int]:
        """Return the sweeps (ids) whose stored points meet an early-stopping rule: each
        wants a scheduling step, which ends it."""
        return {self.merged[key][0].sweep_id for key in running if self.latest[key].met is not None}


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


COPY_FROM = 100  # points: fewer go in one statement with the UPDATE (COPY takes a transaction)


# The table's columns, and their types for binary COPY (it sends each value in PostgreSQL's
# own binary form, so the types must be exact: bigint for the trial's id).
COPY_COLUMNS = "trial_id, name, step, value, created_at"
COPY_TYPES = ["int8", "varchar", "float8", "float8", "timestamptz"]


def insert_many(points_of: list[tuple[int, list[Point]]]) -> None:
    """Store the points of several trials (trial id, points) in one INSERT (raw SQL: the
    ORM's bulk_create took ~1 ms of CPU for one point)."""
    now = timezone.now()
    params = [
        (trial_id, p.name, p.step, p.value, now) for trial_id, points in points_of for p in points
    ]
    if not params:
        return
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(params))
    sql = f"INSERT INTO {MetricPoint._meta.db_table} ({COPY_COLUMNS}) VALUES {values}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in params for value in row])


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


def copy_points(points_of: list[tuple[int, list[Point]]]) -> None:
    """Store the points of several trials (trial id, points) with one binary COPY
    (`copy_rows`) in the current transaction."""
    now = timezone.now()
    with copy_rows() as write:
        for trial_id, points in points_of:
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


def last_values_statement(
    updates: list[tuple[Trial, Latest]], points: list[list[Point]] | None = None
) -> tuple[str, list[Any]]:
    """Return the SQL and parameters (`%s` placeholders) of one statement that merges each
    attempt's newest values into its trial's last_metrics and ranking value and marks it with
    the first early-stopping rule they meet unless an earlier rule marks it, for the attempts
    still running; it returns their rows (trial id, attempt, token hash) and leaves the
    others as they are. `updates` names each attempt at most once. With `points` (each
    update's points, in order) it also stores the points of the attempts it updated.

    One statement for them all, in raw SQL: the ORM took ~1 ms of CPU to build one trial's
    UPDATE. Each row is updated once: a second UPDATE of a row in the transaction would have
    PostgreSQL check its foreign keys at commit, locking the sweep's row, which a scheduling
    step may hold while it waits for this trial's.
    """
    rows, params = [], []
    for n, (trial, latest) in enumerate(updates):
        rule, value = latest.met if latest.met is not None else (None, None)
        rows.append("(%s, %s::bigint, %s::int, %s::varchar, %s::jsonb, %s::bool, %s::float8, "
                    "%s::int, %s::float8)")  # fmt: skip
        params += [n, trial.pk, trial.attempt, trial.token_hash,
                   orjson.dumps(latest.last).decode(), latest.ranked, latest.metric_value,
                   rule, value]  # fmt: skip
    # Concatenating jsonb in the database keeps concurrent writers from losing each other's
    # keys; every SET expression reads the row as it was before this UPDATE.
    earlier = "v.met_rule IS NOT NULL AND (t.met_rule IS NULL OR t.met_rule > v.met_rule)"
    sql = f"""
        WITH v (n, id, attempt, token_hash, last, ranked, metric_value, met_rule, met_value)
            AS (VALUES {", ".join(rows)}),
        running AS (
            UPDATE {Trial._meta.db_table} AS t SET
                last_metrics = t.last_metrics || v.last,
                metric_value = CASE WHEN v.ranked THEN v.metric_value ELSE t.metric_value END,
                met_rule = CASE WHEN {earlier} THEN v.met_rule ELSE t.met_rule END,
                met_value = CASE WHEN {earlier} THEN v.met_value ELSE t.met_value END
            FROM v
            WHERE t.id = v.id AND t.status = %s AND t.attempt = v.attempt
                AND t.token_hash = v.token_hash
            RETURNING v.n, t.id, t.attempt, t.token_hash
        )
    """
    params.append(TrialStatus.RUNNING.value)
    if points is not None:
        # The points of the attempts updated, in order (ids follow the ORDER BY).
        values, of_values = [], []
        for n, of_update in enumerate(points):
            for point in of_update:
                values.append("(%s, %s::int, %s::varchar, %s::float8, %s::float8)")
                of_values += [n, len(values), point.name, point.step, point.value]
        if values:
            sql += f"""
            , stored AS (
                INSERT INTO {MetricPoint._meta.db_table} ({COPY_COLUMNS})
                SELECT r.id, p.name, p.step, p.value, %s::timestamptz
                FROM (VALUES {", ".join(values)}) AS p (n, at, name, step, value)
                JOIN running AS r ON r.n = p.n
                ORDER BY p.at
            )
            """
            params += [timezone.now(), *of_values]
    sql += "SELECT id, attempt, token_hash FROM running"
    return sql, params
