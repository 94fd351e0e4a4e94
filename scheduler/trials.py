"""A trial's life as the runner, the API and reconcile change it, always under the sweep lock.

Every attempt of a trial has an identity, its `Fence`: the attempt number and the hash of
the token its runner was given when it claimed the trial. Heartbeats, metric points and the
finish are accepted only while the trial row still holds that number and hash, so an attempt
that lost the trial (requeued by reconcile, which clears the hash, then claimed again, which
bumps the number) changes nothing. "succeeded" is only ever exit code 0 of the current attempt.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import broker, events, placement, queueing, rows, stored
from .models import (
    Config,
    MetricPoint,
    Sweep,
    SweepStatus,
    Trial,
    TrialAttempt,
    TrialStatus,
    hash_secret,
)


@dataclass(frozen=True)
class Fence:
    """Which attempt of a trial a runner speaks for: the attempt number and its token's hash."""

    trial_id: int
    attempt: int
    token_hash: str

    def holds(self, trial: Trial) -> bool:
        """Tell whether `trial` (as just read) is still on this attempt."""
        return (trial.attempt, trial.token_hash) == (self.attempt, self.token_hash)


@dataclass(frozen=True)
class Claim:
    """What a runner needs to start a trial it has claimed."""

    trial: Trial
    token: str

    @property
    def fence(self) -> Fence:
        return Fence(self.trial.pk, self.trial.attempt, self.trial.token_hash)


# Written once (scheduler.rows): the ORM took ~1 ms of CPU to compile each, every round.
LOCK_SWEEP_OF_TRIAL_SQL = (
    f"SELECT {rows.columns(Sweep)} FROM {Sweep._meta.db_table} "
    f"WHERE id = (SELECT sweep_id FROM {Trial._meta.db_table} WHERE id = %s) FOR UPDATE"
)
LOCK_TRIALS_SQL = (
    f"SELECT {rows.columns(Trial)} FROM {Trial._meta.db_table} "
    "WHERE id = ANY(%s) AND sweep_id = %s ORDER BY id FOR UPDATE"
)
CONFIGS_SQL = f"SELECT {rows.columns(Config)} FROM {Config._meta.db_table} WHERE id = ANY(%s)"


def lock_trial(trial_id: int) -> tuple[Sweep, Trial] | None:
    """Lock a trial's sweep, then the trial (always in that order, so no deadlock); the
    trial comes with its config."""
    found = rows.fetch(Sweep, LOCK_SWEEP_OF_TRIAL_SQL, [trial_id])
    return sweep_and_trial(found[0], trial_id) if found else None


def sweep_and_trial(sweep: Sweep, trial_id: int) -> tuple[Sweep, Trial] | None:
    """Lock one trial of a sweep whose row the caller has locked; with its config."""
    found = lock_trials(sweep, [trial_id], with_config=True)
    return (sweep, found[0]) if found else None


def lock_trials(sweep: Sweep, ids: Sequence[int], with_config: bool = False) -> list[Trial]:
    """Lock the trials of `ids` that belong to a sweep whose row the caller has locked;
    return them in id order, with their config when `with_config`."""
    found = rows.fetch(Trial, LOCK_TRIALS_SQL, [list(ids), sweep.pk])
    if with_config and found:
        wanted = list({trial.config_id for trial in found})
        configs = {config.pk: config for config in rows.fetch(Config, CONFIGS_SQL, [wanted])}
        for trial in found:
            trial.config = configs[trial.config_id]
    return found


@transaction.atomic
def claim(trial_id: int, worker: str, prepare: Any) -> Claim | None:
    """Mark a queued trial running for this worker; None when it is not ours to run.

    `prepare(trial)` fills in the command and checkpoint dir before the trial is saved.
    """
    locked = lock_trial(trial_id)
    if locked is None:
        return None
    claimed = take_attempt(*locked, worker, prepare)
    if claimed is not None:
        claimed.trial.save(update_fields=CLAIMED_FIELDS)
    return claimed


def take_attempt(sweep: Sweep, trial: Trial, worker: str, prepare: Any) -> Claim | None:
    """`claim` for a trial whose sweep and row the caller has locked (in that order), in
    memory only: the trial is changed and its event emitted; the caller saves CLAIMED_FIELDS
    (one trial with `save`, several with scheduler.rows.save_fields)."""
    if trial.status != TrialStatus.QUEUED or sweep.status != SweepStatus.RUNNING:
        return None
    if sweep.paused_at is not None:
        return None
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    trial.sweep = sweep  # the locked row: `prepare` reads the spec without another query
    trial.status, trial.worker, trial.token_hash = TrialStatus.RUNNING, worker, hash_secret(token)
    trial.attempt += 1
    trial.started_at = trial.heartbeat_at = now
    trial.finished_at, trial.exit_code, trial.error = None, None, ""
    prepare(trial)
    events.emit(sweep, events.TRIAL_STARTED, events.trial_state(trial))
    return Claim(trial=trial, token=token)


# What a claim changes: the attempt, and what `prepare` fills in.
CLAIMED_FIELDS = [
    "status", "worker", "token_hash", "attempt", "started_at", "heartbeat_at", "finished_at",
    "exit_code", "error", "command", "checkpoint_dir", "runner",
]  # fmt: skip


def heartbeat(
    fence: Fence, pid: int | None, stdout: str | None = None, stderr: str | None = None
) -> bool:
    """Record that the attempt's runner is alive (and its output so far).

    Return False when the attempt should end: the trial was stopped, deleted, or is no
    longer on this attempt.
    """
    fields: dict[str, Any] = {"heartbeat_at": timezone.now(), "pid": pid}
    if stdout is not None:
        fields["stdout_tail"] = stdout
    if stderr is not None:
        fields["stderr_tail"] = stderr
    running = Trial.objects.running_attempt(fence.trial_id, fence.attempt, fence.token_hash)
    return bool(running.update(**fields))


@transaction.atomic
def finish(fence: Fence, exit_code: int | None, error: str, stdout: str, stderr: str) -> bool:
    """Store how an attempt's process ended and let the scheduler take the next step.

    A running trial becomes succeeded (exit code 0, no error) or failed; a stopped one keeps
    its status and gets the exit code and output. Return False, changing nothing, when the
    trial is gone or on another attempt.
    """
    locked = lock_trial(fence.trial_id)
    if locked is None or not fence.holds(locked[1]):
        return False
    sweep, trial = locked
    trial.save(update_fields=end_attempt(sweep, trial, exit_code, error, stdout, stderr))
    queueing.request_step(sweep.pk)
    return True


def end_attempt(
    sweep: Sweep,
    trial: Trial,
    exit_code: int | None,
    error: str,
    stdout: str,
    stderr: str,
    also: Sequence[str] = (),
) -> list[str]:
    """`finish` for a trial whose sweep and row the caller has locked and whose attempt it
    has checked, in memory only: the trial is changed (and its event emitted when it was
    running), without a scheduling step; return the fields the caller saves (one trial with
    `save`, several with scheduler.rows.save_fields), `also` (changed by the caller) among
    them."""
    trial.exit_code, trial.stdout_tail, trial.stderr_tail = exit_code, stdout, stderr
    fields = ["exit_code", "stdout_tail", "stderr_tail", "pid", *also]
    trial.pid = None
    if trial.status == TrialStatus.RUNNING:
        ok = exit_code == 0 and not error
        trial.status = TrialStatus.SUCCEEDED if ok else TrialStatus.FAILED
        trial.error = error or ("" if exit_code == 0 else f"exited with code {exit_code}")
        trial.finished_at = timezone.now()
        fields += ["status", "error", "finished_at"]
        events.emit(sweep, events.TRIAL_FINISHED, events.trial_state(trial))
    return fields


@transaction.atomic
def kill(trial_id: int) -> bool:
    """Stop one trial at a user's request; its runner terminates the process."""
    locked = lock_trial(trial_id)
    if locked is None:
        return False
    sweep, trial = locked
    if trial.has_ended:
        return False
    trial.status, trial.finished_at = TrialStatus.STOPPED, timezone.now()
    trial.error = "killed by a user"
    trial.save(update_fields=["status", "finished_at", "error"])
    events.emit(sweep, events.TRIAL_FINISHED, events.trial_state(trial))
    queueing.request_step(sweep.pk)
    return True


@transaction.atomic
def recover_lost(trial_id: int) -> None:
    """Requeue a running trial whose runner stopped heartbeating, or mark it lost.

    The lost attempt's tree is already dead by then: its supervisor's lease ran out before
    the heartbeat went stale (scheduler.process_tree.lease_for), so the next attempt never
    shares a checkpoint dir with a process of the old one.
    """
    locked = lock_trial(trial_id)
    if locked is None:
        return
    sweep, trial = locked
    if trial.status != TrialStatus.RUNNING or not heartbeat_is_stale(trial):
        return
    requeue_or_lose(sweep, trial, "stopped answering")


@transaction.atomic
def give_up(fence: Fence, why: str) -> bool:
    """Requeue (or mark lost) an attempt whose tree was killed for want of heartbeats.

    Return False, changing nothing, when the trial is not running this attempt any more.
    """
    locked = lock_trial(fence.trial_id)
    if locked is None or not fence.holds(locked[1]) or locked[1].status != TrialStatus.RUNNING:
        return False
    requeue_or_lose(*locked, why)
    return True


def requeue_or_lose(sweep: Sweep, trial: Trial, why: str) -> None:
    """End the locked trial's attempt: back to pending while retries remain, else lost.

    Clearing the token hash fences the attempt off at once: its heartbeats, metric posts
    and finish are refused from now on.
    """
    limit = stored.spec_of(sweep).run.max_retries
    retries = settings.HBSITE_MAX_RETRIES if limit is None else limit
    previous_worker = trial.worker
    # Only attempts lost by their runner count against the limit, not paused or retried ones.
    lost = trial.attempts.filter(status=TrialStatus.LOST).count() + 1
    if lost <= retries:
        keep_attempt(trial, TrialStatus.LOST, f"runner {previous_worker} {why}")
        back_to_pending(trial)
        events.emit(
            sweep, events.TRIAL_REQUEUED, events.trial_state(trial, lost_worker=previous_worker)
        )
    else:
        trial.pid, trial.worker, trial.token_hash = None, "", ""
        fields = ["status", "pid", "worker", "token_hash"]
        trial.status, trial.finished_at = TrialStatus.LOST, timezone.now()
        trial.error = f"runner {previous_worker} {why} after {trial.attempt} attempts"
        trial.save(update_fields=[*fields, "finished_at", "error"])
        events.emit(sweep, events.TRIAL_FINISHED, events.trial_state(trial))
    queueing.request_step(sweep.pk)


def keep_attempt(trial: Trial, status: str, why: str) -> TrialAttempt | None:
    """Keep the locked trial's current attempt as history before it goes back to pending.

    `status` is how the attempt ended (lost, stopped, failed, ...) and `why` says why it was
    ended or retried. Nothing is kept for a trial that never started (attempt 0) or whose
    current attempt is kept already (a requeued trial stopped before it ran again).
    """
    if trial.attempt == 0 or trial.attempts.filter(number=trial.attempt).exists():
        return None
    last_point = MetricPoint.objects.filter(trial=trial).order_by("-id").values("id").first()
    return TrialAttempt.objects.create(
        trial=trial, number=trial.attempt, status=status, why=why, worker=trial.worker,
        exit_code=trial.exit_code, error=trial.error, metric_value=trial.metric_value,
        last_metrics=trial.last_metrics, last_point_id=last_point and last_point["id"],
        started_at=trial.started_at, finished_at=trial.finished_at or timezone.now(),
    )  # fmt: skip


def back_to_pending(trial: Trial) -> None:
    """Send the locked trial back to pending for its next attempt, starting clean.

    Clearing the token hash fences the old attempt off: its heartbeats are refused, so its
    runner kills its process tree, and its metric posts and finish change nothing.
    """
    trial.status, trial.pid, trial.worker, trial.token_hash = TrialStatus.PENDING, None, "", ""
    trial.metric_value, trial.last_metrics, trial.met_rule, trial.met_value = None, {}, None, None
    trial.exit_code, trial.error, trial.finished_at, trial.queued_at = None, "", None, None
    trial.save(update_fields=[
        "status", "pid", "worker", "token_hash", "metric_value", "last_metrics", "met_rule",
        "met_value", "exit_code", "error", "finished_at", "queued_at",
    ])  # fmt: skip


def heartbeat_is_stale(trial: Trial) -> bool:
    """Tell whether a running trial's last heartbeat is older than the lost-after limit."""
    limit = timezone.now() - timedelta(seconds=settings.HBSITE_LOST_AFTER_SECONDS)
    return trial.heartbeat_at is None or trial.heartbeat_at < limit


def stale_trial_ids() -> list[int]:
    """Return running trials whose runner has not heartbeated in time."""
    limit = timezone.now() - timedelta(seconds=settings.HBSITE_LOST_AFTER_SECONDS)
    return list(
        Trial.objects.filter(status=TrialStatus.RUNNING, heartbeat_at__lt=limit).values_list(
            "id", flat=True
        )
    )


def stuck_queued() -> list[tuple[int, str]]:
    """Return (trial id, queue) of the queued trials whose task message the broker lost, so
    reconcile can resend it to the same queue (scheduler.placement).

    A trial queued for HBSITE_RESEND_AFTER_SECONDS whose message is not waiting in its queue
    was lost (a runner that died holding it, a Redis restart). When the broker cannot be
    inspected, a trial queued for HBSITE_REQUEUE_AFTER_SECONDS counts as lost.
    """
    in_trials = broker.waiting_ids(queueing.TRIALS)
    inspectable = in_trials is not None
    seconds = settings.HBSITE_RESEND_AFTER_SECONDS
    if not inspectable:
        seconds = settings.HBSITE_REQUEUE_AFTER_SECONDS
    limit = timezone.now() - timedelta(seconds=seconds)
    queued = Trial.objects.filter(status=TrialStatus.QUEUED, queued_at__lte=limit)
    by_sweep: dict[int, list[int]] = defaultdict(list)
    for sweep_id, pk in queued.values_list("sweep_id", "id"):
        by_sweep[sweep_id].append(pk)
    waiting: dict[str, set[int]] = {queueing.TRIALS: in_trials or set()}
    lost = []
    for sweep in Sweep.objects.filter(pk__in=by_sweep):
        for pk, queue in placement.queues(sweep, by_sweep[sweep.pk]).items():
            if queue not in waiting:
                waiting[queue] = broker.waiting_ids(queue) or set()
            if pk not in waiting[queue]:
                lost.append((pk, queue))
    return sorted(lost)
