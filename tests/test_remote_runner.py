"""A runner on another machine: no database settings, everything through the REST API.

The "other machine" is a `hbsite runner --url --token` process whose environment has no
DATABASE_URL and whose settings have no database, with a data directory of its own. It runs
a `resume: true` Hyperband sweep beside a local runner, through the real web server, broker,
scheduler and trial processes.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from hbsite.celery import app
from scheduler import queueing, sweeps
from scheduler.models import MetricPoint, RunnerToken, Sweep
from tests.conftest import ROOT, ping_worker, start_process, stop_process, wait_for
from tests.sweeps import hyperband_yaml, quadratic

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAR = "far-box"
# What a machine without hbsite's database has: none of these reach the runner.
DATABASE_ENV = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PGHOST", "PGDATABASE", "PGUSER")


def remote_env(process_env: dict[str, str], data_dir, secret: str) -> dict[str, str]:
    env = {k: v for k, v in process_env.items() if k not in DATABASE_ENV}
    env.update(
        HBSITE_DATA_DIR=str(data_dir),
        HBSITE_WORKDIR_BASE=str(ROOT),
        HBSITE_RUNNER_TOKEN=secret,
        HBSITE_API_URL="http://127.0.0.1:9",  # never used: the runner hands on --url
    )
    return env


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


@pytest.fixture
def far_runner(process_env, asgi_server, staff, tmp_path):
    """`hbsite runner --url ...` named far-box, one trial at a time, its own data dir."""
    _, secret = RunnerToken.issue(staff, "far box")
    env = remote_env(process_env, tmp_path / "far-data", secret)
    argv = [sys.executable, "-m", "hbsite", "runner", "--url", asgi_server,
            "--runner-name", FAR, "-c", "1", "-n", "far@%h"]  # fmt: skip
    proc = start_process(argv, env, "far-runner.log")
    wait_for(lambda: ping_worker("far"), timeout=60, every=0.5)
    yield tmp_path / "far-data"
    stop_process(proc)


def test_the_runner_settings_have_no_database(process_env, tmp_path):
    env = remote_env(process_env, tmp_path, "hbr_x")
    env["DJANGO_SETTINGS_MODULE"] = "hbsite.settings_runner"
    code = (
        "import django; django.setup()\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "from scheduler.models import Trial\n"
        "try:\n    Trial.objects.count()\nexcept ImproperlyConfigured:\n    print('no database')"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True)
    assert done.stdout.decode().strip() == "no database", done.stderr.decode()


def test_a_remote_runner_runs_a_resumed_sweep_beside_the_local_runner(
    main_worker, start_worker, far_runner, cast, client, settings
):
    main_worker.stop()  # only the workers of this test take its tasks
    start_worker("scheduler", 2, "sched")
    start_worker("trials", 4, "local")
    local = [f"local@{socket.gethostname()}"]
    own_queue = queueing.runner_queue(settings.HBSITE_RUNNER_NAME)
    for queue in (queueing.TRIALS, own_queue):
        assert app.control.cancel_consumer(queue, destination=local, reply=True)
    text = hyperband_yaml(max_iter=9, resume=True, concurrency=6, cmd=quadratic("--sleep=1"))
    sweep = sweeps.create_sweep(text, team=cast.team)

    # At first the far runner is alone: it runs bracket s=2's first rung and holds those
    # checkpoints. When it takes the first promoted trial, its one slot is busy and the local
    # runner starts taking the first rungs of the other brackets, still queued.
    wait_for(lambda: sweep.trials.filter(rung=1, runner=FAR).exists(), timeout=120, every=0.1)
    assert sweep.trials.filter(rung=0, status="queued").exists()
    assert app.control.add_consumer(queueing.TRIALS, destination=local, reply=True)
    assert app.control.add_consumer(
        own_queue, exchange=own_queue, routing_key=own_queue, destination=local, reply=True
    )
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=240, every=0.5)

    sweep.refresh_from_db()
    assert sweep.status == "succeeded", sweep.status_reason
    trials = list(sweep.trials.select_related("parent", "config"))
    assert {t.status for t in trials} == {"succeeded"}
    assert {t.runner for t in trials} == {FAR, settings.HBSITE_RUNNER_NAME}
    promoted = [t for t in trials if t.rung > 0]
    assert {t.runner for t in promoted} >= {FAR}
    for trial in promoted:  # each resumed where its config's checkpoint is
        assert trial.runner == trial.parent.runner
        assert trial.checkpoint_dir == trial.parent.checkpoint_dir
        assert trial.last_metrics["resumed_from"] == trial.parent.resource
    for trial in trials:
        on_far = trial.checkpoint_dir.startswith(str(far_runner))
        assert on_far == (trial.runner == FAR), (trial.runner, trial.checkpoint_dir)
        assert f"--steps={int(trial.resource)}" in trial.command
        loss = (trial.config.params["x"] - 0.3) ** 2 + 1 / trial.resource
        assert trial.metric_value == pytest.approx(loss)
        stored = MetricPoint.objects.filter(trial=trial)
        assert sorted(stored.values_list("name", flat=True)) == ["loss", "resumed_from"]
    far = next(t for t in promoted if t.runner == FAR)
    assert (far_runner / "sweeps" / str(sweep.pk) / "configs" / str(far.config_id)).is_dir()

    client.force_login(cast.viewer)
    page = client.get(reverse("trial-detail", args=[far.pk])).content.decode()
    assert f'id="trial-runner" class="mono small">{FAR}<' in page
    api = client.get(reverse("api:trial-detail", args=[far.pk])).json()
    assert api["runner"] == FAR
