"""The web server's lifespan: at start-up every view is loaded and what is alive is frozen
out of the garbage collector's walks; importing the ASGI app alone freezes nothing."""

from __future__ import annotations

import asyncio
import gc
import sys

from django.urls import get_resolver

from hbsite import asgi


def test_importing_the_app_freezes_nothing():
    assert asgi.application is not None
    assert gc.get_freeze_count() == 0


def test_the_lifespan_loads_every_view_then_freezes():
    sent: list[dict] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    try:
        asyncio.run(asgi.application({"type": "lifespan"}, receive, send))
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert "url_patterns" in get_resolver().__dict__  # every view module is imported
    assert "frontend.views_compare" in sys.modules
    assert frozen > 10_000
