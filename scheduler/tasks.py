"""Celery tasks: thin edges that load by id and call the scheduler's logic."""

from celery import shared_task

from . import engine, runner, trials
from .models import Sweep


@shared_task(ignore_result=True)
def advance(sweep_id: int) -> None:
    """Take every scheduling step that is due for one sweep."""
    engine.advance(sweep_id)


@shared_task(ignore_result=True, acks_late=True)
def run_trial(trial_id: int) -> None:
    """Run one trial's process to its end (queue `trials`)."""
    runner.run(trial_id)


@shared_task(ignore_result=True)
def reconcile() -> None:
    """Recover trials whose runner vanished and advance every active sweep."""
    for trial_id in trials.stale_trial_ids():
        trials.recover_lost(trial_id)
    for trial_id in trials.stuck_queued_ids():
        run_trial.delay(trial_id)
    for sweep_id in Sweep.objects.active().values_list("id", flat=True):
        advance.delay(sweep_id)
