"""The scheduling step: everything the scheduler decides for one sweep, under its row lock.

`step` runs only inside the Celery task `scheduler.tasks.advance`; everything else that wants
the scheduler to act calls `queueing.request_step`. A step locks the sweep row, so two steps
of one sweep are serialized, and only does what the database says is due, so running it any
number of times is safe: start the sweep, promote finished rungs, apply early stopping,
dispatch pending trials up to `concurrency`, and finish the sweep.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import events, hyperband, planning, queueing, stored, suggesting
from . import spec as specs
from .models import Config, RungDecision, Sweep, SweepStatus, Trial, TrialStatus
from .sweeps import end_sweep, lock_sweep


@transaction.atomic
def step(sweep_id: int) -> None:
    """Do every scheduling step that is due for a sweep; idempotent."""
    sweep = lock_sweep(sweep_id)
    if sweep is None or not sweep.is_active:
        return
    spec, plan = stored.spec_of(sweep), stored.plan_of(sweep)
    if sweep.status == SweepStatus.CREATED:
        start(sweep, spec, plan)
    promote_finished_rungs(sweep, spec, plan)
    if apply_early_stopping(sweep, spec):
        return
    if spec.bo is not None:
        suggesting.fill_slots(sweep, spec, plan)
    dispatch(sweep)
    finish_if_done(sweep, spec, plan)


def sample_configs(spec: specs.SweepSpec, seed: int, s: int, n: int) -> list[dict[str, Any]]:
    """Draw the n configs of bracket s, reproducibly from the sweep's seed."""
    if spec.grid_search is not None:
        # The first n grid points, without building a grid that may be far larger than n.
        names = [param.name for param in spec.matrix.params]
        points = itertools.product(*(param.grid() for param in spec.matrix.params))
        return [dict(zip(names, point, strict=True)) for point in itertools.islice(points, n)]
    # A string seed per bracket keeps each bracket's draw independent of the others.
    return spec.matrix.sample(random.Random(f"{seed}:{s}"), n)


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
    """Create every bracket's configs and their first-rung trials."""
    kind = planning.resource_type(spec)
    for bracket in plan.brackets:
        first = bracket.rungs[0]
        params = sample_configs(spec, sweep.seed, bracket.s, first.configs)
        configs = Config.objects.bulk_create(
            Config(sweep=sweep, bracket=bracket.s, index=i, params=p) for i, p in enumerate(params)
        )
        resource = first.resource_value(kind)
        Trial.objects.bulk_create(
            Trial(sweep=sweep, config=c, bracket=bracket.s, rung=0, resource=resource)
            for c in configs
        )


def promote_finished_rungs(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Promote the best configs of every rung whose trials have all ended."""
    rows = (
        sweep.trials.values("bracket", "rung")
        .annotate(total=Count("id"), ended=Count("id", filter=Q(status__in=Trial.ENDED)))
        .order_by("bracket", "rung")
    )
    decided = set(sweep.decisions.values_list("bracket", "rung"))
    for row in rows:
        s, i = row["bracket"], row["rung"]
        bracket = plan.bracket(s)
        if row["ended"] == row["total"] and (s, i) not in decided and i + 1 < len(bracket.rungs):
            promote(sweep, spec, bracket, i)


def promote(sweep: Sweep, spec: specs.SweepSpec, bracket: hyperband.Bracket, i: int) -> None:
    """Send the best configs of rung i of the bracket up to rung i+1 (Algorithm 1's top-k)."""
    s, next_rung = bracket.s, bracket.rungs[i + 1]
    resource = next_rung.resource_value(planning.resource_type(spec))
    trials = list(sweep.trials.filter(bracket=s, rung=i))
    maximize = spec.metric is not None and spec.metric.maximize
    results = [(t.pk, t.metric_value, t.status == TrialStatus.SUCCEEDED) for t in trials]
    chosen = hyperband.promote(results, next_rung.configs, maximize)
    by_id = {t.pk: t for t in trials}
    winners = [by_id[pk] for pk in chosen]
    Trial.objects.filter(pk__in=chosen).update(promoted=True)
    Trial.objects.bulk_create(
        Trial(sweep=sweep, config_id=t.config_id, bracket=s, rung=i + 1, resource=resource,
              parent=t)
        for t in winners
    )  # fmt: skip
    values = [t.metric_value for t in winners if t.metric_value is not None]
    cutoff = (min(values) if maximize else max(values)) if values else None
    RungDecision.objects.create(
        sweep=sweep, bracket=s, rung=i, promoted=len(winners), cutoff=cutoff
    )
    promoted: events.RungPromoted = {
        "bracket": s,
        "rung": i,
        "to_rung": i + 1,
        "resource": resource,
        "promoted": chosen,
        "configs": [t.config_id for t in winners],
        "cutoff": cutoff,
    }
    events.emit(sweep, events.RUNG_PROMOTED, promoted)


def apply_early_stopping(sweep: Sweep, spec: specs.SweepSpec) -> bool:
    """End the locked sweep as early_stopped when a trial met a rule; True if it did.

    Whether a value meets a rule is decided once, as points are recorded (`metrics.record`
    marks the trial with the rule); here the first rule in file order wins, then the lowest
    trial id.
    """
    trial = (
        sweep.trials.filter(met_rule__isnull=False)
        .order_by("met_rule", "id")
        .only("id", "bracket", "rung", "met_rule", "met_value")
        .first()
    )
    if trial is None or trial.met_rule is None or trial.met_rule >= len(spec.early_stopping):
        return False
    rule, value = spec.early_stopping[trial.met_rule], float(trial.met_value or 0.0)
    payload: events.EarlyStopped = {
        "trial": trial.pk,
        "metric": rule.metric,
        "value": value,
        "rule": rule.describe(),
        "bracket": trial.bracket,
        "rung": trial.rung,
    }
    reason = f"trial {trial.pk}: {rule.metric}={value:g} met {rule.describe()}"
    end_sweep(sweep, SweepStatus.EARLY_STOPPED, reason, early_stop=payload)
    return True


def dispatch(sweep: Sweep) -> None:
    """Queue pending trials while fewer than `concurrency` are queued or running."""
    free = sweep.concurrency - sweep.trials.occupying().count()
    if free <= 0:
        return
    # Higher rungs first: they finish brackets sooner and their inputs are already known.
    due = list(
        sweep.trials.filter(status=TrialStatus.PENDING)
        .order_by("-rung", "id")
        .values_list("id", flat=True)[:free]
    )
    if not due:
        return
    Trial.objects.filter(pk__in=due).update(status=TrialStatus.QUEUED, queued_at=timezone.now())
    events.emit(sweep, events.TRIAL_QUEUED, {"trials": due})
    for trial_id in due:
        queueing.request_run(trial_id)


def finish_if_done(sweep: Sweep, spec: specs.SweepSpec, plan: hyperband.Plan) -> None:
    """Finish the locked sweep once no trial is left to run."""
    if sweep.trials.unfinished().exists():
        return
    succeeded = sweep.trials.filter(status=TrialStatus.SUCCEEDED).exists()
    status = SweepStatus.SUCCEEDED if succeeded else SweepStatus.FAILED
    reason = "" if succeeded else "no trial succeeded"
    if spec.bo is not None and succeeded:
        reason = suggesting.unspent_reason(sweep, plan, spec.bo.metric)
    end_sweep(sweep, status, reason)
