"""Celery tasks: thin edges that load by id and call the scheduler's logic.

`advance` takes every scheduling step but those a local runner's finish takes in its own
transaction (scheduler.handoff); code below this edge asks for one with
`queueing.request_step`, which sends this task by name after commit.

A database that drops its connections (a restart, a failover) fails a step with an
OperationalError or InterfaceError; Celery then sends the task again after 1, 2, 4, 8 s and
every 8 s after that (each with full jitter), for about a minute
(https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions).
Celery's Django fixup closes the task's connections after each run, and the pool discards a
broken one, so the retry starts on a fresh connection. Both tasks are idempotent.
"""

import threading
from collections.abc import Iterable

import redis
from celery import current_app, shared_task
from celery.worker import state as worker_state
from django.conf import settings

from . import (
    analysis,
    broker,
    dbretry,
    queueing,
    runner,
    runner_db,
    runner_rest,
    scheduling,
    trials,
    webhooks,
)
from .models import Sweep

# Sweeps whose step in this process has not taken the sweep's row lock yet.
_waiting: set[int] = set()
_waiting_lock = threading.Lock()

RETRY_ON_DATABASE_ERRORS = {
    "autoretry_for": dbretry.TRANSIENT,
    "retry_backoff": 1,
    "retry_backoff_max": 8,
    "retry_jitter": True,
    "max_retries": 10,
}


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def advance(sweep_id: int) -> None:
    """Take every scheduling step that is due for one sweep (queue `scheduler`).

    A request that arrives while a step of the same sweep in this process still waits for
    the sweep's lock is already served: that step reads the database only once it holds the
    lock, after the change behind the request committed (requests are sent after commit).
    Should that step fail, its own retry, or reconcile, takes it again.
    """
    with _waiting_lock:
        if sweep_id in _waiting:
            return
        _waiting.add(sweep_id)
    try:
        scheduling.step(sweep_id, on_locked=lambda: _stop_waiting(sweep_id))
    finally:
        _stop_waiting(sweep_id)


def _stop_waiting(sweep_id: int) -> None:
    with _waiting_lock:
        _waiting.discard(sweep_id)


@shared_task(ignore_result=True, acks_late=True)
def run_trial(trial_id: int) -> None:
    """Run one trial's process to its end (queue `trials` or `trials@<runner>`), reporting
    through the REST API when HBSITE_RUNNER_URL is set, else on the database; either way
    the runner rides out a server or database that is away for a while."""
    runner.run(trial_id, backend(), may_take_next=no_other_task_waits)


def no_other_task_waits(queues: Iterable[str] | None = None) -> bool:
    """Tell whether a runner thread whose trial ended may run the next trial of its sweep
    itself (scheduler.handoff): no task waits for this worker, neither received and not
    started yet nor in the queues it consumes (`queues`, default: those this worker
    consumes now). So one sweep's trials never hold the runner while another sweep's
    trials, or a scheduling step that a worker on both queues would take, wait."""
    try:
        if any(r not in worker_state.active_requests for r in list(worker_state.reserved_requests)):
            return False
        names = list(consumed_queues() if queues is None else queues)
        return broker.waiting(names) == 0
    except (RuntimeError, redis.RedisError):  # a set changed while read; Redis away
        return False


def consumed_queues() -> list[str]:
    """Return the queues this worker consumes (its own runner queue too)."""
    names = list(current_app.amqp.queues.consume_from or ())
    return names or [queueing.TRIALS, queueing.runner_queue(settings.HBSITE_RUNNER_NAME)]


_backend: runner.Backend | None = None


def backend() -> runner.Backend:
    """Return this process's runner backend, made on first use."""
    global _backend
    if _backend is None:
        if settings.HBSITE_RUNNER_URL:
            _backend = runner_rest.RestBackend(
                settings.HBSITE_RUNNER_URL, settings.HBSITE_RUNNER_TOKEN
            )
        else:
            _backend = runner_db.DbBackend()
    return _backend


@shared_task(bind=True, ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def deliver_webhook(self, delivery_id: int) -> None:
    """Make one attempt at a webhook delivery (queue `webhooks`); when it fails, Celery sends
    the task again after the backoff `webhooks.attempt` returns, until the attempts run out."""
    wait = webhooks.attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait, max_retries=None)


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def reconcile() -> None:
    """Recover trials whose runner vanished, advance every active sweep and resend webhook
    deliveries whose task was lost."""
    for trial_id in trials.stale_trial_ids():
        trials.recover_lost(trial_id)
    for trial_id, queue in trials.stuck_queued():
        queueing.send(queueing.RUN_TRIAL, trial_id, queue)
    for sweep_id in Sweep.objects.active().values_list("id", flat=True):
        queueing.send(queueing.ADVANCE, sweep_id)
    for delivery_id in webhooks.unsent_ids():
        queueing.send(queueing.DELIVER, delivery_id)


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def importance(sweep_id: int) -> None:
    """Compute a sweep's parameter importance at every rung with enough trials (queue
    `scheduler`), off the web server's request path."""
    analysis.compute(sweep_id)
