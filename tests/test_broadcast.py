"""The broadcaster sends in order, and a state message still queued is replaced by a newer one
of the same key instead of being sent twice."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from scheduler import broadcast, events, metric_values


class HeldLayer:
    """A channel layer that records what it is given and holds its first send until released
    (so later sends pile up in the broadcaster's queue meanwhile)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.release = threading.Event()
        self.holding = threading.Event()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if not self.sent and not self.release.is_set():
            self.holding.set()
            await asyncio.to_thread(self.release.wait, 10)
        self.sent.append((group, message))


@pytest.fixture
def held(monkeypatch) -> tuple[HeldLayer, broadcast.Broadcaster]:
    """A broadcaster on a HeldLayer, its first message ({"n": 0} to sweep-1) under way."""
    layer = HeldLayer()
    monkeypatch.setattr(broadcast, "own_channel_layer", lambda: layer)
    sender = broadcast.Broadcaster()
    sender.send("sweep-1", {"n": 0})
    assert layer.holding.wait(10)  # the first send is under way; the rest wait in the queue
    return layer, sender


def test_a_newer_state_message_takes_the_place_of_a_queued_one(held):
    layer, sender = held
    sender.send_latest("sweeps", 1, {"status": "running", "seq": 1})
    sender.send("sweep-1", {"n": 1})
    sender.send_latest("sweeps", 1, {"status": "running", "seq": 2})
    sender.send_latest("sweeps", 2, {"status": "created", "seq": 1})
    sender.send_latest("sweeps", 1, {"status": "succeeded", "seq": 3})
    layer.release.set()
    sender.flush(10)

    assert layer.sent == [
        ("sweep-1", {"n": 0}),
        ("sweeps", {"status": "succeeded", "seq": 3}),  # where the first of key 1 stood
        ("sweep-1", {"n": 1}),
        ("sweeps", {"status": "created", "seq": 1}),
    ]
    sender.send_latest("sweeps", 1, {"status": "stopped", "seq": 4})  # sent again once gone
    sender.flush(10)
    assert layer.sent[-1] == ("sweeps", {"status": "stopped", "seq": 4})


def join(waiting: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    return {"points": waiting["points"] + later["points"]}


def test_messages_of_one_key_join_while_one_waits_and_within_the_hold(held):
    layer, sender = held
    sender.send_merged("sweep-1", "t1", {"points": [1]}, join, hold=60)
    sender.send("sweep-1", {"n": 1})
    sender.send_merged("sweep-1", "t1", {"points": [2]}, join, hold=60)
    sender.send_merged("sweep-1", "t2", {"points": [9]}, join, hold=60)
    layer.release.set()
    sender.flush(10)
    assert layer.sent == [
        ("sweep-1", {"n": 0}),
        ("sweep-1", {"points": [1, 2]}),  # the second joined the first, where it stood
        ("sweep-1", {"n": 1}),
        ("sweep-1", {"points": [9]}),
    ]

    # Within the hold of t1's last send, a message of t1 waits; what follows joins it.
    sender.send_merged("sweep-1", "t1", {"points": [3]}, join, hold=2)
    sender.send_merged("sweep-1", "t1", {"points": [4]}, join, hold=2)
    sender.send("sweep-1", {"n": 2})  # not held: sent before the held message
    sender.flush(10)  # waits for the held message too
    assert layer.sent[4:] == [("sweep-1", {"n": 2}), ("sweep-1", {"points": [3, 4]})]

    # A key never sent before goes at once, however long its hold.
    sender.send_merged("sweep-2", "t3", {"points": [5]}, join, hold=3600)
    sender.flush(10)
    assert layer.sent[-1] == ("sweep-2", {"points": [5]})


def test_joined_live_messages_keep_the_newest_points_of_each_metric_in_order():
    def message(points: list[tuple[str, float]]) -> dict[str, Any]:
        wire = [metric_values.wire_point(name, step, 0.5) for name, step in points]
        return {"type": "sweep.metrics", "trial": 7, "points": wire}

    waiting = message([("loss", s) for s in range(40)] + [("acc", 0)])
    later = message([("loss", s) for s in range(40, 70)])
    joined = events.merge_metrics(waiting, later)

    assert joined["type"] == "sweep.metrics" and joined["trial"] == 7
    kept = [(p["name"], p["step"]) for p in joined["points"]]
    newest = events.LIVE_POINTS_PER_SERIES
    assert kept == [("loss", s) for s in range(70 - newest, 40)] + [("acc", 0)] + [
        ("loss", s) for s in range(40, 70)
    ]
