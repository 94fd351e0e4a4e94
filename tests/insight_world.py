"""Sweeps with finished trials written straight to the database, for importance and compare.

`loss = (log10(lr) + 4)² + 0.5 if act == "tanh"`: lr matters most, act a little, noise not at
all, so an importance that works ranks them lr > act > noise.
"""

from __future__ import annotations

import math
import random
from unittest import mock

from django.utils import timezone

from scheduler import broadcast, sweeps
from scheduler.models import Config, Sweep, Trial
from tests.sweeps import hyperband_yaml

MATRIX = {"lr": "loguniform: [-9, 0]", "act": "values: [relu, tanh]", "noise": "uniform: [0, 1]"}


def insight_yaml(name: str = "insight") -> str:
    cmd = "python -c 'print({{ lr }}, {{ act }}, {{ noise }}, {{ num_steps }})'"
    return hyperband_yaml(name=name, max_iter=9, eta=3, concurrency=2, matrix=MATRIX, cmd=cmd)


def make_sweep(team, owner, name: str = "insight") -> Sweep:
    """Create a sweep whose scheduling step is never sent (the tests write its trials)."""
    with mock.patch("scheduler.queueing.request_step"):
        sweep = sweeps.create_sweep(insight_yaml(name), team=team, owner=owner)
    broadcast.flush()
    return sweep


def loss(params: dict) -> float:
    return (math.log10(params["lr"]) + 4) ** 2 + (0.5 if params["act"] == "tanh" else 0.0)


def add_trials(sweep: Sweep, n: int, resource: float, seed: int = 0, **extra) -> list[Trial]:
    """Add n succeeded trials at one resource, each with its own config and a loss curve."""
    rng = random.Random(seed)
    made = []
    for _ in range(n):
        params = {"lr": math.exp(rng.uniform(-9, 0)), "act": rng.choice(["relu", "tanh"]),
                  "noise": rng.uniform(0, 1)}  # fmt: skip
        made.append(add_trial(sweep, params, loss(params), resource, **extra))
    return made


def add_trial(sweep, params, value, resource, status="succeeded", bracket=0, rung=0) -> Trial:
    config = Config.objects.create(
        sweep=sweep, bracket=bracket, index=sweep.configs.count(), params=params
    )
    now = timezone.now()
    return Trial.objects.create(
        sweep=sweep, config=config, bracket=bracket, rung=rung, resource=resource,
        status=status, metric_value=value, attempt=1, started_at=now, finished_at=now,
    )  # fmt: skip
