"""Fault drills: sweeps run on the real system while each process and service fails in turn.

    make drills        # also part of `make benchmark`

hbsite runs under supervisord (web, scheduler, runner, beat) on a private redis-server and
the test database. Each drill starts two Hyperband 9/3 sweeps (22 trials each) whose trials
print and post numbered metric points and leave a daemon behind (benchmarks/drill_trial.py),
injects one fault while trials run, and waits for both sweeps to end. Its row says:

- sweeps finished: sweeps that succeeded with every planned trial succeeded, of those started;
- duplicates: extra trials per (sweep, bracket, rung, config), plus attempts that started twice;
- lost points: printed points missing from the final attempt, plus acknowledged posts not stored;
- leftovers: processes with the drill's marker in their command line once the sweeps ended
  (after the supervisors' kill grace);
- recover s: from the fault's start to the first trial a runner starts after it ended;
- API 5xx: answers >= 500 to GETs made throughout the drill (no answer at all is not counted).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from benchmarks.drills_system import PrivateRedis, System, leftovers
from scheduler import dbretry, hyperband
from scheduler.models import ApiToken, MetricPoint, Sweep, Trial
from tests.conftest import wait_for
from tests.outage import ApiProbe, cut_connections, dsn_of
from tests.sweeps import hyperband_yaml

pytestmark = pytest.mark.django_db(transaction=True)

POINTS, SLEEP, SWEEPS = 4, 0.4, 2
PLANNED = sum(r.configs for b in hyperband.hyperband_plan(9, 3).brackets for r in b.rungs)


@dataclass
class Drill:
    """One run of the drill table: the sweeps it started and what it found."""

    name: str
    marker: str
    sweep_ids: list[int]
    fault_at: datetime | None = None
    fault_end: datetime | None = None
    finished: int = 0
    duplicates: int = 0
    lost: int = 0
    leftovers: int = 0
    retried: int = 0
    recover: float | None = None
    api_5xx: int = 0

    def row(self) -> str:
        recover = "-" if self.recover is None else f"{self.recover:.1f}"
        cells = [f"{self.name:<26}", f"{self.finished}/{len(self.sweep_ids)}", self.duplicates,
                 self.lost, self.leftovers, recover, self.retried, self.api_5xx]  # fmt: skip
        return "| " + " | ".join(str(cell) for cell in cells) + " |"


HEADER = (
    "| drill | sweeps finished | duplicates | lost points | leftovers | recover s "
    "| retried trials | API 5xx |\n|---|---|---|---|---|---|---|---|"
)


@pytest.fixture
def system(process_env, server_port, tmp_path):
    redis = PrivateRedis()
    redis.start()
    env = {
        **process_env,
        "REDIS_URL": redis.url,
        "HBSITE_HOST": "127.0.0.1",
        "HBSITE_PORT": str(server_port),
        "HBSITE_RUNNERS": "6",
        "HBSITE_RECONCILE_SECONDS": "2",
        "HBSITE_RESEND_AFTER_SECONDS": "3",
        "HBSITE_DRILL_STARTS": str(tmp_path / "starts"),
        "HBSITE_DRILL_ACKS": str(tmp_path / "acks"),
    }
    system = System(env, Path(settings.HBSITE_DATA_DIR))
    system.redis, system.files = redis, tmp_path
    system.start()
    yield system
    system.stop()
    redis.kill()


def post_sweep(base: str, token: str, text: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/sweeps/",
        data=json.dumps({"yaml": text}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read())["id"])


def trial_command(marker: str) -> str:
    return (f"python benchmarks/drill_trial.py --marker={marker} --x={{{{ x }}}} "
            f"--steps={{{{ num_steps }}}} --points={POINTS} --sleep={SLEEP}")  # fmt: skip


def trials_of(drill: Drill) -> list[Trial]:
    return list(Trial.objects.filter(sweep_id__in=drill.sweep_ids))


def running(drill: Drill) -> bool:
    trials = dbretry.call(trials_of, drill)
    return (
        sum(t.status == "running" for t in trials) >= 3
        and sum(t.finished_at is not None for t in trials) >= 2
    )


def ended(drill: Drill) -> bool:
    return not dbretry.call(lambda: Sweep.objects.filter(pk__in=drill.sweep_ids).active().exists())


def lines(path: Path) -> list[tuple[int, int, int]]:
    if not path.exists():
        return []
    return [tuple(int(w) for w in line.split()) for line in path.read_text().splitlines()]


def audit(drill: Drill, files: Path) -> None:
    """Fill in the drill's counts from the database and the trials' own logs."""
    trials = trials_of(drill)
    ids = {t.pk for t in trials}
    for sweep in Sweep.objects.filter(pk__in=drill.sweep_ids):
        mine = [t for t in trials if t.sweep_id == sweep.pk]
        ok = all(t.status == "succeeded" for t in mine)
        drill.finished += sweep.status == "succeeded" and len(mine) == PLANNED and ok
    places = collections.Counter((t.sweep_id, t.bracket, t.rung, t.config_id) for t in trials)
    starts = collections.Counter((t, a) for t, a, _ in lines(files / "starts") if t in ids)
    drill.duplicates = sum(n - 1 for n in places.values()) + sum(n - 1 for n in starts.values())
    drill.retried = sum(t.attempt > 1 for t in trials)
    stored = collections.defaultdict(set)
    for trial_id, name, step, value in MetricPoint.objects.filter(trial_id__in=ids).values_list(
        "trial_id", "name", "step", "value"
    ):
        stored[name].add((trial_id, int(value) // 1000, int(step)))
    for t in trials:
        if t.status == "succeeded":
            printed = {(t.pk, t.attempt, step) for step in range(1, POINTS + 1)}
            drill.lost += len(printed - stored["tick"])
    acked = {ack for ack in lines(files / "acks") if ack[0] in ids}
    drill.lost += len(acked - stored["posted"])
    after = [t.started_at for t in trials if t.started_at and t.started_at > drill.fault_end]
    if after and drill.fault_at:
        drill.recover = (min(after) - drill.fault_at).total_seconds()


def run_drill(name: str, fault: Callable[[], None], system, token: str, seed: int) -> Drill:
    base = f"http://127.0.0.1:{system.web_port}"
    marker = f"hbdrill-{uuid.uuid4().hex[:10]}"
    text = hyperband_yaml(max_iter=9, concurrency=3, cmd=trial_command(marker), name=name)
    ids = [
        post_sweep(base, token, text.replace("seed: 1", f"seed: {seed + k}")) for k in range(SWEEPS)
    ]
    drill = Drill(name, marker, ids)
    probe = ApiProbe([f"{base}/api/sweeps/{pk}/" for pk in ids], token, pause=0.2)
    probe.start()
    wait_for(lambda: running(drill), timeout=120, every=0.1)
    drill.fault_at = timezone.now()
    fault()
    drill.fault_end = timezone.now()
    with contextlib.suppress(AssertionError):  # a sweep still running is reported, not raised
        wait_for(lambda: ended(drill), timeout=240, every=0.5)
    statuses = probe.stop()
    drill.api_5xx = sum(n for status, n in statuses.items() if status >= 500)
    dbretry.call(audit, drill, system.files)
    drill.leftovers = leftovers(marker, settle=settings.HBSITE_TERMINATE_GRACE_SECONDS + 2)
    print(drill.row(), flush=True)
    return drill


def test_fault_drills(system, cast):
    _, token = ApiToken.issue(cast.admin, "drills")
    dsn = dsn_of(connection.settings_dict)
    lost_after = settings.HBSITE_LOST_AFTER_SECONDS

    def freeze_runner() -> None:
        pid = system.signal("runner", signal.SIGSTOP)
        time.sleep(lost_after + 3)
        os.kill(pid, signal.SIGCONT)

    def restart_redis() -> None:
        system.redis.kill()
        time.sleep(1)
        system.redis.start()

    def cut_database() -> None:
        for _ in range(3):
            cut_connections(dsn)
            time.sleep(1)

    drills = [
        ("kill -9 web", lambda: system.kill("web")),
        ("kill -9 scheduler", lambda: system.kill("scheduler")),
        ("kill -9 runner", lambda: system.kill("runner")),
        ("kill -9 beat", lambda: system.kill("beat")),
        (f"SIGSTOP runner {lost_after + 3:g} s", freeze_runner),
        ("Redis restart", restart_redis),
        ("PostgreSQL connections cut", cut_database),
    ]
    started = time.monotonic()
    print(f"\nfault drills: {SWEEPS} Hyperband 9/3 sweeps ({PLANNED} trials each) per drill")
    print(HEADER, flush=True)
    rows = [run_drill(name, fault, system, token, 10 * n) for n, (name, fault) in enumerate(drills)]
    print(f"all drills: {time.monotonic() - started:.0f} s")
    for drill in rows:
        assert drill.finished == len(drill.sweep_ids), drill
        assert (drill.duplicates, drill.lost, drill.leftovers, drill.api_5xx) == (0, 0, 0, 0), drill
