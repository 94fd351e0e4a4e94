"""Asking the Celery workers to act, always after the current transaction commits.

This is how every part of hbsite asks the scheduler for a step (`request_step`) or a runner
for a trial (`request_run`): tasks are sent by name, so nothing below the Celery edge
imports `scheduler.tasks`, and a rolled-back change never reaches a worker.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

ADVANCE = "scheduler.tasks.advance"
RUN_TRIAL = "scheduler.tasks.run_trial"
IMPORTANCE = "scheduler.tasks.importance"


def send(task: str, object_id: int) -> None:
    """Send a task by name with one id argument now (routes come from CELERY_TASK_ROUTES)."""
    current_app.send_task(task, args=[object_id])


def request_step(sweep_id: int) -> None:
    """Queue a scheduling step for the sweep once the current transaction commits."""
    transaction.on_commit(lambda: send(ADVANCE, sweep_id))


def request_run(trial_id: int) -> None:
    """Queue a trial for a runner once the current transaction commits."""
    transaction.on_commit(lambda: send(RUN_TRIAL, trial_id))


def request_importance(sweep_id: int) -> None:
    """Queue the computation of a sweep's parameter importance (see scheduler.analysis)."""
    transaction.on_commit(lambda: send(IMPORTANCE, sweep_id))
