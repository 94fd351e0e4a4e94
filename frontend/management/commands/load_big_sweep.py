"""`manage.py load_big_sweep`: a large, half-finished Hyperband sweep for benchmarks.

The sweep is a real one (its YAML parses, its plan is Hyperband's, eta=3: max_iter=6561 by
default, nine brackets and 10,582 configs; `--max-iter 59049`, eleven brackets and 142,000
trials in all, holds the 100,000 trials of issue 13's dashboard goal) in the state a running
sweep reaches: every rung-0 trial exists (as
`advance` creates them), promotions have gone on rung by rung until `--trials` trials exist,
the biggest bracket's rung 0 is still running, and `--points` metric points are spread over
the trials that ran. Metric points and events go in with PostgreSQL COPY; the rest in bulk.
"""

from __future__ import annotations

import json
import math
import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from scheduler import access, metrics, numbering, planning, scheduling, stored
from scheduler.models import Config, Membership, RungDecision, Sweep, Team, Trial

YAML = """\
version: 1
kind: group
name: {name}
hptuning:
  concurrency: 64
  seed: 11
  hyperband:
    max_iter: {max_iter}
    eta: 3
    resource:
      name: num_steps
      type: int
    metric:
      name: loss
      optimization: minimize
    resume: true
  matrix:
    learning_rate:
      loguniform: [-9.2, 0]   # natural-log exponents: about 1e-4 to 1
    dropout:
      values: [0.1, 0.2, 0.3, 0.4, 0.5]
    activation:
      values: [relu, tanh, gelu]
    width:
      values: [64, 128, 256, 512]
run:
  cmd: >-
    python -m hbsite.examples.train_digits --learning-rate={{{{ learning_rate }}}}
    --epochs={{{{ num_steps }}}}
"""
RUNNING = 64  # trials of the biggest bracket's rung 0 that are running right now


def loss(params: dict[str, Any], step: float, rng: random.Random) -> float:
    """A plausible learning curve: better learning rates and more steps give a lower loss."""
    lr = math.log10(params["learning_rate"])
    floor = 0.05 + 0.08 * (lr + 2.0) ** 2 + 0.1 * abs(params["dropout"] - 0.3)
    return floor + 2.0 / math.sqrt(1.0 + step) + rng.gauss(0, 0.01)


class Command(BaseCommand):
    help = "Load a 10,000-trial, 1,000,000-point Hyperband sweep for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--trials", type=int, default=11_000, help="trials to create (>= 10,582)"
        )
        parser.add_argument("--points", type=int, default=1_000_000, help="metric points")
        parser.add_argument("--user", default="bench", help="owner (created if missing)")
        parser.add_argument("--name", default="big-sweep")
        parser.add_argument(
            "--max-iter", type=int, default=6561, help="the plan's max_iter (a power of 3)"
        )

    def handle(
        self, *args: Any, trials: int, points: int, user: str, name: str, max_iter: int, **_: Any
    ):
        started = time.monotonic()
        owner = bench_user(user)
        sweep = load(owner, trials, points, name, max_iter)
        seconds = time.monotonic() - started
        count = sweep.trials.count()
        self.stdout.write(
            f"sweep {sweep.pk}: {count} trials, {points} metric points, "
            f"{sweep.last_seq} events in {seconds:.1f} s (user {owner.get_username()})"
        )


def bench_user(username: str):
    """Return the owner, created with password `pw-<name>-123` and a team if missing."""
    users = get_user_model().objects
    owner = users.filter(username=username).first()
    if owner is None:
        owner = users.create_user(username, password=f"pw-{username}-123")
    if not Membership.objects.filter(user=owner).exists():
        team = Team.objects.create(name="Benchmarks")
        Membership.objects.create(team=team, user=owner, role=access.ADMIN)
    return owner


@transaction.atomic
def load(owner, n_trials: int, n_points: int, name: str, max_iter: int) -> Sweep:
    """Create the sweep, its configs and trials, decisions, points and events."""
    rng = random.Random(11)
    text = YAML.format(name=name, max_iter=max_iter)
    spec = stored.parse(text)
    team = access.teams_of(owner, access.MEMBER).first()
    now = timezone.now()
    sweep = Sweep.objects.create(
        team=team, owner=owner, name=name, yaml=text, spec=spec.to_dict(),
        plan=planning.plan_dict(spec), algorithm=spec.algorithm, concurrency=spec.concurrency,
        seed=11, status="running", created_at=now - timedelta(hours=3),
        started_at=now - timedelta(hours=3),
    )  # fmt: skip
    rows = build_trials(sweep, spec, rng, n_trials, now)
    copy_points(rows, n_points, rng, now)
    copy_events(sweep, rows, now)
    return sweep


def build_trials(sweep: Sweep, spec, rng, n_trials: int, now) -> list[Trial]:
    """Create rung 0 of every bracket, then whole rungs in order until n_trials exist."""
    brackets = {b["s"]: b["rungs"] for b in sweep.plan["brackets"]}
    all_trials: list[Trial] = []
    for s, rungs in brackets.items():
        params = scheduling.sample_configs(spec, sweep.seed, s, rungs[0]["configs"])
        configs = Config.objects.bulk_create(
            (Config(sweep=sweep, bracket=s, index=i, params=p) for i, p in enumerate(params)),
            batch_size=5000,
        )
        all_trials += make_rung(sweep, s, 0, rungs[0]["resource"], configs, None, rng, now)
    Trial.objects.bulk_create(numbering.numbered(sweep, all_trials), batch_size=5000)
    grown = {s: 0 for s in brackets}  # the highest rung created per bracket
    for i in range(1, max(len(r) for r in brackets.values())):
        for s in sorted(brackets):
            if i >= len(brackets[s]) or grown[s] != i - 1:
                continue
            if len(all_trials) + brackets[s][i]["configs"] > n_trials:
                continue
            all_trials += promote(sweep, s, i - 1, brackets[s][i], all_trials, rng, now)
            grown[s] = i
    mark_in_progress(all_trials, grown, brackets, rng)
    return all_trials


def make_rung(sweep, s, i, resource, configs, parents, rng, now) -> list[Trial]:
    out = []
    for k, config in enumerate(configs):
        value = loss(config.params, resource, rng)
        finished = now - timedelta(seconds=rng.uniform(60, 10_000) / (i + 1))
        out.append(
            Trial(
                sweep=sweep, config=config, bracket=s, rung=i, resource=resource,
                parent=parents[k] if parents else None, status="succeeded", attempt=1,
                metric_value=value, last_metrics={"loss": value},
                started_at=finished - timedelta(seconds=resource / 20 + 1),
                finished_at=finished, created_at=finished - timedelta(seconds=resource / 20 + 5),
            )
        )  # fmt: skip
    return out


def promote(sweep, s, i, next_rung, all_trials, rng, now) -> list[Trial]:
    """Promote the best of rung i of bracket s and record the decision."""
    here = [t for t in all_trials if t.bracket == s and t.rung == i]
    winners = sorted(here, key=lambda t: (t.metric_value, t.pk))[: next_rung["configs"]]
    Trial.objects.filter(pk__in=[t.pk for t in winners]).update(promoted=True)
    for t in winners:
        t.promoted = True
    cutoff = max((t.metric_value for t in winners), default=None)
    RungDecision.objects.create(
        sweep=sweep, bracket=s, rung=i, promoted=len(winners), cutoff=cutoff
    )
    configs = [t.config for t in winners]
    made = make_rung(sweep, s, i + 1, next_rung["resource"], configs, winners, rng, now)
    return Trial.objects.bulk_create(numbering.numbered(sweep, made), batch_size=5000)


def mark_in_progress(all_trials: list[Trial], grown: dict, brackets: dict, rng) -> None:
    """Leave the top rung reached by each unfinished bracket running: some running, some
    waiting, a few failed, as a live sweep would be."""
    changes: dict[str, list[int]] = {"running": [], "pending": [], "failed": []}
    for s, top in grown.items():
        if top == len(brackets[s]) - 1:
            continue
        here = [t for t in all_trials if t.bracket == s and t.rung == top]
        for k, trial in enumerate(here):
            roll = rng.random()
            if s == max(brackets) and k >= len(here) - RUNNING * 20:
                status = "running" if k < len(here) - RUNNING * 19 else "pending"
            else:
                status = "failed" if roll < 0.03 else "succeeded"
            if status != "succeeded":
                trial.status = status
                changes[status].append(trial.pk)
    for status, ids in changes.items():
        blank: dict[str, Any] = {"status": status}
        if status != "failed":
            blank.update(finished_at=None, metric_value=None, last_metrics={})
        if status == "pending":
            blank.update(started_at=None, attempt=0)
        Trial.objects.filter(pk__in=ids).update(**blank)


def copy_points(trials: list[Trial], n_points: int, rng, now) -> None:
    """COPY the metric points: evenly spaced steps up to each trial's resource."""
    ran = [t for t in trials if t.status != "pending"]
    per, extra = divmod(n_points, len(ran))
    with metrics.copy_rows() as write:
        for n, trial in enumerate(ran):
            count = per + (1 if n < extra else 0)
            for k in range(1, count + 1):
                step = trial.resource * k / count
                write((trial.pk, "loss", step, loss(trial.config.params, step, rng), now))


def copy_events(sweep: Sweep, trials: list[Trial], now) -> None:
    """COPY a plausible history: created, started, then each trial's start and end."""
    from scheduler.events import SWEEP_CREATED, SWEEP_STARTED, TRIAL_FINISHED, TRIAL_STARTED

    rows: list[tuple[str, dict[str, Any]]] = [
        (SWEEP_CREATED, {"name": sweep.name, "plan": {"total_trials": sweep.plan["total_trials"]}}),
        (SWEEP_STARTED, {"trials": sum(1 for t in trials if t.rung == 0)}),
    ]
    for trial in sorted(trials, key=lambda t: (t.started_at or now, t.pk)):
        base = {"trial": trial.pk, "config": trial.config_id, "bracket": trial.bracket,
                "rung": trial.rung, "attempt": 1, "resource": trial.resource}  # fmt: skip
        if trial.status == "pending":
            continue
        rows.append((TRIAL_STARTED, {**base, "status": "running"}))
        if trial.status in ("succeeded", "failed"):
            ended = {"status": trial.status, "metric_value": trial.metric_value, "error": ""}
            rows.append((TRIAL_FINISHED, {**base, **ended}))

    with connection.cursor() as cursor:
        sql = "COPY scheduler_event (sweep_id, seq, kind, payload, created_at) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for seq, (kind, payload) in enumerate(rows, 1):
                copy.write_row((sweep.pk, seq, kind, json.dumps(payload), now))
    Sweep.objects.filter(pk=sweep.pk).update(last_seq=len(rows))
    sweep.last_seq = len(rows)
