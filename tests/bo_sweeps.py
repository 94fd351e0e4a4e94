"""Bayesian-optimization sweeps for the tests: YAML and a trial finished in-process."""

from __future__ import annotations

from django.utils import timezone

from scheduler import metrics, tasks
from scheduler.models import Trial
from tests.sweeps import sweep_yaml

QUADRATIC_LOSS = "python tests/scripts/quadratic.py --x={{ x }} --steps=4"


def bo_yaml(initial: int = 3, iterations: int = 3, concurrency: int = 2, **changes) -> str:
    """Return a bo sweep over x in [0, 1] minimizing quadratic.py's loss (ucb, kappa 2)."""
    algorithm = f"""\
  bo:
    n_initial_trials: {initial}
    n_iterations: {iterations}
    metric: {{name: loss, optimization: minimize}}
    utility_function:
      acquisition_function: ucb
      kappa: 2.0
      n_warmup: 500
      n_iter: 5
      gaussian_process: {{kernel: matern, length_scale: 1.0, nu: 2.5}}"""
    rest = {"concurrency": concurrency, "cmd": QUADRATIC_LOSS} | changes
    return sweep_yaml(algorithm, **rest)


def finish(trial: Trial, loss: float | None) -> None:
    """Record `loss` (if any) as the trial's last point, mark it succeeded, take a step."""
    Trial.objects.filter(pk=trial.pk).update(status="running")
    trial.refresh_from_db()
    if loss is not None:
        metrics.record(trial, [metrics.Point("loss", 1, loss)])
    now = timezone.now()
    Trial.objects.filter(pk=trial.pk).update(status="succeeded", started_at=now, finished_at=now)
    tasks.advance(trial.sweep_id)
