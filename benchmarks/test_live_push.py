"""Benchmark: a metric point stored -> the websocket message at each of 100 connected clients.

100 signed-in websocket clients follow one sweep through the real ASGI server (uvicorn,
Redis channel layer). One point at a time is posted as the trial, 0.6 s apart (a socket
sends at most two metric messages a second, the first after a quiet spell at once), after
two that are not counted (the server's first sends open its connections). Latency per
client is the message's arrival minus the point's `created_at` (set as it is stored, before
its transaction commits, so the figure is an upper bound). Run with `make benchmark`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import urllib.parse
from collections import defaultdict

import pytest
import websockets
from django.conf import settings

from benchmarks.goals import distribution, percentile, verdict
from benchmarks.posting import Client
from scheduler.models import MetricPoint
from tests.test_api_metrics import running_trial
from tests.test_api_sweeps import make_sweep
from tests.test_consumers import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 100
POINTS = 40
WARMUP = 2  # points posted first and not counted: the server's first sends open connections
GAP_SECONDS = 0.6


async def follow(url: str, headers: dict[str, str], post) -> dict[float, list[float]]:
    """Connect the clients, post POINTS points; return each step's arrival times."""
    arrivals: dict[float, list[float]] = defaultdict(list)
    sockets = [await websockets.connect(url, additional_headers=headers) for _ in range(CLIENTS)]

    async def listen(socket) -> None:
        async for raw in socket:
            now = time.time()
            message = json.loads(raw)
            if message.get("type") != "metrics":
                continue
            for series in message["trials"].values():
                for step, _value in series.get("live", []):
                    arrivals[step].append(now)

    listeners = [asyncio.create_task(listen(socket)) for socket in sockets]
    await asyncio.sleep(1.0)  # every socket has joined the sweep's group
    for step in range(-WARMUP, POINTS):
        await asyncio.to_thread(post, step)
        await asyncio.sleep(GAP_SECONDS)
    await asyncio.sleep(1.0)
    for task in listeners:
        task.cancel()
    for socket in sockets:
        await socket.close()
    return arrivals


def test_live_push_latency(asgi_server, cast):
    sweep = make_sweep(cast.team, cast.admin)
    trial, token = running_trial(sweep)
    poster = Client(asgi_server, trial.pk, token)
    _, cookie = session_cookie(cast.viewer)
    base = urllib.parse.urlsplit(asgi_server)
    url = f"ws://{base.netloc}/ws/sweeps/{sweep.pk}/"
    headers = {"Cookie": cookie.decode(), "Origin": asgi_server}

    def post(step: int) -> None:
        poster.post({"name": "live", "value": 0.5, "step": step})

    # The 100 clients share this process: its own garbage collections (a full one walks the
    # whole test session) would delay every arrival at once and count as the server's.
    gc.collect()
    gc.freeze()
    try:
        arrivals = asyncio.run(follow(url, headers, post))
    finally:
        gc.unfreeze()
    stored = dict(MetricPoint.objects.filter(trial=trial, name="live")
                  .values_list("step", "created_at"))  # fmt: skip
    latencies = [1000 * (t - stored[step].timestamp()) for step, times in arrivals.items()
                 if step >= 0 for t in times]  # fmt: skip
    print(
        f"\n\nlive push, {CLIENTS} clients, {POINTS} points {GAP_SECONDS} s apart "
        f"(channel layer {settings.CHANNEL_LAYERS['default']['BACKEND'].split('.')[-1]})"
    )
    print("point stored -> message at client:", distribution(latencies))
    print(verdict("live push median", statistics.median(latencies), 10, "ms"))
    print(verdict("live push p99", percentile(latencies, 0.99), 50, "ms"))
    by_point = {step: statistics.median(1000 * (t - stored[step].timestamp()) for t in times)
                for step, times in arrivals.items() if step >= 0}  # fmt: skip
    slowest = sorted(by_point.items(), key=lambda item: -item[1])[:3]
    print("slowest points (median over clients):",
          ", ".join(f"#{int(step)} {ms:.1f} ms" for step, ms in slowest))  # fmt: skip
    delivered = sum(len(times) for step, times in arrivals.items() if step >= 0)
    print(f"messages: {delivered:,} of {CLIENTS * POINTS:,} (client x point)")
    assert len(stored) == WARMUP + POINTS and delivered >= 0.9 * CLIENTS * POINTS
