"""A local runner's finish: the trial's end, the scheduling step and the next claim, at once.

A trial that ends frees a slot; the step that fills it, and the claim of the trial it
queues, used to be three transactions under the sweep's lock, two Celery tasks apart (the
runner's finish, the `advance` task's step, the next runner's claim). A runner on the
database does all three in its finish transaction, under one lock of the sweep: the step
is the same `scheduling.step_locked` the `advance` task runs, so promotion is still decided
once, under the lock, and events keep their order. The trial it keeps back for this runner
(one whose queue the runner consumes) is claimed right away and run next by the same
thread; every other trial it queues is sent to the runners as usual.

A bo sweep's step fits a model (seconds, not milliseconds): its finish asks for a step as
before. Should the step fail, the whole transaction rolls back and the runner finishes
the attempt the plain way (trials.finish, which asks the `advance` task for the step).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import transaction

from . import queueing, scheduling, stored, trials


@transaction.atomic
def finish_and_claim(
    fence: trials.Fence,
    end: tuple[int | None, str, str, str],
    keep_for: Collection[str],
    worker: str,
    prepare: Any,
) -> tuple[bool, trials.Claim | None]:
    """Store how an attempt ended (`end`: exit code, error, stdout tail, stderr tail), take
    the sweep's scheduling step, and claim for `worker` the first trial it queued on one of
    `keep_for` (with `prepare`, as trials.claim does).

    Return (False, None), changing nothing, when the trial is gone or on another attempt;
    else (True, the claim of the next trial or None).
    """
    locked = trials.lock_trial(fence.trial_id)
    if locked is None or not fence.holds(locked[1]):
        return False, None
    sweep, trial = locked
    trials.finish_locked(sweep, trial, *end)
    if stored.spec_of(sweep).bo is not None:
        queueing.request_step(sweep.pk)
        return True, None
    kept = scheduling.step_locked(sweep, keep_for)
    if kept is None:
        return True, None
    following = trials.sweep_and_trial(sweep, kept)
    return True, None if following is None else trials.claim_locked(*following, worker, prepare)
