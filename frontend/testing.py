"""Sweeps for the dashboard's tests: YAML templates and a sweep advanced without Celery."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from scheduler import engine
from scheduler.models import MetricPoint, Sweep, Trial


def sweep_yaml(
    max_iter: int = 9,
    eta: int = 3,
    concurrency: int = 4,
    cmd: str = 'python -c "import hbclient; hbclient.report(step={{ num_steps }}, loss={{ lr }})"',
    early_stopping: str = "",
    name: str = "tiny",
) -> str:
    """Return a small, valid Hyperband sweep (22 trials for max_iter=9, eta=3)."""
    return f"""\
version: 1
kind: group
name: {name}
hptuning:
  concurrency: {concurrency}
  seed: 7
  hyperband:
    max_iter: {max_iter}
    eta: {eta}
    resource:
      name: num_steps
      type: int
    metric:
      name: loss
      optimization: minimize
    resume: false
  matrix:
    lr:
      uniform: [0.01, 1]
    act:
      values: [relu, tanh]
{early_stopping}run:
  workdir: "."
  cmd: '{cmd.replace("'", "''")}'
"""


def started_sweep(team, owner=None, text: str | None = None) -> Sweep:
    """Create a sweep and take its first scheduling step in-process (trials, queue)."""
    with transaction.atomic():
        sweep = engine.create_sweep(text or sweep_yaml(), team=team, owner=owner)
        engine.advance(sweep.pk)
    return Sweep.objects.get(pk=sweep.pk)


def finish_rung(sweep: Sweep, bracket: int, rung: int, points: int = 3) -> list[Trial]:
    """Mark a rung's trials succeeded with loss = lr, add metric points, then advance."""
    trials = list(sweep.trials.filter(bracket=bracket, rung=rung).select_related("config"))
    for trial in trials:
        loss = float(trial.config.params["lr"])
        MetricPoint.objects.bulk_create(
            MetricPoint(trial=trial, name="loss", step=s + 1, value=loss * (points - s))
            for s in range(points)
        )
        Trial.objects.filter(pk=trial.pk).update(
            status="succeeded",
            metric_value=loss,
            last_metrics={"loss": loss},
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
    engine.advance(sweep.pk)
    return trials
