"""Deleting a sweep: a running one is stopped first, so its trials are told to end."""

from __future__ import annotations

from django.db import transaction

from .models import Sweep
from .sweeps import stop_sweep


def delete_sweep(sweep_id: int) -> None:
    """Stop the sweep if it is active, then delete it with its trials, events and links."""
    stop_sweep(sweep_id, reason="deleted by a user")
    with transaction.atomic():
        Sweep.objects.filter(pk=sweep_id).delete()
