"""A local runner's finish: the trial's end, the scheduling step and the next claim, at once.

A trial that ends frees a slot; the step that fills it, and the claim of the trial it
queues, used to be three transactions under the sweep's lock, two Celery tasks apart (the
runner's finish, the `advance` task's step, the next runner's claim). A runner on the
database does all three in its finish transaction, under one lock of the sweep, and for
every attempt of the sweep that its threads finished meanwhile at once (see
scheduler.runner_db.Finisher): the step is the same `scheduling.step_locked` the `advance`
task runs, so promotion is still decided once, under the lock, and events keep their order.
The trials it keeps back for this runner (one per finishing thread that asked, whose queue
the runner consumes) are claimed right away and run next by those threads; every other
trial it queues is sent to the runners as usual.

A bo sweep's step fits a model (seconds, not milliseconds): its finish asks for a step as
before. Should the step fail, the whole transaction rolls back and the runner finishes
the attempt the plain way (trials.finish, which asks the `advance` task for the step).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from . import events, metrics, queueing, scheduling, stored, trials
from .models import Sweep, TrialStatus
from .rows import save_fields
from .sweeps import lock_sweep


@dataclass(frozen=True)
class Ending:
    """How one attempt ended: its fence, exit code, error, stdout and stderr tails; whether
    its thread takes a next trial, and that thread's worker name (host:pid:thread)."""

    fence: trials.Fence
    exit_code: int | None
    error: str
    stdout: str
    stderr: str
    take_next: bool
    worker: str
    points: tuple[metrics.Point, ...] = ()  # the attempt's last points, not stored yet


@transaction.atomic
def finish_and_claim(
    sweep_id: int, endings: Sequence[Ending], keep_for: Collection[str], prepare: Any
) -> list[tuple[bool, trials.Claim | None]]:
    """Store how attempts of one sweep ended (their last points too), take the sweep's
    scheduling step, and claim a trial it queued on one of `keep_for` for each ending that
    takes a next trial (with `prepare`, as trials.claim does), while there are such trials.

    Points of an attempt whose trial no longer runs (stopped meanwhile) are counted on it as
    `metrics.record` counts them, not stored.

    Return, per ending: (False, None), having changed nothing of it, when its trial is gone
    or on another attempt; else (True, the claim of its next trial or None).
    """
    sweep = lock_sweep(sweep_id)
    if sweep is None:
        return [(False, None)] * len(endings)
    with events.batched(sweep):
        return round_locked(sweep, endings, keep_for, prepare)


def round_locked(
    sweep: Sweep, endings: Sequence[Ending], keep_for: Collection[str], prepare: Any
) -> list[tuple[bool, trials.Claim | None]]:
    """`finish_and_claim` once the sweep's row is locked."""
    outcome: list[tuple[bool, trials.Claim | None]] = [(False, None)] * len(endings)
    ids = [ending.fence.trial_id for ending in endings]
    locked = {trial.pk: trial for trial in trials.lock_trials(sweep, ids)}
    takers, points_of, ended, fields = [], [], [], {}
    spec = stored.spec_of(sweep)
    for index, ending in enumerate(endings):
        trial = locked.get(ending.fence.trial_id)
        if trial is None or not ending.fence.holds(trial):
            continue
        merged: tuple[str, ...] = ()
        if ending.points and trial.status == TrialStatus.RUNNING:
            metrics.merge_locked(trial, spec, list(ending.points))
            points_of.append((trial.pk, list(ending.points)))
            merged = metrics.MERGED_FIELDS
        elif ending.points:
            count = len(ending.points)
            why = [f"{count} point(s) sent after the trial ended"]
            metrics.reject_locked(sweep, trial, why, count)
        changed = trials.end_attempt(sweep, trial, ending.exit_code, ending.error,
                                     ending.stdout, ending.stderr, merged)  # fmt: skip
        ended.append(trial)
        fields.update(dict.fromkeys(changed))
        outcome[index] = (True, None)
        if ending.take_next:
            takers.append(index)
    # Before the step, which reads the trials' status (and may mark some of them promoted).
    save_fields(ended, fields)
    if points_of:
        metrics.insert_many(points_of)
    if spec.bo is not None:
        queueing.request_step(sweep.pk)  # its step fits a model: the scheduler's to take
        return outcome
    kept = scheduling.step_locked(sweep, keep_for, len(takers))
    if not kept:
        return outcome
    following = trials.lock_trials(sweep, kept, with_config=True)
    claimed = []
    for index, trial in zip(takers, following, strict=False):
        claim = trials.take_attempt(sweep, trial, endings[index].worker, prepare)
        outcome[index] = (True, claim)
        if claim is not None:
            claimed.append(trial)
    save_fields(claimed, trials.CLAIMED_FIELDS)
    return outcome
