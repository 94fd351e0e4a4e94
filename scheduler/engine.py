"""ORM glue around the pure engine: create a sweep from YAML and advance it.

`advance` is the scheduler's one decision step. It runs under a row lock on the sweep, so two
calls at once are serialized, and it only does what the database says is due, so it is safe to
run any number of times: start the sweep, promote finished rungs, apply early stopping,
dispatch pending trials up to `concurrency`, and finish the sweep.
"""

from __future__ import annotations

import functools
import itertools
import random
import secrets
from collections import defaultdict
from fractions import Fraction
from typing import Any

from django.db import transaction
from django.db.models import Count, FloatField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from . import events, hyperband
from . import spec as specs
from .models import (
    Config,
    RungDecision,
    Sweep,
    SweepStatus,
    Trial,
    TrialStatus,
)

UNFINISHED = (TrialStatus.PENDING, TrialStatus.QUEUED, TrialStatus.RUNNING)


@functools.lru_cache(maxsize=256)
def parse_cached(text: str) -> specs.SweepSpec:
    """Parse sweep YAML once per process; the stored text never changes."""
    return specs.parse(text)


def load_spec(sweep: Sweep) -> specs.SweepSpec:
    """Return the parsed spec of a stored sweep."""
    return parse_cached(sweep.yaml)


def build_plan(spec: specs.SweepSpec) -> hyperband.Plan:
    """Plan the brackets of a sweep (one single-rung bracket for random and grid search)."""
    space = spec.matrix
    size = space.size if space.is_discrete else None
    if spec.hyperband is not None:
        hb = spec.hyperband
        return hyperband.hyperband_plan(
            Fraction(hb.max_iter), hb.eta, sizing=hb.sizing, max_configs=size
        )
    if spec.random_search is not None:
        wanted = spec.random_search.n_experiments
        return hyperband.single_rung_plan("random_search", min(wanted, size or wanted))
    assert spec.grid_search is not None and size is not None
    wanted = spec.grid_search.n_experiments or size
    return hyperband.single_rung_plan("grid_search", min(wanted, size))


def resource_type(spec: specs.SweepSpec) -> str:
    return spec.hyperband.resource.type if spec.hyperband else "int"


def plan_dict(spec: specs.SweepSpec) -> dict[str, Any]:
    """Return the JSON plan stored with a sweep and shown by the API and the CLI."""
    return build_plan(spec).to_dict(resource_type(spec))


def create_sweep(text: str, *, team, owner=None, name: str | None = None) -> Sweep:
    """Validate YAML, store the sweep with its plan, and schedule its first step."""
    spec = specs.parse(text)
    seed = spec.seed if spec.seed is not None else secrets.randbelow(2**31)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            team=team,
            owner=owner,
            name=name or spec.name or "sweep",
            yaml=text,
            spec=spec.to_dict(),
            plan=plan_dict(spec),
            algorithm=spec.algorithm,
            concurrency=spec.concurrency,
            seed=seed,
        )
        events.emit(sweep, events.SWEEP_CREATED, {"name": sweep.name, "plan": sweep.plan})
        schedule_advance(sweep.pk)
    return sweep


def schedule_advance(sweep_id: int) -> None:
    """Queue a scheduler step for the sweep once the current transaction commits."""
    from .tasks import advance as advance_task

    transaction.on_commit(lambda: advance_task.delay(sweep_id))


def lock_sweep(sweep_id: int) -> Sweep | None:
    """Lock and return a sweep row; every state change of a sweep or its trials starts here."""
    return Sweep.objects.select_for_update().filter(pk=sweep_id).first()


@transaction.atomic
def advance(sweep_id: int) -> None:
    """Do every scheduling step that is due for a sweep; idempotent."""
    sweep = lock_sweep(sweep_id)
    if sweep is None or not sweep.is_active:
        return
    spec = load_spec(sweep)
    if sweep.status == SweepStatus.CREATED:
        start(sweep, spec)
    promote_finished_rungs(sweep, spec)
    if apply_early_stopping(sweep, spec):
        return
    dispatch(sweep)
    finish_if_done(sweep, spec)


def sample_configs(spec: specs.SweepSpec, seed: int, s: int, n: int) -> list[dict[str, Any]]:
    """Draw the configs of bracket s, reproducibly from the sweep's seed."""
    if spec.grid_search is not None:
        # The first n grid points, without building a grid that may be far larger than n.
        names = [param.name for param in spec.matrix.params]
        points = itertools.product(*(param.grid() for param in spec.matrix.params))
        return [dict(zip(names, point, strict=True)) for point in itertools.islice(points, n)]
    # A string seed per bracket keeps each bracket's draw independent of the others.
    return spec.matrix.sample(random.Random(f"{seed}:{s}"), n)


def start(sweep: Sweep, spec: specs.SweepSpec) -> None:
    """Create every bracket's configs and first-rung trials, and mark the sweep running."""
    for bracket in sweep.plan["brackets"]:
        s, first = bracket["s"], bracket["rungs"][0]
        params = sample_configs(spec, sweep.seed, s, first["configs"])
        configs = Config.objects.bulk_create(
            Config(sweep=sweep, bracket=s, index=i, params=p) for i, p in enumerate(params)
        )
        Trial.objects.bulk_create(
            Trial(sweep=sweep, config=c, bracket=s, rung=0, resource=first["resource"])
            for c in configs
        )
    sweep.status = SweepStatus.RUNNING
    sweep.started_at = timezone.now()
    sweep.save(update_fields=["status", "started_at"])
    events.emit(sweep, events.SWEEP_STARTED, {"trials": sweep.trials.count()})


def rung_counts(sweep: Sweep) -> dict[tuple[int, int], tuple[int, int]]:
    """Map (bracket, rung) to (trials, ended trials) in one query."""
    rows = (
        sweep.trials.values("bracket", "rung")
        .annotate(total=Count("id"), ended=Count("id", filter=Q(status__in=Trial.ENDED)))
        .order_by()
    )
    return {(r["bracket"], r["rung"]): (r["total"], r["ended"]) for r in rows}


def promote_finished_rungs(sweep: Sweep, spec: specs.SweepSpec) -> None:
    """Promote the best configs of every rung whose trials have all ended."""
    counts = rung_counts(sweep)
    decided = set(sweep.decisions.values_list("bracket", "rung"))
    plan = {b["s"]: b["rungs"] for b in sweep.plan["brackets"]}
    for (s, i), (total, ended) in sorted(counts.items()):
        if ended == total and (s, i) not in decided and i + 1 < len(plan[s]):
            promote(sweep, spec, s, i, plan[s][i + 1])


def promote(sweep: Sweep, spec: specs.SweepSpec, s: int, i: int, next_rung: dict) -> None:
    """Send the best configs of rung i of bracket s up to rung i+1."""
    trials = list(sweep.trials.filter(bracket=s, rung=i))
    metric = spec.metric
    results = [(t.pk, t.metric_value, t.status == TrialStatus.SUCCEEDED) for t in trials]
    maximize = metric is not None and metric.optimization == "maximize"
    chosen = hyperband.promote(results, next_rung["configs"], maximize)
    by_id = {t.pk: t for t in trials}
    winners = [by_id[pk] for pk in chosen]
    Trial.objects.filter(pk__in=chosen).update(promoted=True)
    Trial.objects.bulk_create(
        Trial(
            sweep=sweep,
            config_id=t.config_id,
            bracket=s,
            rung=i + 1,
            resource=next_rung["resource"],
            parent=t,
        )
        for t in winners
    )
    values = [t.metric_value for t in winners if t.metric_value is not None]
    cutoff = (max(values) if not maximize else min(values)) if values else None
    RungDecision.objects.create(
        sweep=sweep, bracket=s, rung=i, promoted=len(winners), cutoff=cutoff
    )
    events.emit(
        sweep,
        events.RUNG_PROMOTED,
        {
            "bracket": s,
            "rung": i,
            "to_rung": i + 1,
            "resource": next_rung["resource"],
            "promoted": chosen,
            "configs": [t.config_id for t in winners],
            "cutoff": cutoff,
        },
    )


def first_early_stop(
    sweep: Sweep, spec: specs.SweepSpec
) -> tuple[Trial, specs.EarlyStoppingRule, float] | None:
    """Return the first trial whose last values meet an early-stopping rule (one query a rule)."""
    for rule in spec.early_stopping:
        value = Cast(KeyTextTransform(rule.metric, "last_metrics"), FloatField())
        lookup = "v__gte" if rule.optimization == "maximize" else "v__lte"
        trial = sweep.trials.annotate(v=value).filter(**{lookup: rule.value}).order_by("id").first()
        if trial is not None:
            return trial, rule, float(trial.last_metrics[rule.metric])
    return None


def rule_reached(
    spec: specs.SweepSpec, last_metrics: dict[str, Any]
) -> tuple[specs.EarlyStoppingRule, float] | None:
    """Return the first rule that a trial's last metric values meet."""
    for rule in spec.early_stopping:
        value = last_metrics.get(rule.metric)
        if isinstance(value, (int, float)) and rule.reached(float(value)):
            return rule, float(value)
    return None


def apply_early_stopping(sweep: Sweep, spec: specs.SweepSpec) -> bool:
    """End the locked sweep as early_stopped when any trial met a rule."""
    hit = first_early_stop(sweep, spec)
    if hit is None:
        return False
    trial, rule, value = hit
    payload = {
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


def end_sweep(
    sweep: Sweep, status: str, reason: str, early_stop: dict[str, Any] | None = None
) -> None:
    """Finish the locked sweep with `status`, stopping every trial that has not ended."""
    now = timezone.now()
    open_trials = list(sweep.trials.filter(status__in=UNFINISHED).values_list("id", flat=True))
    sweep.trials.filter(pk__in=open_trials).update(status=TrialStatus.STOPPED, finished_at=now)
    sweep.status, sweep.status_reason, sweep.finished_at = status, reason, now
    sweep.save(update_fields=["status", "status_reason", "finished_at"])
    if early_stop is not None:
        events.emit(sweep, events.EARLY_STOPPED, early_stop)
    events.emit(
        sweep,
        events.SWEEP_FINISHED,
        {"status": status, "reason": reason, "stopped_trials": open_trials, "best": best(sweep)},
    )


def dispatch(sweep: Sweep) -> None:
    """Queue pending trials while fewer than `concurrency` are queued or running."""
    free = sweep.concurrency - sweep.trials.active().count()
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
    from .tasks import run_trial

    for trial_id in due:
        transaction.on_commit(functools.partial(run_trial.delay, trial_id))


def finish_if_done(sweep: Sweep, spec: specs.SweepSpec) -> None:
    """Finish the locked sweep once no trial is left to run."""
    if sweep.trials.filter(status__in=UNFINISHED).exists():
        return
    succeeded = sweep.trials.filter(status=TrialStatus.SUCCEEDED).exists()
    status = SweepStatus.SUCCEEDED if succeeded else SweepStatus.FAILED
    reason = "" if succeeded else "no trial succeeded"
    end_sweep(sweep, status, reason)


def best_trial(sweep: Sweep) -> Trial | None:
    """Return the trial with the best ranking-metric value so far (see Trial.RANKED)."""
    metric = load_spec(sweep).metric
    ranked = sweep.trials.filter(
        status__in=Trial.RANKED, metric_value__isnull=False
    ).select_related("config")
    if metric is None:
        return ranked.order_by("id").first()
    order = "-metric_value" if metric.optimization == "maximize" else "metric_value"
    return ranked.order_by(order, "id").first()


def best(sweep: Sweep) -> dict[str, Any] | None:
    """Describe the best trial so far, or None."""
    trial = best_trial(sweep)
    if trial is None:
        return None
    return {
        "trial": trial.pk,
        "value": trial.metric_value,
        "params": trial.config.params,
        "bracket": trial.bracket,
        "rung": trial.rung,
        "resource": trial.resource,
    }


def status_counts(sweep: Sweep) -> dict[tuple[int, int], dict[str, int]]:
    """Count a sweep's trials per (bracket, rung) and status in one query."""
    rows = sweep.trials.values("bracket", "rung", "status").annotate(n=Count("id")).order_by()
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[(row["bracket"], row["rung"])][row["status"]] = row["n"]
    return counts
