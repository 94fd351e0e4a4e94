"""Celery tasks: thin edges that load by id and call the scheduler's logic.

`advance` is the only way into a scheduling step; code below this edge asks for one with
`queueing.request_step`, which sends this task by name after commit.
"""

from celery import shared_task

from . import queueing, runner, scheduling, trials
from .models import Sweep


@shared_task(ignore_result=True)
def advance(sweep_id: int) -> None:
    """Take every scheduling step that is due for one sweep (queue `scheduler`)."""
    scheduling.step(sweep_id)


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
        queueing.send(queueing.RUN_TRIAL, trial_id)
    for sweep_id in Sweep.objects.active().values_list("id", flat=True):
        queueing.send(queueing.ADVANCE, sweep_id)
