"""Benchmark: metric ingestion through the real ASGI server and through a runner's stdout.

Prints, each next to issue 13's goal:
- the median and 95th percentile latency of single-point and 100-point POSTs;
- points/s through batched HTTP posts (2 clients, batches of 5,000 points);
- single-point posts/s from 8 concurrent clients (each connected and past its first posts
  before the clock starts), and their latency;
- points/s through the stdout path of one runner (one trial printing 200,000 lines).
Each run counts what was stored: none lost, none doubled. Run with `make benchmark`.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest
from django.db.models import Count

from benchmarks.goals import verdict
from benchmarks.posting import Client
from scheduler import sweeps
from scheduler.models import MetricPoint, Sweep
from tests.conftest import wait_for
from tests.sweeps import sweep_yaml
from tests.test_api_metrics import running_trial
from tests.test_api_sweeps import make_sweep

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 5000
STDOUT_LINES = 200_000


def describe(label: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    return f"{label}: median {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def in_threads(count: int, work) -> float:
    """Run work(i) on `count` threads at once; return the wall time in seconds."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def stored_exactly(trial, name: str, expected: int) -> None:
    """Assert `expected` points of `name` are stored, each step once."""
    points = MetricPoint.objects.filter(trial=trial, name=name)
    total = points.count()
    doubled = points.values("step").annotate(n=Count("id")).filter(n__gt=1).count()
    print(f"  {name}: {total:,} stored of {expected:,} sent; steps stored twice: {doubled}")
    assert total == expected and doubled == 0


def test_metric_post_latency_and_throughput(asgi_server, cast):
    trial, token = running_trial(make_sweep(cast.team, cast.admin))
    client = Client(asgi_server, trial.pk, token)
    for step in range(20):  # warm the server's connection pool
        client.post({"name": "warmup", "value": 1.0, "step": step})

    singles = [client.post({"name": "loss", "value": 1 / (s + 1), "step": s}) for s in range(300)]
    batch = [{"name": "acc", "value": s / 100, "step": s} for s in range(100)]
    batches = [client.post({"points": [{**p, "step": p["step"] + 100 * b} for p in batch]})
               for b in range(30)]  # fmt: skip
    print("\n" + describe("single-point POST", singles))
    print(describe("100-point batch POST", batches))
    stored_exactly(trial, "loss", 300)
    stored_exactly(trial, "acc", 3000)

    clients, rounds = 2, 10

    def batched(i: int) -> None:
        poster = Client(asgi_server, trial.pk, token)
        for r in range(rounds):
            first = (i * rounds + r) * BATCH
            poster.post({"points": [{"name": "batched", "value": 0.5, "step": first + k}
                                    for k in range(BATCH)]})  # fmt: skip

    wall = in_threads(clients, batched)
    sent = clients * rounds * BATCH
    print(verdict(f"batched HTTP ({clients} clients, {BATCH:,}-point batches)", sent / wall,
                  50_000, "points/s", at_least=True))  # fmt: skip
    stored_exactly(trial, "batched", sent)

    per_client, warmup = 1000, 5
    clients = [Client(asgi_server, trial.pk, token) for _ in range(8)]
    for i, poster in enumerate(clients):  # each connection open and the trial's row cached
        for k in range(warmup):
            poster.post({"name": "single", "value": 0.5, "step": i * per_client + k})
    latencies: list[list[float]] = [[] for _ in clients]

    def single(i: int) -> None:
        for k in range(warmup, per_client):
            step = i * per_client + k
            latencies[i].append(clients[i].post({"name": "single", "value": 0.5, "step": step}))

    wall = in_threads(len(clients), single)
    timed = len(clients) * (per_client - warmup)
    print(verdict(f"single-point posts, {len(clients)} concurrent clients", timed / wall,
                  2_000, "posts/s", at_least=True))  # fmt: skip
    print("  " + describe("their latency", [t for each in latencies for t in each]))
    stored_exactly(trial, "single", len(clients) * per_client)


def test_stdout_ingestion_of_one_runner(celery_worker, cast):
    command = f"python benchmarks/print_points.py {STDOUT_LINES}"
    text = sweep_yaml("  random_search: {n_experiments: 1}", concurrency=1, cmd=command)
    sweep = sweeps.create_sweep(text, team=cast.team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=600, every=0.05)
    trial = Sweep.objects.get(pk=sweep.pk).trials.get()
    assert trial.status == "succeeded", trial.error
    seconds = (trial.finished_at - trial.started_at).total_seconds()
    print(
        f"\none trial printing {STDOUT_LINES:,} metric lines: started -> finished {seconds:.2f} s"
    )
    print(verdict("stdout path of one runner", STDOUT_LINES / seconds, 100_000, "points/s",
                  at_least=True))  # fmt: skip
    stored_exactly(trial, "v", STDOUT_LINES)
    assert trial.rejected_points == 0
