"""A user's hand on a running sweep: pause, resume, retry failed trials, change concurrency.

Each action locks the sweep row, changes what the database says, writes its event (saying
who acted) and asks for a scheduling step; the step itself (dispatch, promotion, finishing)
stays in `scheduling.step`, inside `tasks.advance`. Everything an action decides is in the
database, so a crash at any point leaves a state the next step continues from.

- pause: nothing new starts; queued trials go back to pending; running trials finish, or
  with `requeue` are stopped and go back to pending as a new attempt. Promotions of rungs
  that finish meanwhile are still decided, so resume continues exactly where the plan is.
- resume a paused sweep: it dispatches again. Resume a stopped or failed sweep: a new run
  (`Sweep.run`) of the remaining plan; the trials its end stopped go back to pending, and
  with `retry_failed` its failed and lost trials are retried too. Finished trials are kept.
- retry: failed or lost trials go back to pending as a new attempt (the old one is kept as a
  TrialAttempt). A rung already decided is reopened: when its retried trials end, its
  promotion is topped up to the planned count (never undone: promotion stays exactly-once).
- concurrency: applied at once; queued trials beyond a lower limit go back to pending,
  running ones finish.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import events, queueing
from .models import RungDecision, Sweep, SweepStatus, Trial, TrialStatus
from .spec_types import MAX_CONCURRENCY
from .sweeps import lock_sweep
from .trials import back_to_pending, keep_attempt

RETRYABLE = (TrialStatus.FAILED, TrialStatus.LOST)
# Ended sweeps that resume as a new run: an early-stopped sweep met its rule, a succeeded
# one ran its whole plan.
RESUMABLE = (SweepStatus.STOPPED, SweepStatus.FAILED)


class ControlError(Exception):
    """An action that does not apply to the sweep or trial as it stands; says why."""


def who(user) -> str:
    """Name the user who acted, for the event log."""
    return user.get_username() if user is not None else "hbsite"


def locked(sweep_id: int) -> Sweep:
    sweep = lock_sweep(sweep_id)
    if sweep is None:
        raise ControlError(f"sweep {sweep_id} does not exist")
    return sweep


@transaction.atomic
def pause(sweep_id: int, user=None, requeue: bool = False) -> Sweep:
    """Pause an active sweep; with `requeue`, also stop its running trials and requeue them.

    Raises ControlError when the sweep has ended or is paused already.
    """
    sweep = locked(sweep_id)
    if not sweep.is_active or sweep.paused_at is not None:
        state = "paused" if sweep.paused_at is not None else sweep.status
        raise ControlError(f"sweep {sweep_id} is {state}; only an unpaused active sweep pauses")
    sweep.paused_at = timezone.now()
    sweep.save(update_fields=["paused_at"])
    unqueued = unqueue(sweep, sweep.trials.filter(status=TrialStatus.QUEUED))
    requeued = []
    if requeue:
        for trial in sweep.trials.filter(status=TrialStatus.RUNNING).select_for_update():
            keep_attempt(trial, TrialStatus.STOPPED, f"paused by {who(user)}")
            back_to_pending(trial)
            requeued.append(trial.pk)
    payload: events.SweepPaused = {
        "by": who(user), "requeue": requeue, "requeued": requeued, "unqueued": unqueued,
        "trial_numbers": numbers_of(requeued + unqueued),
    }  # fmt: skip
    events.emit(sweep, events.SWEEP_PAUSED, payload)
    queueing.request_step(sweep.pk)
    return sweep


def unqueue(sweep: Sweep, queued: QuerySet[Trial]) -> list[int]:
    """Send queued trials of the locked sweep back to pending; their task messages find
    them not queued and do nothing (see trials.claim). Return their ids."""
    ids = list(queued.values_list("id", flat=True))
    Trial.objects.filter(pk__in=ids).update(status=TrialStatus.PENDING, queued_at=None)
    return ids


@transaction.atomic
def resume(sweep_id: int, user=None, retry_failed: bool = False) -> Sweep:
    """Resume a paused sweep, or a stopped or failed one as a new run of its remaining plan.

    Raises ControlError when there is nothing to resume: a sweep neither paused nor stopped
    or failed, or an ended sweep with no trial left to run (pass `retry_failed` to retry its
    failed trials).
    """
    sweep = locked(sweep_id)
    if sweep.is_active:
        if sweep.paused_at is None:
            raise ControlError(f"sweep {sweep_id} is {sweep.status} and not paused")
        retried = retry_in(sweep, failed_of(sweep), user) if retry_failed else []
        sweep.paused_at = None
        sweep.save(update_fields=["paused_at"])
        return resumed(sweep, user, [], retried)
    if sweep.status not in RESUMABLE:
        raise ControlError(
            f"sweep {sweep_id} is {sweep.status}; only a paused, stopped or failed sweep resumes"
        )
    return new_run(sweep, user, failed_of(sweep) if retry_failed else None)


def new_run(sweep: Sweep, user, retry_rows: QuerySet[Trial] | None) -> Sweep:
    """Start the locked, stopped or failed sweep again as its next run: the trials its end
    stopped go back to pending, and `retry_rows` are retried. Raises ControlError when that
    leaves nothing to run."""
    requeued = requeue_stopped(sweep, user)
    retried = retry_in(sweep, retry_rows, user) if retry_rows is not None else []
    if not requeued and not retried:
        hint = "" if retry_rows is not None else "; retry its failed trials to run them again"
        raise ControlError(f"sweep {sweep.pk} has no trial left to run{hint}")
    sweep.status, sweep.status_reason, sweep.finished_at = SweepStatus.RUNNING, "", None
    sweep.paused_at, sweep.run = None, sweep.run + 1
    sweep.save(update_fields=["status", "status_reason", "finished_at", "paused_at", "run"])
    return resumed(sweep, user, requeued, retried)


def resumed(sweep: Sweep, user, requeued: list[int], retried: list[int]) -> Sweep:
    payload: events.SweepResumed = {
        "by": who(user), "run": sweep.run, "requeued": requeued, "retried": retried,
        "trial_numbers": numbers_of(requeued + retried),
    }  # fmt: skip
    events.emit(sweep, events.SWEEP_RESUMED, payload)
    queueing.request_step(sweep.pk)
    return sweep


def requeue_stopped(sweep: Sweep, user) -> list[int]:
    """Send the trials the sweep's end stopped (its last sweep_finished event names them)
    back to pending; trials a user killed stay stopped. Return their ids."""
    last_end = sweep.events.filter(kind=events.SWEEP_FINISHED).order_by("-seq").first()
    stopped = (last_end.payload.get("stopped_trials") or []) if last_end is not None else []
    rows = sweep.trials.filter(pk__in=stopped, status=TrialStatus.STOPPED).select_for_update()
    ids = []
    for trial in rows.order_by("id"):
        keep_attempt(trial, TrialStatus.STOPPED, f"sweep stopped; resumed by {who(user)}")
        back_to_pending(trial)
        ids.append(trial.pk)
    return ids


def failed_of(sweep: Sweep, bracket: int | None = None, rung: int | None = None):
    """Return the sweep's failed and lost trials, of one bracket and rung when given."""
    rows = sweep.trials.filter(status__in=RETRYABLE)
    if bracket is not None:
        rows = rows.filter(bracket=bracket)
    if rung is not None:
        rows = rows.filter(rung=rung)
    return rows


@transaction.atomic
def retry(sweep_id: int, user=None, trial_ids: list[int] | None = None,
          bracket: int | None = None, rung: int | None = None) -> list[int]:  # fmt: skip
    """Retry failed or lost trials of a sweep as new attempts: the given trials, or every
    one of a bracket's rung (or of a bracket, or of the sweep). Return the retried ids.

    A stopped or failed sweep is resumed as a new run with them. Raises ControlError when
    no such trial is retryable or the sweep cannot run again.
    """
    sweep = locked(sweep_id)
    rows = failed_of(sweep, bracket, rung)
    if trial_ids is not None:
        rows = rows.filter(pk__in=trial_ids)
        missing = set(trial_ids) - set(rows.values_list("id", flat=True))
        if missing:
            numbers = dict(sweep.trials.filter(pk__in=missing).values_list("id", "number"))
            if len(numbers) < len(missing):
                others = ", ".join(str(i) for i in sorted(missing - numbers.keys()))
                raise ControlError(f"trial id(s) {others} are not in sweep {sweep_id}")
            raise ControlError(
                f"trial(s) {', '.join(f'#{numbers[i]}' for i in sorted(missing))} of sweep "
                f"{sweep_id} did not fail: only a failed or lost trial is retried"
            )
    if not rows.exists():
        raise ControlError(f"sweep {sweep_id} has no failed trial there to retry")
    if not sweep.is_active and sweep.status not in RESUMABLE:
        raise ControlError(f"sweep {sweep_id} is {sweep.status}; it cannot run trials again")
    ids = list(rows.order_by("id").values_list("id", flat=True))
    if not sweep.is_active:
        new_run(sweep, user, sweep.trials.filter(pk__in=ids))
        return ids
    retry_in(sweep, rows, user)
    queueing.request_step(sweep.pk)
    return ids


def retry_in(sweep: Sweep, rows, user) -> list[int]:
    """Send these failed trials of the locked sweep back to pending as new attempts, reopen
    their decided rungs, and write the trials_retried event. Return their ids."""
    trials = list(rows.select_for_update().order_by("id"))
    if not trials:
        return []
    for trial in trials:
        keep_attempt(trial, trial.status, f"retried by {who(user)}")
        back_to_pending(trial)
    rungs = sorted({(t.bracket, t.rung) for t in trials})
    reopened = [[s, i] for s, i in rungs if reopen(sweep, s, i)]
    payload: events.TrialsRetried = {
        "by": who(user), "trials": [t.pk for t in trials], "reopened": reopened,
        "trial_numbers": {str(t.pk): t.number for t in trials},
    }  # fmt: skip
    events.emit(sweep, events.TRIALS_RETRIED, payload)
    return [t.pk for t in trials]


def numbers_of(trial_ids: list[int]) -> dict[str, int]:
    """Map each trial id (as a JSON object key) to the trial's number within its sweep."""
    rows = Trial.objects.filter(pk__in=trial_ids).values_list("id", "number")
    return {str(pk): number for pk, number in rows}


def reopen(sweep: Sweep, bracket: int, rung: int) -> bool:
    """Reopen a decided rung so its promotion is topped up once its trials end again."""
    decided = RungDecision.objects.filter(sweep=sweep, bracket=bracket, rung=rung)
    return bool(decided.update(reopened=True))


@transaction.atomic
def set_concurrency(sweep_id: int, concurrency: int, user=None) -> Sweep:
    """Change how many trials of an active sweep may be queued or running at once.

    A lower limit sends the newest queued trials back to pending; running trials finish.
    Raises ControlError for an ended sweep or a limit outside 1..MAX_CONCURRENCY.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ControlError(f"concurrency must be from 1 to {MAX_CONCURRENCY}, got {concurrency}")
    sweep = locked(sweep_id)
    if not sweep.is_active:
        raise ControlError(f"sweep {sweep_id} is {sweep.status}; its concurrency is final")
    old, sweep.concurrency = sweep.concurrency, concurrency
    sweep.save(update_fields=["concurrency"])
    excess = sweep.trials.occupying().count() - concurrency
    unqueued: list[int] = []
    if excess > 0:
        newest = sweep.trials.filter(status=TrialStatus.QUEUED).order_by("-queued_at", "-id")
        unqueued = unqueue(sweep, newest[:excess])
    payload: events.ConcurrencyChanged = {
        "by": who(user), "old": old, "new": concurrency, "unqueued": unqueued,
        "trial_numbers": numbers_of(unqueued),
    }  # fmt: skip
    events.emit(sweep, events.CONCURRENCY_CHANGED, payload)
    queueing.request_step(sweep.pk)
    return sweep
