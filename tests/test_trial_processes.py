"""No process of a trial outlives it, and only the current attempt of a trial counts.

Real Celery workers run real trial trees (tests/scripts/stubborn.py): a main process that may
ignore SIGTERM, a daemon that double-forked into its own session, a child holding stdout. A
trial's processes are found by scanning /proc for its environment, so a process that left the
tree is found too.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings

from scheduler import deletion, sweeps, trials
from scheduler.models import Sweep, Trial
from tests.conftest import start_process, stop_process, wait_for
from tests.sweeps import hyperband_yaml, search_yaml, sweep_yaml
from tests.test_sweep_runs import beat_argv

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STUBBORN = "python tests/scripts/stubborn.py"
HARD = f"{STUBBORN} --ignore-term --detach --hold-stdout"


def settle_seconds() -> float:
    """How long a tree may take to die: a heartbeat, the grace period, and a few seconds."""
    return settings.HBSITE_HEARTBEAT_SECONDS + settings.HBSITE_TERMINATE_GRACE_SECONDS + 5


def trial_processes(trial: Trial, attempt: int | None = None) -> list[int]:
    """Return the pids of live processes whose environment says they belong to `trial`."""
    marks = [f"HBSITE_TRIAL_ID={trial.pk}", f"HBSITE_CHECKPOINT_DIR={trial.checkpoint_dir}"]
    if attempt is not None:
        marks.append(f"HBSITE_ATTEMPT={attempt}")
    wanted = {mark.encode() for mark in marks}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if wanted <= environ and state != "Z":
            found.append(int(entry.name))
    return found


def one_trial(cmd: str, team, timeout: int | None = None, **changes) -> Sweep:
    text = search_yaml("random_search: {n_experiments: 1}", timeout=timeout, **changes)
    return sweeps.create_sweep(text.replace("python tests/scripts/quadratic.py", cmd), team=team)


def running_tree(sweep: Sweep, at_least: int = 4) -> Trial:
    """Wait until the sweep's one trial runs with at least `at_least` processes; return it."""
    trial = wait_for(lambda: sweep.trials.filter(status="running").first(), timeout=60)
    wait_for(lambda: len(trial_processes(trial)) >= at_least, timeout=30)
    return trial


def assert_tree_dies(trial: Trial) -> None:
    wait_for(lambda: not trial_processes(trial), timeout=settle_seconds(), every=0.2)


@pytest.fixture
def team(cast):
    return cast.team


def test_it_kills_a_tree_that_ignores_sigterm_on_timeout(celery_worker, team):
    sweep = one_trial(HARD, team, timeout=3)
    trial = running_tree(sweep)

    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=60)
    trial.refresh_from_db()
    assert (trial.status, trial.error) == ("failed", "timed out after 3 s")
    assert_tree_dies(trial)


def end_by_kill(sweep: Sweep, trial: Trial) -> None:
    assert trials.kill(trial.pk)


def end_by_sweep_stop(sweep: Sweep, trial: Trial) -> None:
    assert sweeps.stop_sweep(sweep.pk)


def end_by_deletion(sweep: Sweep, trial: Trial) -> None:
    deletion.delete_sweep(sweep.pk)


@pytest.mark.parametrize("end", [end_by_kill, end_by_sweep_stop, end_by_deletion])
def test_it_kills_the_whole_tree_when_the_trial_is_ended(celery_worker, team, end):
    sweep = one_trial(HARD, team)
    trial = running_tree(sweep)

    end(sweep, trial)
    assert_tree_dies(trial)
    final = Trial.objects.filter(pk=trial.pk).first()
    assert final is None or final.status == "stopped"


def test_it_kills_the_tree_of_a_trial_whose_sweep_early_stops(celery_worker, team):
    cmd = f"{HARD} --low-after=1 --low-loss=0.01"
    sweep = sweeps.create_sweep(sweep_yaml_with(cmd, early_stopping=0.1), team=team)
    trial = running_tree(sweep)

    wait_for(lambda: Sweep.objects.get(pk=sweep.pk).status == "early_stopped", timeout=60)
    assert_tree_dies(trial)
    trial.refresh_from_db()
    assert trial.status == "stopped"
    assert trial.last_metrics["loss"] == pytest.approx(0.01)


def sweep_yaml_with(cmd: str, **changes) -> str:
    section = "  random_search: {n_experiments: 1, metric: {name: loss, optimization: minimize}}"
    return sweep_yaml(section, cmd=cmd, **changes)


def test_it_kills_the_tree_when_its_runner_is_killed(main_worker, start_worker, team):
    main_worker.stop()
    doomed = start_worker("scheduler,trials", 2, "doomed")
    sweep = one_trial(HARD, team)
    trial = running_tree(sweep)

    stop_process(doomed, sig=signal.SIGKILL)
    assert_tree_dies(trial)
    sweeps.stop_sweep(sweep.pk)


def test_it_records_the_end_at_once_and_keeps_beating_while_pipes_stay_open(
    celery_worker, team, process_env, tmp_path
):
    exit_file = tmp_path / "main-exit"
    lost_after = settings.HBSITE_LOST_AFTER_SECONDS
    cmd = f"{STUBBORN} --hold-stdout --detach --run={lost_after + 2} --exit-file={exit_file}"
    beat = start_process(beat_argv(), {**process_env, "HBSITE_RECONCILE_SECONDS": "1"}, "beat.log")
    try:
        sweep = one_trial(cmd, team)
        trial = running_tree(sweep, at_least=3)
        wait_for(lambda: Trial.objects.get(pk=trial.pk).has_ended, timeout=60)
        # A reconcile or two with a held pipe: the trial must not look lost.
        time.sleep(lost_after + 2)
    finally:
        stop_process(beat)

    trial.refresh_from_db()
    assert (trial.status, trial.attempt) == ("succeeded", 1)
    assert not sweep.events.filter(kind="trial_requeued").exists()
    ended = float(exit_file.read_text())
    assert trial.finished_at.timestamp() - ended < 1.0 + settings.HBSITE_HEARTBEAT_SECONDS
    assert_tree_dies(trial)


def test_it_survives_hostile_metric_lines(celery_worker, team):
    sweep = one_trial("python tests/scripts/hostile_metrics.py", team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=60)

    trial = sweep.trials.get()
    assert trial.status == "succeeded", trial.error
    assert trial.last_metrics == {"loss": 0.5}
    assert list(trial.metric_points.values_list("name", "step", "value")) == [("loss", 3, 0.5)]


def test_it_fences_off_the_attempt_of_a_frozen_runner(main_worker, start_worker, team, process_env):
    main_worker.stop()  # so that runners a and b are the only ones
    start_worker("scheduler", 2, "sched")
    frozen = start_worker("trials", 1, "runner-a")
    cmd = f"{STUBBORN} --detach --hold-stdout --run=3 --first-attempt-only"
    text = hyperband_yaml(max_iter=2, eta=3, resume=True, concurrency=1, cmd=cmd)
    sweep = sweeps.create_sweep(text, team=team)
    trial = running_tree(sweep)
    assert f":{frozen.pid}:" in trial.worker
    start_worker("trials", 1, "runner-b")
    beat = start_process(beat_argv(), {**process_env, "HBSITE_RECONCILE_SECONDS": "1"}, "beat.log")
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        second = wait_for(lambda: sweep.trials.filter(pk=trial.pk, attempt=2).first(), timeout=60)
        assert f":{frozen.pid}:" not in second.worker
        assert not trial_processes(trial, attempt=1)  # dead before attempt 2 was handed out
        os.kill(frozen.pid, signal.SIGCONT)
        wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=60)
        wait_for(lambda: fenced_off_logged(trial), timeout=30)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
        stop_process(beat)

    trial.refresh_from_db()
    assert (trial.status, trial.attempt, trial.exit_code) == ("succeeded", 2, 0)
    assert trial.last_metrics["attempt"] == 2
    assert trial.last_metrics["older_alive"] == 0
    late = trial.metric_points.filter(name="attempt", created_at__gte=second.started_at)
    assert set(late.values_list("value", flat=True)) == {2.0}
    assert_tree_dies(trial)


def fenced_off_logged(trial: Trial) -> bool:
    log = Path(settings.BASE_DIR) / "artifacts" / "runner-a.log"
    return f"trial {trial.pk} attempt 1 was fenced off" in log.read_text(errors="replace")
