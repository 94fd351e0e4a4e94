"""Benchmark: wall time of the 81/3 sweep and the scheduler's overhead per trial.

Run with `make benchmark`; prints its figures, asserts only that the sweeps succeeded.
"""

from __future__ import annotations

import statistics
import time

import pytest

from benchmarks.goals import verdict
from scheduler import sweeps
from scheduler.models import Sweep
from tests.conftest import wait_for
from tests.sweeps import hyperband_yaml, quadratic

pytestmark = pytest.mark.django_db(transaction=True)

NOOP = 'echo \'{"hbsite.metrics": {"loss": {{ x }}}}\''


def run(cmd: str, team) -> tuple[float, Sweep]:
    started = time.monotonic()
    sweep = sweeps.create_sweep(hyperband_yaml(cmd=cmd), team=team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=600, every=0.05)
    return time.monotonic() - started, Sweep.objects.get(pk=sweep.pk)


def report(label: str, wall: float, sweep: Sweep) -> None:
    trials = list(sweep.trials.all())
    assert sweep.status == "succeeded" and len(trials) == 206
    waits = [(t.started_at - t.queued_at).total_seconds() for t in trials]
    runs = [(t.finished_at - t.started_at).total_seconds() for t in trials]
    slot = wall * sweep.concurrency / len(trials)
    print(
        f"\n{label}: 206 trials, concurrency {sweep.concurrency}: wall {wall:.1f} s; "
        f"slot time per trial {slot * 1000:.0f} ms; queued->started median "
        f"{statistics.median(waits) * 1000:.0f} ms; started->finished median "
        f"{statistics.median(runs) * 1000:.0f} ms"
    )


def test_81_3_sweep_wall_time_and_overhead(celery_worker, cast):
    wall, sweep = run(NOOP, cast.team)
    report("no-op trials (scheduler overhead)", wall, sweep)
    print(verdict("no-op 81/3 sweep wall", wall, 2.5, "s"))
    wall, sweep = run(quadratic(), cast.team)
    report("python trials (quadratic.py)", wall, sweep)
