"""The broadcaster sends in order, and a state message still queued is replaced by a newer one
of the same key instead of being sent twice."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from scheduler import broadcast


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


def test_a_newer_state_message_takes_the_place_of_a_queued_one(monkeypatch):
    layer = HeldLayer()
    monkeypatch.setattr(broadcast, "own_channel_layer", lambda: layer)
    sender = broadcast.Broadcaster()
    sender.send("sweep-1", {"n": 0})
    assert layer.holding.wait(10)  # the first send is under way; the rest wait in the queue
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
