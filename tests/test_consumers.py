"""Websocket consumers through the real ASGI app and the Redis channel layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.utils import timezone

from hbsite.asgi import application
from scheduler import (
    access,
    broadcast,
    events,
    handoff,
    metric_values,
    queueing,
    runner_db,
    sweeps,
    trials,
)
from scheduler.models import ShareLink, Sweep
from tests.sweeps import started_sweep

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


def test_it_uses_the_redis_channel_layer():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")


def session_cookie(user) -> tuple[bytes, bytes]:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def run(scenario):
    return async_to_sync(scenario)()


async def connect(path: str, user=None) -> tuple[WebsocketCommunicator, bool]:
    """Open a socket as `user` (signed in through a real session cookie) or anonymously."""
    headers = [ORIGIN]
    if user is not None:
        headers.append(await database_sync_to_async(session_cookie)(user))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


async def receive(comm: WebsocketCommunicator, kind: str, timeout: float = 5) -> dict:
    """Return the next message of `kind`, skipping others."""
    while True:
        message = await comm.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


@database_sync_to_async
def stop_sweep(sweep_id: int) -> None:
    sweeps.stop_sweep(sweep_id)


@database_sync_to_async
def kill_one(sweep_id: int) -> int:
    trial = Sweep.objects.get(pk=sweep_id).trials.filter(status__in=["pending", "queued"]).first()
    trials.kill(trial.pk)
    return trial.pk


@pytest.fixture
def sweep(cast):
    created = started_sweep(cast.team, cast.member)
    # Its events are published after commit by a background thread: let them all go out
    # before a test connects, so none of them arrives late on a test's socket.
    broadcast.flush()
    return created


# --- access ---------------------------------------------------------------------------------


def test_it_refuses_outsiders_and_anonymous_visitors(cast, sweep):
    async def scenario():
        for user in (cast.outsider, None):
            comm, connected = await connect(f"/ws/sweeps/{sweep.pk}/", user)
            assert not connected
        comm, connected = await connect("/ws/sweeps/999999/", cast.admin)
        assert not connected
        comm, connected = await connect("/ws/sweeps/", None)
        assert not connected

    run(scenario)


def test_it_accepts_team_members_and_share_links(cast, sweep):
    link = ShareLink.objects.create(sweep=sweep, created_by=cast.admin)
    token = access.share_token(link)

    async def scenario():
        for path, user in ((f"/ws/sweeps/{sweep.pk}/", cast.viewer),
                           (f"/ws/sweeps/{sweep.pk}/?share={token}", None)):  # fmt: skip
            comm, connected = await connect(path, user)
            assert connected
            await comm.disconnect()
        comm, connected = await connect(f"/ws/sweeps/{sweep.pk}/?share={token}x", None)
        assert not connected

    run(scenario)


def test_it_closes_a_share_link_socket_when_the_link_is_revoked(cast, sweep):
    link = ShareLink.objects.create(sweep=sweep, created_by=cast.admin)
    token = access.share_token(link)

    async def scenario():
        comm, connected = await connect(f"/ws/sweeps/{sweep.pk}/?share={token}")
        assert connected
        await get_channel_layer().group_send(f"share-link-{link.pk}", {"type": "share.revoked"})
        closed = await comm.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_a_revoked_link_no_longer_connects(cast, sweep):
    link = ShareLink.objects.create(sweep=sweep, created_by=cast.admin, revoked_at=timezone.now())

    async def scenario():
        comm, connected = await connect(f"/ws/sweeps/{sweep.pk}/?share={access.share_token(link)}")
        assert not connected

    run(scenario)


# --- relaying events ------------------------------------------------------------------------


def test_it_relays_events_in_order_with_their_log_line(cast, sweep):
    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        killed = await kill_one(sweep.pk)
        await stop_sweep(sweep.pk)
        got = [(await receive(comm, "event"))["event"] for _ in range(2)]
        await comm.disconnect()
        return killed, got

    killed, got = run(scenario)
    assert [e["seq"] for e in got] == [sweep.last_seq + 1, sweep.last_seq + 2]
    assert [e["kind"] for e in got] == ["trial_finished", "sweep_finished"]
    assert got[0]["payload"]["trial"] == killed and got[0]["payload"]["status"] == "stopped"
    assert "sweep stopped" in got[1]["text"]


def test_an_idle_socket_stays_open_and_live(cast, sweep):
    """redis-py 8's default 5 s socket timeout used to tear idle consumers down."""

    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        assert await comm.receive_nothing(timeout=6.5)
        await stop_sweep(sweep.pk)
        event = (await receive(comm, "event"))["event"]
        await comm.disconnect()
        return event

    assert run(scenario)["kind"] == "sweep_finished"


def test_it_resyncs_missed_events_after_a_reconnect(cast, sweep):
    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        await kill_one(sweep.pk)
        first = (await receive(comm, "event"))["event"]
        await comm.disconnect()
        # While the browser is away: two more changes.
        await kill_one(sweep.pk)
        await stop_sweep(sweep.pk)
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        await comm.send_json_to({"type": "resync", "after": first["seq"]})
        reply = await receive(comm, "events")
        await comm.send_json_to({"type": "resync", "after": "x"})
        error = await receive(comm, "error")
        await comm.disconnect()
        return first, reply, error

    first, reply, error = run(scenario)
    seqs = [e["seq"] for e in reply["events"]]
    last = Sweep.objects.get(pk=sweep.pk).last_seq
    assert seqs == list(range(first["seq"] + 1, last + 1)) and len(seqs) == 2
    assert reply["more"] is False and all(e["text"] for e in reply["events"])
    assert "resync" in error["message"]


def test_it_pages_a_long_resync(cast, sweep, monkeypatch):
    from frontend import consumers

    monkeypatch.setattr(consumers, "RESYNC_BATCH", 2)

    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        await comm.send_json_to({"type": "resync", "after": 0})
        first = await receive(comm, "events")
        await comm.send_json_to({"type": "resync", "after": first["events"][-1]["seq"]})
        second = await receive(comm, "events")
        await comm.disconnect()
        return first, second

    first, second = run(scenario)
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["more"] is True
    assert [e["seq"] for e in second["events"]] == [3] and second["more"] is False


def test_it_coalesces_a_flood_of_metric_batches(cast, sweep, monkeypatch):
    from frontend import consumers

    # A longer interval, so the whole flood lands in one even on a loaded machine.
    monkeypatch.setattr(consumers, "METRICS_EVERY", 2.0)
    trial = sweep.trials.first()

    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        for batch in range(40):
            points = [{"name": "loss", "step": batch * 10 + i, "value": 1.0} for i in range(10)]
            await get_channel_layer().group_send(
                events.sweep_group(sweep.pk),
                {"type": "sweep.metrics", "trial": trial.pk, "points": points},
            )
        message = await receive(comm, "metrics")
        extra = []
        while not await comm.receive_nothing(timeout=2.5):
            extra.append(await comm.receive_json_from())
        await comm.disconnect()
        return message, extra

    message, extra = run(scenario)
    # The first batch goes out at once; the rest of the flood waits for the interval.
    sent = [message, *(m for m in extra if m["type"] == "metrics")]
    assert len(sent) <= 2
    series = sent[-1]["trials"][str(trial.pk)]["loss"]
    assert len(series) == 50 and series[-1] == [399, 1.0]  # the newest points are kept


def test_a_large_batch_is_published_as_the_newest_points_of_each_metric(cast, sweep):
    trial = sweep.trials.first()
    points = [(name, float(step), step / 7) for step in range(300) for name in ("loss", "acc")]
    points[-4] = ("loss", 298.0, float("nan"))

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.sweep_group(sweep.pk), channel)
        events.publish_metrics(sweep.pk, trial.pk, points)
        message = await asyncio.wait_for(layer.receive(channel), 10)
        await layer.group_discard(events.sweep_group(sweep.pk), channel)
        return message

    message = run(scenario)
    newest = events.LIVE_POINTS_PER_SERIES
    kept = [p for p in points if p[1] >= 300 - newest]
    assert message["points"] == [metric_values.wire_point(*p) for p in kept]
    assert message["points"][-4]["value"] == "NaN"
    assert len(kept) == 2 * newest < len(points)


# --- the sweeps list ------------------------------------------------------------------------


def test_the_list_socket_reports_only_visible_sweeps(cast, sweep):
    other = started_sweep(cast.other_team, cast.outsider)

    async def scenario():
        mine, _ = await connect("/ws/sweeps/", cast.viewer)
        theirs, _ = await connect("/ws/sweeps/", cast.outsider)
        await stop_sweep(sweep.pk)
        await stop_sweep(other.pk)
        got_mine = await receive(mine, "sweeps")
        got_theirs = await receive(theirs, "sweeps")
        await mine.disconnect()
        await theirs.disconnect()
        return got_mine, got_theirs

    got_mine, got_theirs = run(scenario)
    assert [s["id"] for s in got_mine["sweeps"]] == [sweep.pk]
    assert got_mine["sweeps"][0]["status"] == "stopped"
    assert [s["id"] for s in got_theirs["sweeps"]] == [other.pk]


def test_events_are_published_only_after_commit(cast, sweep):
    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        await database_sync_to_async(rolled_back)(sweep.pk)
        assert await comm.receive_nothing(timeout=1)
        await comm.disconnect()

    run(scenario)


def rolled_back(sweep_id: int) -> None:
    try:
        with transaction.atomic():
            sweeps.end_sweep(sweeps.lock_sweep(sweep_id), "stopped", "rolled back")
            raise RuntimeError("abort")
    except RuntimeError:
        pass


def test_a_rounds_events_reach_the_socket_in_order_from_one_group_message(cast, sweep, monkeypatch):
    from tests.test_handoff import claimed, ending

    started = claimed(sweep, 2)
    broadcast.flush()
    sent: list[str] = []
    send = broadcast.send
    monkeypatch.setattr(broadcast, "send", lambda group, message: (
        sent.append(message["type"]), send(group, message)))  # fmt: skip

    async def scenario():
        comm, _ = await connect(f"/ws/sweeps/{sweep.pk}/", cast.viewer)
        await database_sync_to_async(handoff.finish_and_claim)(
            sweep.pk, [ending(c) for c in started], [queueing.TRIALS], runner_db.prepare
        )
        got = [await receive(comm, "event") for _ in range(5)]
        await comm.disconnect()
        return got

    got = run(scenario)
    stored = list(sweep.events.order_by("seq").values_list("seq", "kind"))[-5:]
    assert [(e["event"]["seq"], e["event"]["kind"]) for e in got] == stored
    assert [kind for _, kind in stored] == [
        "trial_finished", "trial_finished", "trial_queued", "trial_started", "trial_started"
    ]  # fmt: skip
    assert sent == ["sweep.events"]  # the round's five events in one group message
