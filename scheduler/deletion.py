"""Deleting a sweep: a running one is stopped first, so its trials are told to end."""

from __future__ import annotations

from django.db import transaction

from .models import Sweep
from .sweeps import lock_sweep, stop_sweep


def delete_sweep(sweep_id: int) -> None:
    """Stop the sweep if it is active, then delete it with its trials, events and links.

    The deletion locks the sweep's row first, as every change of a sweep or its trials does
    (scheduler.trials.lock_trial): deleting its trials before holding it could deadlock
    with a runner that holds it and waits for one of them.
    """
    stop_sweep(sweep_id, reason="deleted by a user")
    with transaction.atomic():
        lock_sweep(sweep_id)
        Sweep.objects.filter(pk=sweep_id).delete()
