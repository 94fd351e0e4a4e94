"""Send messages to Channels groups from sync code without waiting on Redis.

`async_to_sync(layer.group_send)` from a worker thread builds an event loop and a Redis
connection per call (about 10 ms). Instead one background thread per process owns an event
loop and sends queued messages in order, so a runner or an API request only enqueues.
Live updates are best effort: the database holds the truth and clients resync from it.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

log = logging.getLogger(__name__)
MAX_SENT_AT = 4096  # keys whose last send time is kept; past it, those of the last second


class Broadcaster:
    """One event loop thread that sends group messages in the order they were queued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, dict[str, Any] | None, Any]] | None = None
        self._latest: dict[Any, dict[str, Any]] = {}  # a keyed message not sent yet, by key
        self._sent_at: dict[Any, float] = {}  # when a keyed message was last taken to send
        self._held = 0  # keyed messages waiting out their hold (on the loop's thread)

    def send(self, group: str, message: dict[str, Any]) -> None:
        """Queue a message for a group; returns at once."""
        loop = self._running_loop()
        assert self._queue is not None
        loop.call_soon_threadsafe(self._queue.put_nowait, (group, message, None))

    def send_latest(self, group: str, key: Any, message: dict[str, Any]) -> None:
        """Queue a message that only says how something is now (`key` names the something):
        while an earlier one of the same key waits in the queue, it takes that one's place
        instead of queueing another, so a burst of changes costs one send."""
        loop = self._running_loop()
        assert self._queue is not None
        with self._lock:
            waiting = key in self._latest
            self._latest[key] = message
        if not waiting:
            loop.call_soon_threadsafe(self._queue.put_nowait, (group, None, key))

    def send_merged(
        self,
        group: str,
        key: Any,
        message: dict[str, Any],
        merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
        hold: float,
    ) -> None:
        """Queue a message that later ones of the same `key` may join: while one of `key`
        waits to be sent, `merge(waiting, message)` takes its place. One that comes within
        `hold` seconds of the last send of its key waits out the rest of that time,
        gathering what follows: a lone message goes at once, a steady stream costs one
        send per `hold` seconds instead of one per message."""
        loop = self._running_loop()
        with self._lock:
            waiting = key in self._latest
            self._latest[key] = merge(self._latest[key], message) if waiting else message
            if waiting:
                return
            delay = self._sent_at.get(key, -hold) + hold - time.monotonic()
        loop.call_soon_threadsafe(self._enqueue, (group, None, key), delay)

    def _enqueue(self, item: tuple[str, dict[str, Any] | None, Any], delay: float) -> None:
        """Put a keyed message in the queue now, or once `delay` seconds have passed."""
        assert self._queue is not None and self._loop is not None
        if delay <= 0:
            self._queue.put_nowait(item)
            return
        self._held += 1

        def put() -> None:
            self._held -= 1
            self._enqueue(item, 0)

        self._loop.call_later(delay, put)

    async def _drained(self) -> None:
        """Return once nothing is held back and every queued message is sent."""
        assert self._queue is not None
        while self._held:
            await asyncio.sleep(0.01)
        await self._queue.join()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued message has been handed to the channel layer."""
        if self._loop is None or self._queue is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._drained(), self._loop)
        try:
            done.result(timeout)
        except Exception:
            log.warning("broadcast queue not drained within %s s", timeout)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(ready,), name="hbsite-broadcast", daemon=True
                )
                thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop, self._queue = loop, asyncio.Queue()
        ready.set()
        loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        assert self._queue is not None
        layer = own_channel_layer()
        while True:
            group, message, key = await self._queue.get()
            if message is None:
                with self._lock:
                    message = self._latest.pop(key)
                    self._sent_at[key] = now = time.monotonic()
                    if len(self._sent_at) > MAX_SENT_AT:
                        self._sent_at = {k: at for k, at in self._sent_at.items() if at > now - 1}
            try:
                if layer is not None:
                    await layer.group_send(group, message)
            except Exception:
                log.exception("could not publish to %s", group)
            finally:
                self._queue.task_done()


def own_channel_layer() -> Any:
    """Return a new instance of the default channel layer, or None when none is configured.

    The process-wide `get_channel_layer()` instance serves the event loop of whoever uses it
    (an ASGI server, a test); its receive locks belong to one loop, so this thread's loop
    sends through an instance of its own.
    """
    if DEFAULT_CHANNEL_LAYER not in channel_layers:
        return None
    try:
        return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    except Exception:
        log.exception("no channel layer: live updates are off")
        return None


broadcaster = Broadcaster()
send = broadcaster.send
send_latest = broadcaster.send_latest
send_merged = broadcaster.send_merged
flush = broadcaster.flush
atexit.register(flush)
