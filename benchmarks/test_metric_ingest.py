"""Benchmark: latency of a metric POST to the real ASGI server (psycopg 3 connection pool).

Run with `make benchmark`; prints the median and 95th percentile of 300 single-point POSTs
and of 30 batches of 100 points.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request

import pytest

from scheduler.models import MetricPoint
from tests.test_api_metrics import running_trial
from tests.test_api_sweeps import make_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def post(url: str, token: str, body: dict) -> float:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Trial {token}"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def describe(label: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    return f"{label}: median {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def test_metric_post_latency(asgi_server, cast):
    trial, token = running_trial(make_sweep(cast.team, cast.admin))
    url = f"{asgi_server}/api/trials/{trial.pk}/metrics/"
    for step in range(20):  # warm the server's connection pool
        post(url, token, {"name": "warmup", "value": 1.0, "step": step})

    singles = [
        post(url, token, {"name": "loss", "value": 1 / (s + 1), "step": s}) for s in range(300)
    ]
    batch = [{"name": "acc", "value": s / 100, "step": s} for s in range(100)]
    batches = [post(url, token, {"points": batch}) for _ in range(30)]

    assert MetricPoint.objects.filter(trial=trial, name="loss").count() == 300
    assert MetricPoint.objects.filter(trial=trial, name="acc").count() == 3000
    print("\n" + describe("single-point POST", singles))
    print(describe("100-point batch POST", batches))
