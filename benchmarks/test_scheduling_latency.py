"""Benchmark: how soon a runnable trial's process starts once a slot is free, hop by hop.

Runs the 81/3 no-op sweep (206 trials, concurrency 8). Each trial's command prints the
wall-clock time at which its shell started (`spawned`) as a metric. For every trial started
after the first `concurrency`, the slot it takes became free when the (k - concurrency)-th
trial finished; a promoted trial only became runnable when the last trial of its parent's
rung finished. Its scheduling latency is spawned - max(slot free, runnable).

The hops from one trial's end to the next one's start, each a median over the sweep:
  exit -> finished   the command's end to the runner's committed finish (exit detection,
                     output drained, metrics stored, the finish transaction)
  finished -> queued the advance task's delivery and the scheduling step that queues a trial
  queued -> claimed  the run_trial task's delivery and the claim transaction
  claimed -> spawned the supervisor and the trial's shell starting
Run with `make benchmark`; asserts only that the sweep succeeded.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

import psutil
import pytest

from benchmarks.goals import distribution, percentile, verdict
from scheduler import sweeps
from scheduler.models import Sweep
from tests.conftest import WORKERS, wait_for
from tests.sweeps import hyperband_yaml

pytestmark = pytest.mark.django_db(transaction=True)

STAMPED = (
    'T=$(date +%s.%N); echo "{\\"hbsite.metrics\\": {\\"loss\\": {{ x }}, '
    '\\"spawned\\": $T, \\"exited\\": $(date +%s.%N)}}"'
)
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def seconds(moment) -> float:
    return moment.timestamp()


def cpu_seconds() -> dict[str, float]:
    """Return the CPU seconds used so far by the Celery workers, by the trials' processes (each
    worker's spawner, with the supervisors and commands it reaped) and by PostgreSQL."""
    used = {"workers": 0.0, "trial processes": 0.0, "PostgreSQL": 0.0}
    for proc in list(WORKERS.values()):
        with contextlib.suppress(psutil.Error):
            worker = psutil.Process(proc.pid)
            times = worker.cpu_times()
            used["workers"] += times.user + times.system
            for child in worker.children():
                t = child.cpu_times()
                used["trial processes"] += t.user + t.system + t.children_user + t.children_system
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                used["PostgreSQL"] += times.user + times.system
    return used


def measure(team) -> dict[str, list[float]]:
    """Run the sweep once; return its wall time, each hop's samples and the CPU per trial of
    each part (all in ms)."""
    cpu_before = cpu_seconds()
    started = time.monotonic()
    sweep = sweeps.create_sweep(hyperband_yaml(cmd=STAMPED), team=team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=600, every=0.02)
    wall = time.monotonic() - started
    cpu = {part: used - cpu_before[part] for part, used in cpu_seconds().items()}
    sweep = Sweep.objects.get(pk=sweep.pk)
    trials = list(sweep.trials.all())
    assert sweep.status == "succeeded" and len(trials) == 206
    concurrency = sweep.concurrency
    rung_done: dict[tuple[int, int], float] = {}
    for t in trials:
        key = (t.bracket, t.rung)
        rung_done[key] = max(rung_done.get(key, 0.0), seconds(t.finished_at))
    frees = sorted(seconds(t.finished_at) for t in trials)
    by_spawn = sorted(trials, key=lambda t: t.last_metrics["spawned"])
    ms = lambda a, b: 1000 * (b - a)  # noqa: E731
    latency = []
    for k, t in enumerate(by_spawn[concurrency:]):
        free = frees[k]
        runnable = rung_done[(t.bracket, t.rung - 1)] if t.rung else 0.0
        latency.append(ms(max(free, runnable), t.last_metrics["spawned"]))
    hops = {
        "exit -> finished": [ms(t.last_metrics["exited"], seconds(t.finished_at)) for t in trials],
        "finished -> queued": [
            ms(
                max(frees[k], rung_done[(t.bracket, t.rung - 1)] if t.rung else 0.0),
                seconds(t.queued_at),
            )
            for k, t in enumerate(sorted(trials, key=lambda t: t.queued_at)[concurrency:])
        ],  # fmt: skip
        "queued -> claimed": [ms(seconds(t.queued_at), seconds(t.started_at)) for t in trials],
        "claimed -> spawned": [
            ms(seconds(t.started_at), t.last_metrics["spawned"]) for t in trials
        ],
    }
    units = sum(t.resource for t in trials)
    per_trial = {f"CPU {part}": [1000 * used / len(trials)] for part, used in cpu.items()}
    return {"wall": [wall], "latency": latency, **hops, "units": [units], **per_trial}


def report(layout: str, runs: list[dict[str, list[float]]]) -> None:
    print(f"\n\nscheduling latency, 81/3 no-op sweep, concurrency 8, {RUNS} runs; {layout}")
    walls = [run["wall"][0] for run in runs]
    print(f"wall per run: {', '.join(f'{w:.2f} s' for w in walls)}")
    overhead = [1000 * w * 8 / 206 for w in walls]
    print(verdict("no-op 81/3 sweep wall (median of runs)", statistics.median(walls), 2.5, "s"))
    print(verdict("slot time per trial, no-op (median of runs)", statistics.median(overhead),
                  50, "ms"))  # fmt: skip
    for hop in ("exit -> finished", "finished -> queued", "queued -> claimed",
                "claimed -> spawned"):  # fmt: skip
        medians = [statistics.median(run[hop]) for run in runs]
        print(f"hop {hop:20}: median per run {', '.join(f'{m:.1f}' for m in medians)} ms")
    for part in ("workers", "trial processes", "PostgreSQL"):
        used = [run[f"CPU {part}"][0] for run in runs]
        print(f"CPU per trial, {part:16}: per run {', '.join(f'{u:.1f}' for u in used)} ms")
    latency = [x for run in runs for x in run["latency"]]
    print("slot free -> process spawned:", distribution(latency))
    print(verdict("scheduling latency median", statistics.median(latency), 20, "ms"))
    print(verdict("scheduling latency p99", percentile(latency, 0.99), 100, "ms"))
    assert len(latency) == RUNS * (206 - 8)


def test_scheduling_latency_one_worker(celery_worker, cast):
    """The test suite's worker: one process, 8 threads, both queues."""
    report("one worker, 8 threads, both queues", [measure(cast.team) for _ in range(RUNS)])


def test_scheduling_latency_as_deployed(main_worker, start_worker, cast):
    """As supervisord runs it: a scheduler worker (2 threads) and a runner (8 threads)."""
    main_worker.stop()
    start_worker("scheduler", 2, "bench-scheduler")
    start_worker("trials", 8, "bench-runner")
    layout = "scheduler worker (2 threads) + runner worker (8 threads)"
    report(layout, [measure(cast.team) for _ in range(RUNS)])
