"""The scheduling step: everything the scheduler decides for one sweep, under its row lock.

`step` runs inside the Celery task `scheduler.tasks.advance`, and `step_locked` in the
transaction of a local runner's finish (scheduler.handoff); everything else that wants the
scheduler to act calls `queueing.request_step`. A step locks the sweep row, so two steps
of one sweep are serialized, and only does what the database says is due, so running it any
number of times is safe: start the sweep, end it when a finished rung ranked nothing,
promote finished rungs, apply early stopping, dispatch pending trials up to `concurrency`,
and finish the sweep.
"""

from __future__ import annotations

import difflib
import math
import random
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import (
    events,
    hyperband,
    metric_values,
    numbering,
    placement,
    planning,
    queueing,
    space,
    stored,
    suggesting,
)
from . import spec as specs
from .models import Config, RungDecision, Sweep, SweepStatus, Trial, TrialAttempt, TrialStatus
from .sweeps import end_sweep, lock_sweep

# Rows per INSERT when a sweep starts: memory and statement size stay bounded.
BATCH_SIZE = 1000


class StartFailed(Exception):
    """A created sweep that cannot start (its spec, plan or first trials); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def step(sweep_id: int, on_locked: Callable[[], None] = lambda: None) -> None:
    """Do every scheduling step that is due for a sweep; idempotent. `on_locked()` is called
    once the sweep's row lock is held, before anything is read under it.

    A created sweep whose start fails is ended "failed" with the reason, in a transaction of
    its own, so it is never left "created"; a lost database connection is raised instead.
    """
    try:
        _locked_step(sweep_id, on_locked)
    except StartFailed as failed:
        with transaction.atomic():
            sweep = lock_sweep(sweep_id)
            if sweep is not None and sweep.status == SweepStatus.CREATED:
                end_sweep(sweep, SweepStatus.FAILED, f"the sweep could not start: {failed.reason}")


@transaction.atomic
def _locked_step(sweep_id: int, on_locked: Callable[[], None]) -> None:
    sweep = lock_sweep(sweep_id)
    on_locked()
    if sweep is not None:
        step_locked(sweep)


def step_locked(sweep: Sweep, keep_for: Collection[str] = (), keep: int = 0) -> list[int]:
    """Do every scheduling step that is due for a sweep whose row lock the caller holds.

    Up to `keep` trials this step queues for one of the queues in `keep_for` (the first, in
    dispatch order) are not sent to the runners: their ids are returned for the caller to
    claim in the same transaction (scheduler.handoff).
    """
    if not sweep.is_active:
        return []
    if sweep.status == SweepStatus.CREATED:
        spec, plan = _start_or_fail(sweep)
    else:
        spec, plan = stored.spec_of(sweep), stored.plan_of(sweep)
    finished = finished_rungs(sweep, spec)
    if end_if_unranked(sweep, spec, finished):
        return []
    promote_finished_rungs(sweep, spec, plan, finished)
    if apply_early_stopping(sweep, spec):
        return []
    if sweep.paused_at is not None:
        return []  # paused: rungs are still decided, nothing new starts (see scheduler.control)
    if spec.bo is not None:
        suggesting.fill_slots(sweep, spec, plan)
    occupied, kept = dispatch(sweep, keep_for, keep)
    if not occupied:
        finish_if_done(sweep, spec, plan)
    return kept


def sample_configs(spec: specs.SweepSpec, seed: int, s: int, n: int) -> list[dict[str, Any]]:
    """Draw the n configs of bracket s, reproducibly from the sweep's seed."""
    if spec.grid_search is not None:
        return first_grid_points(spec.matrix.params, n)
    # A string seed per bracket keeps each bracket's draw independent of the others.
    return spec.matrix.sample(random.Random(f"{seed}:{s}"), n)


def first_grid_points(params: Sequence[space.Distribution], n: int) -> list[dict[str, Any]]:
    """Return the first n points of the grid in row-major order, without building any grid."""
    sizes = [param.size or 0 for param in params]
    points = []
    for number in range(min(n, math.prod(sizes))):
        point: dict[str, Any] = {}
        for param, size in zip(reversed(params), reversed(sizes), strict=True):
            number, index = divmod(number, size)
            point[param.name] = param.value_at(index)
        points.append({param.name: point[param.name] for param in params})
    return points


def _start_or_fail(sweep: Sweep) -> tuple[specs.SweepSpec, hyperband.Plan]:
    """Start a created sweep, or raise StartFailed when its spec or start cannot work."""
    try:
        spec, plan = stored.spec_of(sweep), stored.plan_of(sweep)
        start(sweep, spec, plan)
    except (OperationalError, InterfaceError):
        raise  # the database, not the sweep: the next step tries again
    except Exception as exc:
        raise StartFailed(f"{type(exc).__name__}: {exc}"[:500]) from exc
    return spec, plan


def start(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Create every bracket's configs and first-rung trials, and mark the sweep running.

    A bo sweep starts with its random configs only; the others come as slots free up.
    """
    if spec.bo is not None:
        suggesting.start_configs(sweep, spec, plan)
    else:
        create_brackets(sweep, spec, plan)
    sweep.status = SweepStatus.RUNNING
    sweep.started_at = timezone.now()
    sweep.save(update_fields=["status", "started_at"])
    events.emit(sweep, events.SWEEP_STARTED, {"trials": sweep.trials.count()})


def create_brackets(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Create every bracket's configs and their first-rung trials.

    Rows are inserted `BATCH_SIZE` at a time, one bracket's configs in memory at once.
    """
    kind = planning.resource_type(spec)
    for bracket in plan.brackets:
        first = bracket.rungs[0]
        params = sample_configs(spec, sweep.seed, bracket.s, first.configs)
        rows = (
            Config(sweep=sweep, bracket=bracket.s, index=i, params=p) for i, p in enumerate(params)
        )
        configs = Config.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        resource = first.resource_value(kind)
        trials = (Trial(sweep=sweep, config=c, bracket=bracket.s, rung=0, resource=resource)
                  for c in configs)  # fmt: skip
        Trial.objects.bulk_create(numbering.numbered(sweep, trials), batch_size=BATCH_SIZE)


# The statements a scheduling step runs in every round, as SQL written once: the ORM took
# ~1 ms of CPU to compile each, more than PostgreSQL took to run it. Their meaning is the
# docstring's of the function that runs each.
TRIALS, ATTEMPTS = Trial._meta.db_table, TrialAttempt._meta.db_table
FINISHED_RUNGS_SQL = f"""
    SELECT bracket, rung, count(*) AS total,
           count(*) FILTER (WHERE status = ANY(%(ended)s)) AS ended,
           count(*) FILTER (WHERE status = %(succeeded)s) AS succeeded,
           count(*) FILTER (WHERE last_metrics ? %(metric)s) AS reported
    FROM {TRIALS} WHERE sweep_id = %(sweep)s
    GROUP BY bracket, rung
    HAVING count(*) = count(*) FILTER (WHERE status = ANY(%(ended)s))
    ORDER BY bracket, rung
"""
CLOSED_RUNGS_SQL = (
    f"SELECT bracket, rung FROM {RungDecision._meta.db_table} WHERE sweep_id = %s AND NOT reopened"
)
# Counts the occupied slots (before this step) and queues up to the free ones: pending trials
# not settling (see `settling_since`), higher rungs first; returns one row per queued trial,
# or one row with no trial when none was.
DISPATCH_SQL = f"""
    WITH occupied AS (
        SELECT count(*) AS n FROM {TRIALS}
        WHERE sweep_id = %(sweep)s AND status = ANY(%(occupying)s)
    ), due AS (
        SELECT t.id FROM {TRIALS} t
        WHERE t.sweep_id = %(sweep)s AND t.status = %(pending)s AND NOT EXISTS (
            SELECT 1 FROM {ATTEMPTS} a
            WHERE a.trial_id = t.id AND a.status = %(stopped)s AND a.finished_at > %(since)s
        )
        ORDER BY t.rung DESC, t.id
        LIMIT GREATEST(%(concurrency)s - (SELECT n FROM occupied), 0)
    ), queued AS (
        UPDATE {TRIALS} t SET status = %(queued)s, queued_at = %(now)s
        FROM due WHERE t.id = due.id
        RETURNING t.id, t.number, t.rung
    )
    SELECT occupied.n, queued.id, queued.number, queued.rung
    FROM occupied LEFT JOIN queued ON true
"""


def finished_rungs(sweep: Sweep, spec: specs.SweepSpec) -> list[dict[str, Any]]:
    """Return the (bracket, rung) rows whose trials have all ended, in order, each with how
    many trials succeeded and how many reported the ranking metric (one query)."""
    metric = spec.metric.name if spec.metric is not None else ""
    params = {"sweep": sweep.pk, "ended": list(Trial.ENDED), "metric": metric,
              "succeeded": TrialStatus.SUCCEEDED}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(FINISHED_RUNGS_SQL, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def promote_finished_rungs(
    sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan, finished: list[dict[str, Any]]
) -> None:
    """Promote the best configs of every finished rung not yet decided, or reopened because
    some of its trials were retried (see scheduler.control)."""
    below_top = [(row["bracket"], row["rung"]) for row in finished
                 if row["rung"] + 1 < len(plan.bracket(row["bracket"]).rungs)]  # fmt: skip
    if not below_top:
        return  # nothing to promote: no decision to read
    with connection.cursor() as cursor:
        cursor.execute(CLOSED_RUNGS_SQL, [sweep.pk])
        closed = set(cursor.fetchall())
    for s, i in below_top:
        if (s, i) not in closed:
            promote(sweep, spec, plan.bracket(s), i)


def end_if_unranked(sweep: Sweep, spec: specs.SweepSpec, finished: list[dict[str, Any]]) -> bool:
    """End the locked sweep as failed when a finished rung's trials succeeded but none of
    them reported the ranking metric; True if it did.

    Nothing such a sweep runs can be ranked (a misspelt metric name is the usual cause), so
    it stops at once, with a ranking_metric_missing event naming the metrics the rung did
    report and the closest one (difflib.get_close_matches).
    """
    if spec.metric is None:
        return False
    for row in finished:
        if row["succeeded"] and not row["reported"]:
            missing = metric_missing(sweep, spec.metric.name, row["bracket"], row["rung"])
            events.emit(sweep, events.METRIC_MISSING, missing)
            end_sweep(sweep, SweepStatus.FAILED, events.missing_text(missing))
            return True
    return False


def metric_missing(sweep: Sweep, metric: str, s: int, i: int) -> events.MetricMissing:
    """Describe a rung that ranked nothing: the metric names its trials did report."""
    reported = sorted({
        name
        for last in sweep.trials.filter(bracket=s, rung=i).values_list("last_metrics", flat=True)
        for name in last
    })  # fmt: skip
    close = difflib.get_close_matches(metric, reported, n=1)
    return {"bracket": s, "rung": i, "metric": metric, "reported": reported,
            "suggestion": close[0] if close else None}  # fmt: skip


def promote(sweep: Sweep, spec: specs.SweepSpec, bracket: hyperband.Bracket, i: int) -> None:
    """Send the best configs of rung i of the bracket up to rung i+1 (Algorithm 1's top-k).

    A reopened rung (its failed trials were retried) is topped up instead: of the rung's
    top-k now, those not yet promoted go up while fewer than k are; a promotion is never
    undone or repeated, so each config reaches rung i+1 at most once.
    """
    s, next_rung = bracket.s, bracket.rungs[i + 1]
    resource = next_rung.resource_value(planning.resource_type(spec))
    # With the sweep's id: the related manager sets each trial's sweep from it (a deferred
    # sweep_id would be read with a query per trial).
    fields = ("id", "sweep_id", "metric_value", "status", "promoted", "config_id")
    trials = list(sweep.trials.filter(bracket=s, rung=i).only(*fields))
    maximize = spec.metric is not None and spec.metric.maximize
    results = [(t.pk, t.metric_value, t.status == TrialStatus.SUCCEEDED) for t in trials]
    up_already = [t for t in trials if t.promoted]
    room = next_rung.configs - len(up_already)
    ranked = hyperband.promote(results, next_rung.configs, maximize)
    chosen = [pk for pk in ranked if pk not in {t.pk for t in up_already}][: max(room, 0)]
    by_id = {t.pk: t for t in trials}
    winners = [by_id[pk] for pk in chosen]
    Trial.objects.filter(pk__in=chosen).update(promoted=True)
    Trial.objects.bulk_create(
        numbering.numbered(sweep, (
            Trial(sweep=sweep, config_id=t.config_id, bracket=s, rung=i + 1, resource=resource,
                  parent=t)
            for t in winners
        ))
    )  # fmt: skip
    every = [*up_already, *winners]
    values = [t.metric_value for t in every if metric_values.counts(t.metric_value)]
    cutoff = (min(values) if maximize else max(values)) if values else None
    RungDecision.objects.update_or_create(
        sweep=sweep, bracket=s, rung=i,
        defaults={"promoted": len(every), "cutoff": cutoff, "reopened": False},
    )  # fmt: skip
    if winners:
        # If rung i+1 was decided without these configs, it waits for them, then tops up.
        sweep.decisions.filter(bracket=s, rung=i + 1).update(reopened=True)
    promoted: events.RungPromoted = {
        "bracket": s,
        "rung": i,
        "to_rung": i + 1,
        "resource": resource,
        "promoted": chosen,
        "configs": [t.config_id for t in winners],
        "cutoff": None if cutoff is None else metric_values.to_wire(cutoff),
    }
    if up_already:
        promoted["top_up"] = len(up_already)
    events.emit(sweep, events.RUNG_PROMOTED, promoted)


def apply_early_stopping(sweep: Sweep, spec: specs.SweepSpec) -> bool:
    """End the locked sweep as early_stopped when a trial met a rule; True if it did.

    Whether a value meets a rule is decided once, as points are recorded (`metrics.record`
    marks the trial with the rule); here the first rule in file order wins, then the lowest
    trial id.
    """
    if not spec.early_stopping:
        return False
    trial = (
        sweep.trials.filter(met_rule__isnull=False)
        .order_by("met_rule", "id")
        .only("id", "sweep_id", "number", "bracket", "rung", "met_rule", "met_value")
        .first()
    )
    if trial is None or trial.met_rule is None or trial.met_rule >= len(spec.early_stopping):
        return False
    rule, value = spec.early_stopping[trial.met_rule], float(trial.met_value or 0.0)
    payload: events.EarlyStopped = {
        "trial": trial.pk,
        "number": trial.number,
        "metric": rule.metric,
        "value": metric_values.to_wire(value),
        "rule": rule.describe(),
        "bracket": trial.bracket,
        "rung": trial.rung,
    }
    reason = f"trial #{trial.number}: {rule.metric}={value:g} met {rule.describe()}"
    end_sweep(sweep, SweepStatus.EARLY_STOPPED, reason, early_stop=payload)
    return True


def dispatch(sweep: Sweep, keep_for: Collection[str] = (), keep: int = 0) -> tuple[int, list[int]]:
    """Queue pending trials while fewer than `concurrency` are queued or running; return how
    many are queued or running now, and the first `keep` trials queued whose queue is in
    `keep_for`, kept back from the runners (see step_locked). One statement (DISPATCH_SQL)."""
    now = timezone.now()
    params = {
        "sweep": sweep.pk, "concurrency": sweep.concurrency, "occupying": list(Trial.OCCUPYING),
        "pending": TrialStatus.PENDING, "queued": TrialStatus.QUEUED,
        "stopped": TrialStatus.STOPPED, "since": settling_since(now), "now": now,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(DISPATCH_SQL, params)
        found = cursor.fetchall()
    occupied = found[0][0]
    # Higher rungs first: they finish brackets sooner and their inputs are already known.
    rows = sorted(((-rung, pk, number) for _, pk, number, rung in found if pk is not None))
    if not rows:
        return occupied, []
    due = [pk for _, pk, _ in rows]
    events.emit(sweep, events.TRIAL_QUEUED, {"trials": due, "numbers": [n for *_, n in rows]})
    queues = placement.queues(sweep, due)
    kept = [trial_id for trial_id in due if queues[trial_id] in keep_for][:keep]
    for trial_id, queue in queues.items():
        if trial_id not in kept:
            queueing.request_run(trial_id, queue)
    return occupied + len(due), kept


def settling_since(now: datetime) -> datetime:
    """Return since when a trial's attempt that a pause or a stop ended keeps it settling.

    That attempt's runner kills its tree at its next refused heartbeat, or its supervisor
    does when its lease runs out, always within HBSITE_LOST_AFTER_SECONDS (see
    scheduler.process_tree.lease_for); until then the next attempt waits, so two attempts
    never share a checkpoint dir. Reconcile's steps dispatch it once the time has passed.
    """
    return now - timedelta(seconds=settings.HBSITE_LOST_AFTER_SECONDS)


def finish_if_done(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Finish the locked sweep once no trial is left to run."""
    if sweep.trials.unfinished().exists():
        return
    succeeded = sweep.trials.filter(status=TrialStatus.SUCCEEDED).exists()
    metric = spec.metric
    if not succeeded:
        end_sweep(sweep, SweepStatus.FAILED, "no trial succeeded")
    elif metric is not None and not sweep.trials.ranked().exists():
        # Nothing ranked: a bo sweep says how much of its budget ran; otherwise every value
        # reported was NaN (a metric never reported ends a bracketed sweep earlier).
        unspent = suggesting.unspent_reason(sweep, plan, metric) if spec.bo else ""
        reason = unspent or f"no trial ranked: every value of {metric.name!r} reported was NaN"
        end_sweep(sweep, SweepStatus.FAILED, reason)
    else:
        unspent = suggesting.unspent_reason(sweep, plan, spec.bo.metric) if spec.bo else ""
        end_sweep(sweep, SweepStatus.SUCCEEDED, unspent)
