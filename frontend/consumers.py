"""Websockets: one consumer follows a sweep, one follows the sweeps list.

Consumers check access, join their groups and relay. The sweep consumer also answers
`{"type": "resync", "after": seq}` with the missed events from the database, in order, and
coalesces metric batches so a chatty trial cannot flood a browser.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from scheduler import access as acl
from scheduler import events
from scheduler.models import Sweep

from . import eventtext
from .queries.sweep import events_after

RESYNC_BATCH = 500
METRICS_EVERY = 0.5  # seconds: at most two metric messages a second per socket
LIST_EVERY = 1.0
CLOSE_NOT_FOUND, CLOSE_REVOKED = 4404, 4403


def share_token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("share") or [None])[0]


class Coalescer:
    """Collect items and hand them to `flush` at most once every `every` seconds.

    The first item after a quiet spell goes out at once (on the next turn of the event loop,
    with whatever else arrived in that turn); items arriving within `every` seconds of the
    last flush wait for the rest of that interval.
    """

    def __init__(self, every: float, flush) -> None:
        self.every, self.flush, self.task = every, flush, None
        self.last = -math.inf  # event loop time of the last flush

    def poke(self) -> None:
        if self.task is None:
            wait = self.last + self.every - asyncio.get_running_loop().time()
            self.task = asyncio.ensure_future(self._later(max(wait, 0.0)))

    async def _later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.task = None
        self.last = asyncio.get_running_loop().time()
        await self.flush()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None


class SweepConsumer(AsyncJsonWebsocketConsumer):
    """Relay one sweep's events and metric batches to a browser that may see the sweep."""

    async def connect(self) -> None:
        self.sweep_id = int(self.scope["url_route"]["kwargs"]["sweep_id"])
        self.joined: list[str] = []
        self.points: dict[int, dict[str, list[list[float]]]] = {}
        self.metrics = Coalescer(METRICS_EVERY, self.flush_metrics)
        found = await self.check_access()
        if found is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.joined = [events.sweep_group(self.sweep_id)]
        if found.share_link is not None:
            self.joined.append(events.share_group(found.share_link.pk))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    @database_sync_to_async
    def check_access(self) -> acl.Access | None:
        user, token = self.scope.get("user"), share_token(self.scope)
        if (user is None or not user.is_authenticated) and not token:
            return None
        return acl.sweep_access(user, self.sweep_id, token)

    async def disconnect(self, code: int) -> None:
        self.metrics.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "resync":
            return
        after = content.get("after")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self.send_json({"type": "error", "message": "resync needs after: seq >= 0"})
            return
        missed = await database_sync_to_async(events_after)(self.sweep_id, after, RESYNC_BATCH)
        more = len(missed) == RESYNC_BATCH
        await self.send_json({"type": "events", "after": after, "events": missed, "more": more})

    async def sweep_events(self, message: dict[str, Any]) -> None:
        """Events of one transaction, in order: one frame each, as the browser reads them."""
        for event in message["events"]:
            await self.send_json({"type": "event", "event": eventtext.with_text(event)})

    async def sweep_metrics(self, message: dict[str, Any]) -> None:
        series = self.points.setdefault(int(message["trial"]), {})
        for point in message.get("points", []):
            series.setdefault(point["name"], []).append([point["step"], point["value"]])
        self.metrics.poke()

    async def flush_metrics(self) -> None:
        points, self.points = self.points, {}
        if points:
            trimmed = {
                trial: {
                    name: values[-events.LIVE_POINTS_PER_SERIES :]
                    for name, values in series.items()
                }
                for trial, series in points.items()
            }
            await self.send_json({"type": "metrics", "trials": trimmed})

    async def share_revoked(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_REVOKED)


class SweepListConsumer(AsyncJsonWebsocketConsumer):
    """Tell a signed-in user which of their sweeps changed, about once a second."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.changed: dict[int, dict[str, Any]] = {}
        self.batch = Coalescer(LIST_EVERY, self.flush)
        self.joined = False
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.channel_layer.group_add(events.LIST_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        self.batch.cancel()
        if self.joined:
            await self.channel_layer.group_discard(events.LIST_GROUP, self.channel_name)

    async def sweeps_changed(self, message: dict[str, Any]) -> None:
        summary = message["sweep"]
        self.changed[int(summary["id"])] = summary
        self.batch.poke()

    async def flush(self) -> None:
        changed, self.changed = self.changed, {}
        visible = await self.visible(list(changed))
        sweeps = [changed[i] for i in sorted(visible)]
        if sweeps:
            await self.send_json({"type": "sweeps", "sweeps": sweeps})

    @database_sync_to_async
    def visible(self, ids: list[int]) -> set[int]:
        user = self.scope["user"]
        return set(Sweep.objects.visible_to(user).filter(pk__in=ids).values_list("id", flat=True))
