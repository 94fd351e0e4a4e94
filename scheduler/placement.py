"""Which runner queue a trial goes to: any runner, or the one holding its checkpoint.

A promoted trial of a `resume: true` sweep continues from its config's checkpoint, which
lies in the data directory of the runner that ran the config's previous rung (the trial's
parent). Unless the data directory is shared by every runner (HBSITE_SHARED_DATA_DIR=true,
e.g. one network file system), such a trial goes to that runner's own queue,
`trials@<runner name>`, and waits there until a runner of that name takes it. Every other
trial goes to `trials`, which every runner consumes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from . import queueing, stored
from .models import Sweep, Trial


def keeps_checkpoints_local(sweep: Sweep) -> bool:
    """Tell whether the sweep's promoted trials must run where their checkpoint is."""
    hyperband = stored.spec_of(sweep).hyperband
    resume = hyperband is not None and hyperband.resume
    return resume and not settings.HBSITE_SHARED_DATA_DIR


def queues(sweep: Sweep, trial_ids: Iterable[int]) -> dict[int, str]:
    """Return the queue of each of the sweep's trials in `trial_ids` (see the module)."""
    ids = list(trial_ids)
    if not keeps_checkpoints_local(sweep):
        return dict.fromkeys(ids, queueing.TRIALS)
    holders = dict(Trial.objects.filter(pk__in=ids).values_list("id", "parent__runner"))
    return {
        pk: queueing.runner_queue(holders[pk]) if holders.get(pk) else queueing.TRIALS for pk in ids
    }
