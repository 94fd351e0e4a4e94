"""Asking the Celery workers to act, always after the current transaction commits.

This is how every part of hbsite asks the scheduler for a step (`request_step`), a runner
for a trial (`request_run`) or a notifier for a webhook delivery (`request_delivery`): tasks
are sent by name, so nothing below the Celery edge imports `scheduler.tasks`, and a
rolled-back change never reaches a worker.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

ADVANCE = "scheduler.tasks.advance"
RUN_TRIAL = "scheduler.tasks.run_trial"
# Every runner consumes `trials`, and its own queue `trials@<its name>` (hbsite.celery).
TRIALS = "trials"
DELIVER = "scheduler.tasks.deliver_webhook"
IMPORTANCE = "scheduler.tasks.importance"


def runner_queue(runner: str) -> str:
    """Return the queue only the runners named `runner` consume (they share a data dir)."""
    return f"{TRIALS}@{runner}"


def send(task: str, object_id: int, queue: str | None = None) -> None:
    """Send a task by name with one id argument now, to `queue` (default: the route in
    CELERY_TASK_ROUTES)."""
    options = {} if queue is None else {"queue": queue}
    current_app.send_task(task, args=[object_id], **options)


def request_step(sweep_id: int) -> None:
    """Queue a scheduling step for the sweep once the current transaction commits."""
    transaction.on_commit(lambda: send(ADVANCE, sweep_id))


def request_run(trial_id: int, queue: str = TRIALS) -> None:
    """Queue a trial for a runner (on `queue`, see scheduler.placement) once the current
    transaction commits."""
    transaction.on_commit(lambda: send(RUN_TRIAL, trial_id, queue))


def request_delivery(delivery_id: int) -> None:
    """Queue a webhook delivery (queue `webhooks`) once the current transaction commits."""
    transaction.on_commit(lambda: send(DELIVER, delivery_id))


def request_importance(sweep_id: int) -> None:
    """Queue the computation of a sweep's parameter importance (see scheduler.analysis)."""
    transaction.on_commit(lambda: send(IMPORTANCE, sweep_id))
