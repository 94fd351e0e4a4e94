"""The one place that names sweep events, types their payloads, names groups and sends to them.

Every state change writes an Event in the transaction that makes the change, while the sweep
row is locked (so `seq` grows without gaps), and publishes it once that transaction commits.
The events in HOOKED are also handed to the team's webhooks here (scheduler.webhooks), the
one place every sweep ending and promotion passes, to be delivered after that commit.
Numbers that are not finite are written in their JSON string form (see `metric_values`), so
a payload is always strict JSON. Metric points are not events: they are published as
batches that carry no `seq`. Every message to a Channels group (sweep followers, the sweeps
list, a share link's sockets) is sent from here, through `broadcast`.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NotRequired, TypedDict, TypeVar

from django.db import connection, transaction

from . import broadcast, metric_values, webhooks
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
METRICS_REJECTED = "metrics_rejected"
METRIC_MISSING = "ranking_metric_missing"
CONFIGS_MADE = "configs_made"
SWEEP_PAUSED = "sweep_paused"
SWEEP_RESUMED = "sweep_resumed"
CONCURRENCY_CHANGED = "concurrency_changed"
TRIALS_RETRIED = "trials_retried"
TAGS_CHANGED = "tags_changed"
NOTE_CHANGED = "note_changed"

LIST_GROUP = "sweeps"

# The events a team's webhooks can be told about, and the webhook type each becomes
# (scheduler.models_webhooks.WebhookEvent): a sweep's ending by its status, each promotion.
HOOKED = {
    SWEEP_FINISHED: lambda payload: f"sweep.{payload['status']}",
    RUNG_PROMOTED: lambda _: "rung.promoted",
}


class SweepCreated(TypedDict):
    name: str
    plan: dict[str, Any]


class SweepStarted(TypedDict):
    trials: int


# A metric value in a payload: a number, or "NaN", "Infinity" or "-Infinity".
WireValue = float | str


class Best(TypedDict):
    """The best trial so far (see results.best_trial): its value, params and where it ran."""

    trial: int
    number: int
    value: WireValue
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
    """Trials queued together: their ids and, in the same order, their numbers."""

    trials: list[int]
    numbers: list[int]


class TrialState(TypedDict):
    """A trial's state (trial_started, trial_finished; trial_requeued adds lost_worker)."""

    trial: int
    number: int
    config: int
    bracket: int
    rung: int
    status: str
    attempt: int
    resource: float | None
    metric_value: WireValue | None
    error: str
    lost_worker: NotRequired[str]


class RungPromoted(TypedDict):
    bracket: int
    rung: int
    to_rung: int
    resource: int | float | None
    promoted: list[int]
    configs: list[int]
    cutoff: WireValue | None
    # A reopened rung's top-up: how many of its configs had gone up before.
    top_up: NotRequired[int]


class EarlyStopped(TypedDict):
    trial: int
    number: int
    metric: str
    value: WireValue
    rule: str
    bracket: int
    rung: int


class MetricsRejected(TypedDict):
    """The first time a trial's metric lines or points were not stored; later ones only
    add to the trial's `rejected_points` and `rejections`."""

    trial: int
    number: int
    bracket: int
    rung: int
    count: int
    reasons: list[str]


class MetricMissing(TypedDict):
    """A rung ended and none of its trials reported the ranking metric."""

    bracket: int
    rung: int
    metric: str
    reported: list[str]
    suggestion: str | None


class ConfigMade(TypedDict):
    """One config of a bo sweep: random or suggested, with its acquisition value."""

    config: int
    index: int
    how: str
    acquisition: float | None


class ConfigsMade(TypedDict):
    configs: list[ConfigMade]


class SweepPaused(TypedDict):
    """A user paused the sweep: `requeued` are the running trials stopped and sent back to
    pending (only when asked to), `unqueued` the queued ones that had not started."""

    by: str
    requeue: bool
    requeued: list[int]
    unqueued: list[int]
    trial_numbers: dict[str, int]


class SweepResumed(TypedDict):
    """A user resumed a paused sweep (same run) or an ended one (`run` is the new run);
    `requeued` are the trials sent back to pending, `retried` the failed ones retried."""

    by: str
    run: int
    requeued: list[int]
    retried: list[int]
    trial_numbers: dict[str, int]


class ConcurrencyChanged(TypedDict):
    """A user changed how many trials may be queued or running at once; `unqueued` are the
    queued trials sent back to pending to meet a lower limit."""

    by: str
    old: int
    new: int
    unqueued: list[int]
    trial_numbers: dict[str, int]


class TrialsRetried(TypedDict):
    """A user retried failed trials: each goes back to pending for a new attempt; `reopened`
    lists the [bracket, rung] pairs whose promotion waits for them again."""

    by: str
    trials: list[int]
    reopened: list[list[int]]
    trial_numbers: dict[str, int]


class TagsChanged(TypedDict):
    """A member set the sweep's tags (the whole list, as stored)."""

    tags: list[str]
    by: str


class NoteChanged(TypedDict):
    """A member edited the sweep's note; its new length in characters (0: cleared)."""

    length: int
    by: str


Payload = (
    SweepCreated | SweepStarted | SweepFinished | TrialsQueued | TrialState | RungPromoted
    | EarlyStopped | MetricsRejected | MetricMissing | ConfigsMade | SweepPaused
    | SweepResumed | ConcurrencyChanged | TrialsRetried | TagsChanged | NoteChanged
)  # fmt: skip


def missing_text(missing: MetricMissing | dict[str, Any]) -> str:
    """Say that a rung ranked nothing, naming what it reported: the event's log line and the
    failed sweep's status_reason."""
    reported = ", ".join(repr(name) for name in missing.get("reported") or []) or "nothing"
    hint = f"; did you mean {missing['suggestion']!r}?" if missing.get("suggestion") else ""
    return (
        f"no trial of bracket {missing.get('bracket')} rung {missing.get('rung')} reported the "
        f"ranking metric {missing.get('metric')!r} (reported: {reported}{hint})"
    )


def sweep_group(sweep_id: int) -> str:
    """Name the Channels group that follows one sweep."""
    return f"sweep-{sweep_id}"


def share_group(link_id: int) -> str:
    """Name the group a share link's sockets join, so revoking it can close them."""
    return f"share-link-{link_id}"


def emit(sweep: Sweep, kind: str, payload: Payload) -> Event:
    """Append an event to the locked sweep's history and publish it after commit.

    Inside `batched(sweep)` the event is stored with the others of the batch when it ends
    (its `pk` is set then), unless its kind goes to webhooks: that one, and those before it,
    are stored at once.
    """
    sweep.last_seq += 1
    strict = metric_values.wire_tree(payload)
    event = Event(sweep=sweep, seq=sweep.last_seq, kind=kind, payload=strict)
    pending = getattr(_local, "batches", {}).get(sweep.pk)
    if pending is not None:
        pending.append(event)
    if pending is None or kind in HOOKED:
        insert_with_seq(pending or [event])
        if pending:
            pending.clear()
    message = event_message(event)
    published = getattr(_local, "published", {}).get(sweep.pk)
    if published is None:
        summary = sweep_summary(sweep)
        transaction.on_commit(lambda: _publish(sweep.pk, [message], summary))
    else:
        published.append(message)
    if kind in HOOKED:
        webhooks.notify(sweep, event, HOOKED[kind](strict))
    return event


_local = threading.local()  # .batches: sweep id -> events emitted in `batched`, not stored
# .published: sweep id -> the live messages of the events emitted in `batched`, not sent


@contextmanager
def batched(sweep: Sweep) -> Iterator[None]:
    """Store the events the block emits for the locked `sweep` in one statement, as it ends
    (one round trip for all of a scheduling round's events instead of one each), and send
    their live messages in one group message once the transaction commits (a round's
    finishes, queueing and claims cost one send, not one each), with the sweep's summary as
    it is when the block ends."""
    batches: dict[int, list[Event]] = _local.__dict__.setdefault("batches", {})
    published: dict[int, list[dict[str, Any]]] = _local.__dict__.setdefault("published", {})
    if sweep.pk in batches:  # within a batch of this sweep already: that one stores them
        yield
        return
    pending = batches[sweep.pk] = []
    messages = published[sweep.pk] = []
    try:
        yield
        if pending:
            insert_with_seq(pending)
        if messages:
            summary = sweep_summary(sweep)
            transaction.on_commit(lambda: _publish(sweep.pk, messages, summary))
    finally:
        batches.pop(sweep.pk, None)
        published.pop(sweep.pk, None)


def insert_with_seq(rows: list[Event]) -> None:
    """Store new events of one sweep, in seq order, and the sweep's last_seq in one statement
    (one round trip under the sweep's lock; a data-modifying WITH always runs to completion,
    https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING)."""
    sweeps, events = Sweep._meta.db_table, Event._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"WITH seq AS (UPDATE {sweeps} SET last_seq = %s WHERE id = %s) "
        f"INSERT INTO {events} (sweep_id, seq, kind, payload, created_at) "
        f"VALUES {values} RETURNING id"
    )
    payload_field = Event._meta.get_field("payload")
    params: list[Any] = [rows[-1].seq, rows[-1].sweep_id]
    for event in rows:
        payload = payload_field.get_db_prep_value(event.payload, connection)
        params += [event.sweep_id, event.seq, event.kind, payload, event.created_at]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(rows, ids, strict=True):
        event.pk = pk
        event._state.adding = False


def trial_state(trial: Trial, **extra: Any) -> TrialState:
    """Describe a trial's state for an event."""
    value = trial.metric_value
    payload: TrialState = {
        "trial": trial.pk,
        "number": trial.number,
        "config": trial.config_id,
        "bracket": trial.bracket,
        "rung": trial.rung,
        "status": trial.status,
        "attempt": trial.attempt,
        "resource": trial.resource,
        "metric_value": None if value is None else metric_values.to_wire(value),
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


# Of each metric of a trial, the newest points one websocket message carries; a socket that
# gathers several batches before it sends keeps as many of the newest (frontend.consumers).
LIVE_POINTS_PER_SERIES = 50


# A trial's live points sent within this many seconds of its last ones wait out the rest and
# go together (`broadcast.send_merged`): a trial posting or printing hundreds of points a
# second costs at most 1 / LIVE_HOLD_SECONDS sends; its sockets send twice a second anyway.
LIVE_HOLD_SECONDS = 0.05
T = TypeVar("T")


def publish_metrics(
    sweep_id: int, trial_id: int, points: Sequence[tuple[str, float, float]]
) -> None:
    """Send new metric points (name, step, value) of one trial to the sweep's followers:
    of each metric the newest LIVE_POINTS_PER_SERIES, in their order (the followers would
    drop the older ones), so a 5,000-point batch costs what a 50-point one does."""
    wire = metric_values.wire_point
    newest = newest_per_series(points, operator.itemgetter(0))
    message = {"type": "sweep.metrics", "trial": trial_id, "points": [wire(*p) for p in newest]}
    broadcast.send_merged(sweep_group(sweep_id), ("metrics", trial_id), message, merge_metrics,
                          LIVE_HOLD_SECONDS)  # fmt: skip


def merge_metrics(waiting: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Join two live metric messages of one trial into one, as `publish_metrics` makes it."""
    points = newest_per_series([*waiting["points"], *later["points"]], operator.itemgetter("name"))
    return {**waiting, "points": points}


def newest_per_series(points: Sequence[T], name_of: Callable[[T], str]) -> list[T]:
    """Return of each metric (`name_of(point)`) the newest LIVE_POINTS_PER_SERIES points, in
    their order."""
    if len(points) <= LIVE_POINTS_PER_SERIES:
        return list(points)
    taken: dict[str, int] = {}
    newest = []
    for point in reversed(points):
        name = name_of(point)
        count = taken.get(name, 0)
        if count < LIVE_POINTS_PER_SERIES:
            taken[name] = count + 1
            newest.append(point)
    newest.reverse()
    return newest


def close_share_link(link_id: int) -> None:
    """Close every socket opened through a share link, once the current transaction commits."""
    group = share_group(link_id)
    transaction.on_commit(lambda: broadcast.send(group, {"type": "share.revoked"}))


def _publish(sweep_id: int, messages: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    broadcast.send(sweep_group(sweep_id), {"type": "sweep.events", "events": messages})
    # The sweeps list shows each sweep as it is now: a newer summary replaces one still queued.
    broadcast.send_latest(LIST_GROUP, sweep_id, {"type": "sweeps.changed", "sweep": summary})
