"""What operators use: the admin, /healthz, /readyz, /metrics and the log format."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from hbsite.health import Workers
from scheduler.models import Sweep, Trial, TrialStatus
from tests.conftest import ROOT
from tests.sweeps import started_sweep


def superuser():
    return get_user_model().objects.create_superuser("root", password="pw-root-123")


def scraped(client) -> dict[str, dict[tuple, float]]:
    """Return {metric name: {labels as sorted tuples: value}} from /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


# --- the admin --------------------------------------------------------------------------------


def test_every_model_is_in_the_admin_with_a_working_list(client, cast):
    started_sweep(cast.team, cast.member)
    client.force_login(superuser())
    models = set(apps.get_app_config("scheduler").get_models())
    assert models <= set(admin.site._registry)
    for model in models:
        url = f"/admin/scheduler/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
    page = client.get("/admin/scheduler/trial/?status__exact=queued").content.decode()
    listed = {int(pk) for pk in re.findall(r"/admin/scheduler/trial/(\d+)/change/", page)}
    queued = set(Trial.objects.filter(status="queued").values_list("pk", flat=True))
    assert queued and listed == queued and Trial.objects.exclude(status="queued").exists()


def test_an_operator_stops_a_sweep_from_the_admin_and_a_viewer_cannot(client, cast):
    sweep = started_sweep(cast.team, cast.member)
    action = {"action": "stop", "_selected_action": [sweep.pk]}
    viewer = get_user_model().objects.create_user("looker", password="pw-looker-123")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_sweep"))
    client.force_login(viewer)
    client.post("/admin/scheduler/sweep/", action)
    assert Sweep.objects.get(pk=sweep.pk).status == "running"
    client.force_login(superuser())
    client.post("/admin/scheduler/sweep/", action)
    stopped = Sweep.objects.get(pk=sweep.pk)
    assert stopped.status == "stopped" and stopped.status_reason == "stopped by an operator"


# --- health and readiness ---------------------------------------------------------------------


def test_healthz_answers_while_the_process_runs(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_readyz_passes_with_the_database_redis_a_scheduler_and_a_runner(client, celery_worker):
    response = client.get("/readyz?format=json")
    checks = response.json()
    assert response.status_code == 200, checks
    assert any("Database" in name for name in checks)
    assert any("Redis" in name for name in checks)
    assert {name for name in checks if "Workers" in name} == {
        "Workers(queue='scheduler')",
        "Workers(queue='trials')",
    }
    assert set(checks.values()) == {"OK"}


@pytest.mark.worker
def test_readiness_fails_when_no_worker_consumes_a_queue():
    queue = f"nobody-{uuid.uuid4().hex}"
    result = asyncio.run(Workers(queue=queue).get_result())
    assert result.error is not None and queue in str(result.error)


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_count_trials_and_sweeps_by_status(client, cast):
    sweep = started_sweep(cast.team, cast.member)
    Trial.objects.filter(pk=sweep.trials.order_by("pk").first().pk).update(status="failed")
    metrics = scraped(client)
    for status in TrialStatus.values:
        expected = Trial.objects.filter(status=status).count()
        assert metrics["hbsite_trials"][(("status", status),)] == expected, status
    assert metrics["hbsite_sweeps"][(("status", "running"),)] == 1
    assert "django_http_requests_total_by_method_total" in metrics


def test_metrics_give_the_scheduling_latency_of_recent_trials(client, cast):
    sweep = started_sweep(cast.team, cast.member)
    trials = list(sweep.trials.filter(status="queued").order_by("pk"))
    delays = [0.5 + 1.5 * n for n in range(len(trials))]
    for trial, delay in zip(trials, delays, strict=True):
        started = trial.queued_at + timedelta(seconds=delay)
        Trial.objects.filter(pk=trial.pk).update(status="running", started_at=started)
    metrics = scraped(client)
    assert metrics["hbsite_scheduling_latency_trials"][()] == len(delays) > 1
    latency = metrics["hbsite_scheduling_latency_seconds"]
    assert latency[(("quantile", "0.5"),)] == pytest.approx(statistics.median(delays))
    assert statistics.median(delays) < latency[(("quantile", "0.95"),)] <= max(delays)


def test_metrics_give_queue_depth_under_the_brokers_key_prefix(client, db):
    prefix = f"hbops-{uuid.uuid4().hex}:"
    keys = {prefix + "trials": 3, prefix + "trials\x06\x163": 2, prefix + "scheduler": 1,
            prefix + "trials@far-box": 4, prefix + "trials@far-box\x06\x169": 1}  # fmt: skip
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        for key, count in keys.items():
            broker.rpush(key, *[b"{}"] * count)
        broker.rpush("trials-not-prefixed", b"{}")
        with override_settings(CELERY_BROKER_TRANSPORT_OPTIONS={"global_keyprefix": prefix}):
            depth = scraped(client)["hbsite_queue_depth"]
    finally:
        broker.delete(*keys, "trials-not-prefixed")
    assert depth[(("queue", "trials"),)] == 5
    assert depth[(("queue", "scheduler"),)] == 1
    assert depth[(("queue", "trials@far-box"),)] == 5


# --- logs -------------------------------------------------------------------------------------

PROBE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('hbsite.probe').warning('probe %s', 42)"
)


def log_line(fmt: str) -> str:
    env = {"DJANGO_SETTINGS_MODULE": "hbsite.settings_test", "LOG_FORMAT": fmt, "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_log_lines_carry_time_level_and_logger():
    line = log_line("text")
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" WARNING +hbsite\.probe: probe 42", line)


def test_log_lines_are_json_objects_when_asked():
    record = json.loads(log_line("json"))
    assert record["levelname"] == "WARNING" and record["name"] == "hbsite.probe"
    assert record["message"] == "probe 42" and re.match(r"\d{4}-\d\d-\d\d ", record["asctime"])
