"""The one place that names sweep events, writes them and publishes them to websocket groups.

Every state change writes an Event in the transaction that makes the change, while the sweep
row is locked (so `seq` grows without gaps), and publishes it once that transaction commits.
Metric points are not events: they are published as throttled batches that carry no `seq`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from . import broadcast
from .models import Event, Sweep

SWEEP_CREATED = "sweep_created"
SWEEP_STARTED = "sweep_started"
SWEEP_FINISHED = "sweep_finished"
TRIAL_QUEUED = "trial_queued"
TRIAL_STARTED = "trial_started"
TRIAL_FINISHED = "trial_finished"
TRIAL_REQUEUED = "trial_requeued"
RUNG_PROMOTED = "rung_promoted"
EARLY_STOPPED = "early_stopped"

LIST_GROUP = "sweeps"


def sweep_group(sweep_id: int) -> str:
    """Name the Channels group that follows one sweep."""
    return f"sweep-{sweep_id}"


def emit(sweep: Sweep, kind: str, payload: dict[str, Any]) -> Event:
    """Append an event to the locked sweep's history and publish it after commit."""
    sweep.last_seq += 1
    Sweep.objects.filter(pk=sweep.pk).update(last_seq=sweep.last_seq)
    event = Event.objects.create(sweep=sweep, seq=sweep.last_seq, kind=kind, payload=payload)
    message = event_message(event)
    summary = sweep_summary(sweep)
    transaction.on_commit(lambda: _publish(sweep.pk, message, summary))
    return event


def event_message(event: Event) -> dict[str, Any]:
    """Return the JSON form of an event, as the API and websockets send it."""
    return {
        "seq": event.seq,
        "kind": event.kind,
        "payload": event.payload,
        "time": event.created_at.isoformat(),
    }


def sweep_summary(sweep: Sweep) -> dict[str, Any]:
    """Return what the sweeps list shows of a sweep."""
    return {"id": sweep.pk, "status": sweep.status, "last_seq": sweep.last_seq}


def publish_metrics(sweep_id: int, trial_id: int, points: list[dict[str, Any]]) -> None:
    """Send a batch of new metric points of one trial to the sweep's followers."""
    message = {"type": "sweep.metrics", "trial": trial_id, "points": points}
    broadcast.send(sweep_group(sweep_id), message)


def _publish(sweep_id: int, message: dict[str, Any], summary: dict[str, Any]) -> None:
    broadcast.send(sweep_group(sweep_id), {"type": "sweep.event", "event": message})
    broadcast.send(LIST_GROUP, {"type": "sweeps.changed", "sweep": summary})
