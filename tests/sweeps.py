"""Sweep YAML for the tests and benchmarks, and a sweep advanced without Celery.

`sweep_yaml` writes the one Polyaxon group layout every test sweep shares; `hyperband_yaml`,
`search_yaml` and `tiny_yaml` fill in its algorithm section and defaults. The tests that pin
error positions find them in the text with `position`, so the layout may change.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from scheduler import metrics, sweeps, tasks
from scheduler.models import Sweep, Trial

UNIFORM_X = {"x": "uniform: [0, 1]"}  # the matrix of quadratic.py


def quadratic(*flags: str, steps: str = "num_steps") -> str:
    """Run tests/scripts/quadratic.py (loss = (x - 0.3)² + 1/steps) with extra flags."""
    script = "python tests/scripts/quadratic.py --x={{ x }}"
    return " ".join([script, f"--steps={{{{ {steps} }}}}", *flags])


def report_lr(sleep: float = 0) -> str:
    """A trial that reports loss = lr once, at its last step, after `sleep` seconds."""
    nap = f"import time; time.sleep({sleep}); " if sleep else ""
    report = "hbclient.report(step={{ num_steps }}, loss={{ lr }})"
    return f'python -c "{nap}import hbclient; {report}"'


def sweep_yaml(
    algorithm: str,
    *,
    name: str | None = None,
    declarations: str | None = None,
    concurrency: int = 8,
    seed: int = 1,
    matrix: Mapping[str, str] = UNIFORM_X,
    early_stopping: float | None = None,
    workdir: str | None = ".",
    cmd: str = quadratic(),
    timeout: int | None = None,
) -> str:
    """Return a group sweep: `algorithm` is its hptuning section, indented by two spaces.

    `matrix` maps each param to its distribution ("uniform: [0, 1]"); `early_stopping` stops
    the whole sweep once a trial's loss is at or below it; `cmd` is one line.
    """
    lines = ["version: 1", "kind: group"]
    if name is not None:
        lines.append(f"name: {name}")
    if declarations is not None:
        lines.append(f"declarations: {declarations}")
    lines += ["hptuning:", f"  concurrency: {concurrency}", f"  seed: {seed}", algorithm]
    lines += ["  matrix:", *(f"    {param}: {{{dist}}}" for param, dist in matrix.items())]
    if early_stopping is not None:
        rule = f"{{metric: loss, value: {early_stopping}, optimization: minimize}}"
        lines += ["  early_stopping:", f"    - {rule}"]
    lines.append("run:")
    if workdir is not None:
        lines.append(f"  workdir: {workdir}")
    lines += ["  cmd: >-", f"    {cmd}"]
    if timeout is not None:
        lines.append(f"  timeout: {timeout}")
    return "\n".join(lines) + "\n"


def hyperband_yaml(max_iter: int = 81, eta: int = 3, resume: bool = False, **rest) -> str:
    """Return a Hyperband sweep over `num_steps` minimizing loss; `rest` goes to `sweep_yaml`.

    The defaults, 81/3, plan 206 trials of 143 configs running quadratic.py over x.
    """
    algorithm = f"""\
  hyperband:
    max_iter: {max_iter}
    eta: {eta}
    resource: {{name: num_steps, type: int}}
    metric: {{name: loss, optimization: minimize}}
    resume: {str(resume).lower()}"""
    return sweep_yaml(algorithm, **rest)


def search_yaml(algorithm: str, *flags: str, **changes) -> str:
    """Return a random or grid search running quadratic.py (with `flags`) for 4 steps each."""
    search = {"declarations": "{steps: 4}", "concurrency": 4, "seed": 2}
    return sweep_yaml(f"  {algorithm}", cmd=quadratic(*flags, steps="steps"), **(search | changes))


def tiny_yaml(**changes) -> str:
    """Return the dashboard tests' sweep: 9/3 (22 trials) over lr and act, loss = lr."""
    tiny = {"name": "tiny", "max_iter": 9, "concurrency": 4, "seed": 7, "cmd": report_lr()}
    tiny["matrix"] = {"lr": "uniform: [0.01, 1]", "act": "values: [relu, tanh]"}
    return hyperband_yaml(**(tiny | changes))


def position(text: str, fragment: str) -> tuple[int, int]:
    """Return the 1-based line and column where `fragment`, found once in `text`, starts."""
    assert text.count(fragment) == 1, f"{fragment!r} is not in the text exactly once"
    before = text[: text.index(fragment)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def started_sweep(team, owner=None, text: str | None = None) -> Sweep:
    """Create a sweep and take its first scheduling step in-process (trials, queue)."""
    with transaction.atomic():
        sweep = sweeps.create_sweep(text or tiny_yaml(), team=team, owner=owner)
        tasks.advance(sweep.pk)
    return Sweep.objects.get(pk=sweep.pk)


def finish_rung(sweep: Sweep, bracket: int, rung: int, points: int = 3) -> list[Trial]:
    """Run a rung's trials: record their metric points (the last is loss = lr), mark them
    succeeded, and take a scheduling step."""
    rows = sweep.trials.filter(bracket=bracket, rung=rung).select_related("config", "sweep")
    trials = list(rows)
    rows.update(status="running")  # points count only from a running trial
    for trial in trials:
        loss = float(trial.config.params["lr"])
        metrics.record(
            trial, [metrics.Point("loss", s + 1, loss * (points - s)) for s in range(points)]
        )
        Trial.objects.filter(pk=trial.pk).update(
            status="succeeded", started_at=timezone.now(), finished_at=timezone.now()
        )
    tasks.advance(sweep.pk)
    return trials
