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
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

log = logging.getLogger(__name__)


class Broadcaster:
    """One event loop thread that sends group messages in the order they were queued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, dict[str, Any] | None, Any]] | None = None
        self._latest: dict[Any, dict[str, Any]] = {}  # a state message not sent yet, by key

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

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued message has been handed to the channel layer."""
        if self._loop is None or self._queue is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._queue.join(), self._loop)
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
flush = broadcaster.flush
atexit.register(flush)
