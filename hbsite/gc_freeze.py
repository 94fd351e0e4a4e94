"""The web server keeps what it loaded at start-up out of the garbage collector's full walks.

A full (generation 2) collection walks every tracked object and every thread of the process
waits for it. In the web process, with Django, Channels and 100 dashboard sockets, such pauses
took about 100 ms and made the live push's 99th percentile (`make benchmark`,
test_live_push.py: p99 105-125 ms before, 39-43 ms with every view loaded and frozen at
start-up). `gc.freeze()` moves every object alive at that moment into a permanent generation
that collections skip (https://docs.python.org/3/library/gc.html#gc.freeze); those objects
were alive anyway, and whatever is made later is collected as before.

`lifespan` is the ASGI lifespan application (https://asgi.readthedocs.io/en/latest/specs/lifespan.html)
that does it when the server starts, so importing `hbsite.asgi` elsewhere (a test, a shell)
freezes nothing.
"""

from __future__ import annotations

import gc
from typing import Any


def load_and_freeze() -> None:
    """Import every view (through the URLconf), collect once, then exempt every object alive
    now from later collections."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports each view module
    gc.collect()
    gc.freeze()


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer the server's lifespan messages; freeze what is loaded at start-up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            load_and_freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
