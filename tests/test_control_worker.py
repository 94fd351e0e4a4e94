"""Pause, resume and retry on a real Celery worker with real trial processes, and from the
`hbsite sweep` command."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from scheduler import control, events, sweeps
from scheduler.models import RungDecision, Sweep, Trial
from tests.conftest import ROOT, wait_for
from tests.sweeps import tiny_yaml

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The tiny sweep's plan: trials per (bracket, rung), and the rungs that are decided.
PLANNED = {(2, 0): 9, (2, 1): 3, (2, 2): 1, (1, 0): 5, (1, 1): 1, (0, 0): 3}
DECIDED = {(2, 0), (2, 1), (1, 0)}


def sleepy(seconds: float, fail_first: bool = False) -> str:
    """A trial that sleeps, then reports loss = lr; with `fail_first`, the first attempt of
    every first-rung trial exits 1."""
    first = "os.environ['HBSITE_ATTEMPT'] + os.environ['HBSITE_RUNG'] == '10'"
    fail = f"sys.exit(1) if {first} else None; " if fail_first else ""
    body = (
        f"import os, sys, time; time.sleep({seconds}); {fail}"
        "import hbclient; hbclient.report(step={{ num_steps }}, loss={{ lr }})"
    )
    return f'python -c "{body}"'


def hbsite(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hbsite", "sweep", *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def current(sweep: Sweep) -> Sweep:
    return Sweep.objects.get(pk=sweep.pk)


def wait_ended(sweep: Sweep, timeout: float = 240) -> Sweep:
    wait_for(lambda: not current(sweep).is_active, timeout=timeout, every=0.5)
    return current(sweep)


def assert_plan_ran_once(sweep: Sweep) -> None:
    """Every planned trial exists exactly once and succeeded; each rung was decided once."""
    trials = list(sweep.trials.all())
    shape: dict[tuple[int, int], int] = {}
    for trial in trials:
        shape[(trial.bracket, trial.rung)] = shape.get((trial.bracket, trial.rung), 0) + 1
    assert shape == PLANNED
    assert {t.status for t in trials} == {"succeeded"}
    decisions = RungDecision.objects.filter(sweep=sweep)
    assert {(d.bracket, d.rung) for d in decisions} == DECIDED
    assert not decisions.filter(reopened=True).exists()
    seqs = list(sweep.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_the_command_pauses_and_resumes_and_nothing_starts_in_between(
    celery_worker, process_env, cast
):
    sweep = sweeps.create_sweep(tiny_yaml(cmd=sleepy(1), concurrency=2), team=cast.team)
    wait_for(lambda: sweep.trials.filter(status="running").exists(), timeout=120)

    viewer = hbsite(process_env, "pause", str(sweep.pk), "--user", "viewer")
    paused = hbsite(process_env, "pause", str(sweep.pk), "--user", "member")

    assert viewer.returncode == 1 and "only members act" in viewer.stderr
    assert paused.returncode == 0, paused.stderr
    assert f"sweep {sweep.pk} paused" in paused.stdout
    wait_for(lambda: not sweep.trials.occupying().exists(), timeout=120)
    mark = current(sweep).last_seq
    assert current(sweep).status == "running" and sweep.trials.filter(status="pending").exists()
    changed = hbsite(process_env, "concurrency", str(sweep.pk), "4", "--user", "admin")
    assert changed.returncode == 0, changed.stderr

    resumed = hbsite(process_env, "resume", str(sweep.pk), "--user", "member")
    assert resumed.returncode == 0, resumed.stderr

    ended = wait_ended(sweep)
    assert ended.status == "succeeded", ended.status_reason
    assert_plan_ran_once(ended)
    paused_at = ended.events.get(kind=events.SWEEP_PAUSED).seq
    resumed_at = ended.events.get(kind=events.SWEEP_RESUMED).seq
    assert paused_at < mark < resumed_at
    between = ended.events.filter(seq__gt=paused_at, seq__lt=resumed_at)
    assert not between.filter(kind__in=[events.TRIAL_STARTED, events.TRIAL_QUEUED]).exists()
    change = ended.events.get(kind=events.CONCURRENCY_CHANGED).payload
    assert (change["by"], change["old"], change["new"]) == ("admin", 2, 4)


def test_a_requeuing_pause_kills_the_running_trials_and_keeps_their_attempt(celery_worker, cast):
    sweep = sweeps.create_sweep(tiny_yaml(cmd=sleepy(30), concurrency=2), team=cast.team)
    with_pid = sweep.trials.filter(status="running", pid__isnull=False)
    wait_for(lambda: with_pid.count() == 2, timeout=120)
    running = list(with_pid.values_list("id", "pid"))

    control.pause(sweep.pk, cast.member, requeue=True)

    for trial_id, pid in running:
        assert pid is not None
        wait_for(lambda pid=pid: not alive(pid), timeout=60)
        trial = Trial.objects.get(pk=trial_id)
        assert (trial.status, trial.attempt) == ("pending", 1)
        assert trial.attempts.get().why == "paused by member"
    assert not current(sweep).trials.occupying().exists()
    sweeps.stop_sweep(sweep.pk)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_failed_sweep_resumes_by_retrying_and_its_rungs_are_topped_up(
    celery_worker, process_env, cast
):
    text = tiny_yaml(cmd=sleepy(0, fail_first=True), concurrency=4)
    sweep = sweeps.create_sweep(text, team=cast.team)
    failed = wait_ended(sweep)
    assert failed.status == "failed", failed.status_reason
    assert {d.promoted for d in RungDecision.objects.filter(sweep=sweep)} == {0}

    retried = hbsite(process_env, "resume", str(sweep.pk), "--retry-failed", "--user", "member")
    assert retried.returncode == 0, retried.stderr
    assert "resumed (run 2)" in retried.stdout

    ended = wait_ended(sweep)
    assert ended.status == "succeeded", ended.status_reason
    assert ended.run == 2
    assert_plan_ran_once(ended)
    first_rung = ended.trials.filter(rung=0)
    assert {t.attempt for t in first_rung} == {2}
    assert all(t.attempts.get().status == "failed" for t in first_rung)
