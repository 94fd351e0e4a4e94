"""A sweep's life outside the scheduling step: create it, lock it, stop it, end it."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from . import events, planning, queueing, results, rows, stored
from .models import Sweep, SweepStatus, TrialStatus


def create_sweep(text: str, *, team, owner=None, name: str | None = None) -> Sweep:
    """Validate YAML, store the sweep with its plan, and request its first scheduling step.

    Raises spec.SpecError (every problem, with line and column) for invalid YAML.
    """
    spec = stored.validate(text)
    seed = spec.seed if spec.seed is not None else secrets.randbelow(2**31)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            team=team,
            owner=owner,
            name=name or spec.name or "sweep",
            yaml=text,
            spec=spec.to_dict(),
            plan=planning.plan_dict(spec),
            algorithm=spec.algorithm,
            concurrency=spec.concurrency,
            seed=seed,
            tags=list(spec.tags),
        )
        events.emit(sweep, events.SWEEP_CREATED, {"name": sweep.name, "plan": sweep.plan})
        queueing.request_step(sweep.pk)
    return sweep


# Written once (scheduler.rows): the ORM took ~1 ms of CPU to compile it, every round.
LOCK_SWEEP_SQL = (
    f"SELECT {rows.columns(Sweep)} FROM {Sweep._meta.db_table} WHERE id = %s FOR UPDATE"
)


def lock_sweep(sweep_id: int) -> Sweep | None:
    """Lock and return a sweep row; every state change of a sweep or its trials starts here."""
    found = rows.fetch(Sweep, LOCK_SWEEP_SQL, [sweep_id])
    return found[0] if found else None


@transaction.atomic
def stop_sweep(sweep_id: int, reason: str = "stopped by a user") -> bool:
    """Stop a sweep and every trial it has not finished; False when it was not active."""
    sweep = lock_sweep(sweep_id)
    if sweep is None or not sweep.is_active:
        return False
    end_sweep(sweep, SweepStatus.STOPPED, reason)
    return True


def end_sweep(
    sweep: Sweep, status: str, reason: str, early_stop: events.EarlyStopped | None = None
) -> None:
    """Finish the locked sweep with `status`, stopping every trial that has not ended."""
    now = timezone.now()
    open_trials = list(sweep.trials.unfinished().values_list("id", flat=True))
    sweep.trials.filter(pk__in=open_trials).update(status=TrialStatus.STOPPED, finished_at=now)
    sweep.status, sweep.status_reason, sweep.finished_at = status, reason, now
    sweep.paused_at = None
    sweep.save(update_fields=["status", "status_reason", "finished_at", "paused_at"])
    if early_stop is not None:
        events.emit(sweep, events.EARLY_STOPPED, early_stop)
    finished: events.SweepFinished = {
        "status": status,
        "reason": reason,
        "stopped_trials": open_trials,
        "best": results.best(sweep),
    }
    events.emit(sweep, events.SWEEP_FINISHED, finished)
