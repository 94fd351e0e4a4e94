"""The one place that names sweep events, types their payloads, names groups and sends to them.

Every state change writes an Event in the transaction that makes the change, while the sweep
row is locked (so `seq` grows without gaps), and publishes it once that transaction commits.
Metric points are not events: they are published as batches that carry no `seq`. Every
message to a Channels group (sweep followers, the sweeps list, a share link's sockets) is
sent from here, through `broadcast`.
"""

from __future__ import annotations

import math
from typing import Any, NotRequired, TypedDict

from django.db import transaction

from . import broadcast
from .models import Event, Sweep, Trial

SWEEP_CREATED = "sweep_created"
SWEEP_STARTED = "sweep_started"
SWEEP_FINISHED = "sweep_finished"
TRIAL_QUEUED = "trial_queued"
TRIAL_STARTED = "trial_started"
TRIAL_FINISHED = "trial_finished"
TRIAL_REQUEUED = "trial_requeued"
RUNG_PROMOTED = "rung_promoted"
EARLY_STOPPED = "early_stopped"
CONFIGS_MADE = "configs_made"

LIST_GROUP = "sweeps"


class SweepCreated(TypedDict):
    name: str
    plan: dict[str, Any]


class SweepStarted(TypedDict):
    trials: int


class Best(TypedDict):
    """The best trial so far: its ranking-metric value, params and where it ran."""

    trial: int
    value: float | None
    params: dict[str, Any]
    bracket: int
    rung: int
    resource: float | None


class SweepFinished(TypedDict):
    status: str
    reason: str
    stopped_trials: list[int]
    best: Best | None


class TrialsQueued(TypedDict):
    trials: list[int]


class TrialState(TypedDict):
    """A trial's state (trial_started, trial_finished; trial_requeued adds lost_worker)."""

    trial: int
    config: int
    bracket: int
    rung: int
    status: str
    attempt: int
    resource: float | None
    metric_value: float | None
    error: str
    lost_worker: NotRequired[str]


class RungPromoted(TypedDict):
    bracket: int
    rung: int
    to_rung: int
    resource: int | float | None
    promoted: list[int]
    configs: list[int]
    cutoff: float | None


class EarlyStopped(TypedDict):
    trial: int
    metric: str
    value: float
    rule: str
    bracket: int
    rung: int


class ConfigMade(TypedDict):
    """One config of a bo sweep: random or suggested, with its acquisition value."""

    config: int
    index: int
    how: str
    acquisition: float | None


class ConfigsMade(TypedDict):
    configs: list[ConfigMade]


Payload = (
    SweepCreated | SweepStarted | SweepFinished | TrialsQueued | TrialState | RungPromoted
    | EarlyStopped | ConfigsMade
)  # fmt: skip


def sweep_group(sweep_id: int) -> str:
    """Name the Channels group that follows one sweep."""
    return f"sweep-{sweep_id}"


def share_group(link_id: int) -> str:
    """Name the group a share link's sockets join, so revoking it can close them."""
    return f"share-link-{link_id}"


def emit(sweep: Sweep, kind: str, payload: Payload) -> Event:
    """Append an event to the locked sweep's history and publish it after commit."""
    sweep.last_seq += 1
    Sweep.objects.filter(pk=sweep.pk).update(last_seq=sweep.last_seq)
    event = Event.objects.create(sweep=sweep, seq=sweep.last_seq, kind=kind, payload=payload)
    message = event_message(event)
    summary = sweep_summary(sweep)
    transaction.on_commit(lambda: _publish(sweep.pk, message, summary))
    return event


def trial_state(trial: Trial, **extra: Any) -> TrialState:
    """Describe a trial's state for an event; a NaN metric value becomes None."""
    value = trial.metric_value
    payload: TrialState = {
        "trial": trial.pk,
        "config": trial.config_id,
        "bracket": trial.bracket,
        "rung": trial.rung,
        "status": trial.status,
        "attempt": trial.attempt,
        "resource": trial.resource,
        "metric_value": None if value is None or math.isnan(value) else value,
        "error": trial.error,
    }
    payload.update(extra)  # type: ignore[typeddict-item]
    return payload


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


def close_share_link(link_id: int) -> None:
    """Close every socket opened through a share link, once the current transaction commits."""
    group = share_group(link_id)
    transaction.on_commit(lambda: broadcast.send(group, {"type": "share.revoked"}))


def _publish(sweep_id: int, message: dict[str, Any], summary: dict[str, Any]) -> None:
    broadcast.send(sweep_group(sweep_id), {"type": "sweep.event", "event": message})
    broadcast.send(LIST_GROUP, {"type": "sweeps.changed", "sweep": summary})
