"""Metric posts through the real ASGI server's fast path (scheduler.api.metrics_fastpath).

What the fast path stores is stored exactly once, in order, with the trial's last values and
early-stopping mark; what it does not take is answered by Django's view exactly as before;
a broken database connection loses nothing. The server's own counter of fast-path posts
(`/metrics`) tells which path answered.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import threading
import urllib.parse
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from hbsite.access_log import SkipStoredMetricPosts
from scheduler import metrics
from scheduler.models import MetricPoint, Sweep, SweepStatus, Trial
from tests.conftest import wait_for
from tests.sweeps import hyperband_yaml
from tests.test_api_metrics import running_trial
from tests.test_api_sweeps import make_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def request(
    base: str, path: str, body: str | bytes, headers: dict[str, str] | list[tuple[str, str]]
) -> tuple[int, object]:
    """POST `body` to the live server; return the status and the answer (JSON, else text).
    `headers` as a list may name a header twice."""
    status, answer, _ = exchange(base, path, body, headers)
    return status, answer


def exchange(
    base: str, path: str, body: str | bytes, headers: dict[str, str] | list[tuple[str, str]]
) -> tuple[int, object, http.client.HTTPMessage]:
    """`request`, also returning the answer's headers."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = body.encode() if isinstance(body, str) else body
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    names = {name.lower() for name, _ in pairs}
    try:
        conn.putrequest("POST", path, skip_host="host" in names)
        for name, value in [*pairs, ("Content-Length", str(len(data)))]:
            conn.putheader(name, value)
        conn.endheaders(data)
        response = conn.getresponse()
        text = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(text), response.headers
    except ValueError:
        return response.status, text.decode(errors="replace"), response.headers


def post(base: str, trial: Trial, token: str, body: object, **headers: str) -> tuple[int, Any]:
    """POST a metrics body as the trial, with its token, as JSON."""
    sent = {"Content-Type": "application/json", "Authorization": f"Trial {token}", **headers}
    return request(base, f"/api/trials/{trial.pk}/metrics/", json.dumps(body), sent)


def fast_posts(base: str, outcome: str) -> float:
    """The server's count of metric posts the fast path stored, or handed to Django."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    pattern = rf'^hbsite_fast_metric_posts_total{{outcome="{outcome}"}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def stored(trial: Trial) -> list[tuple[str, float, float]]:
    rows = MetricPoint.objects.filter(trial=trial).order_by("id")
    return list(rows.values_list("name", "step", "value"))


@pytest.fixture
def live_trial(cast):
    """A committed running trial of a sweep ranking by `loss`, and its token."""
    with transaction.atomic():
        sweep = make_sweep(cast.team)
        Sweep.objects.filter(pk=sweep.pk).update(status="running")
        return running_trial(sweep)


def test_posts_are_stored_once_in_order_with_the_last_values(asgi_server, live_trial):
    trial, token = live_trial
    # The first post may meet a writer connection another test's outage left broken.
    assert post(asgi_server, trial, token, {"name": "warm", "value": 1})[0] == 201
    before = fast_posts(asgi_server, "stored")
    answers = [post(asgi_server, trial, token, {"name": "loss", "value": 1 / s, "step": s})
               for s in range(1, 31)]  # fmt: skip
    big = [{"name": "acc", "value": k / 1000, "step": k} for k in range(metrics.COPY_FROM + 50)]
    answers.append(post(asgi_server, trial, token, {"points": big}))
    answers.append(post(asgi_server, trial, token, {"name": "loss", "value": "NaN"}))

    assert answers[0] == (201, {"trial": trial.pk, "stored": 1})
    assert answers[30] == (201, {"trial": trial.pk, "stored": metrics.COPY_FROM + 50})
    assert all(status == 201 for status, _ in answers)
    rows = stored(trial)[1:]
    assert rows[:30] == [("loss", float(s), 1 / s) for s in range(1, 31)]
    assert rows[30:-1] == [("acc", float(k), k / 1000) for k in range(metrics.COPY_FROM + 50)]
    name, step, value = rows[-1]  # no step: the trial's resource (rung 2: 9)
    assert (name, step) == ("loss", trial.resource) and math.isnan(value)
    trial.refresh_from_db()
    assert trial.last_metrics == {"warm": 1, "loss": "NaN", "acc": (metrics.COPY_FROM + 49) / 1000}
    assert math.isnan(trial.metric_value)
    assert fast_posts(asgi_server, "stored") - before == len(answers)


def test_concurrent_posts_to_several_trials_are_stored_once_each(asgi_server, cast):
    with transaction.atomic():
        sweep = make_sweep(cast.team)
        trials = [running_trial(sweep) for _ in range(3)]
    per_client, clients = 40, 6
    failures: list[object] = []

    def client(i: int) -> None:
        trial, token = trials[i % len(trials)]
        for k in range(per_client):
            status, _ = post(asgi_server, trial, token, {"name": f"c{i}", "value": k, "step": k})
            if status != 201:
                failures.append(status)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    for i in range(clients):
        trial = trials[i % len(trials)][0]
        # Each client's points once each, in the order it sent them.
        steps = list(
            MetricPoint.objects.filter(trial=trial, name=f"c{i}")
            .order_by("id")
            .values_list("step", flat=True)
        )
        assert steps == [float(k) for k in range(per_client)]
    for j, (trial, _) in enumerate(trials):
        trial.refresh_from_db()
        senders = [i for i in range(clients) if i % len(trials) == j]
        assert trial.last_metrics == {f"c{i}": per_client - 1 for i in senders}


@pytest.mark.parametrize(
    ("body", "headers", "status", "says", "counted"),
    [
        ({"name": "loss", "value": "abc"}, {}, 400, "value of 'loss'", 1),
        ({"points": [{"name": "a", "value": 1}, {"value": 2}]}, {}, 400, "point 1", 2),
        ("{not json", {}, 400, "JSON", 0),
        ({"name": "loss", "value": 1}, {"Content-Type": "text/plain"}, 415, "text/plain", 0),
        ({"name": "loss", "value": 1}, {"Authorization": "Trial wrong"}, 401, "invalid", 0),
        ({"name": "loss", "value": 1}, {"Host": "evil.example"}, 400, "", 0),
    ],
    ids=["bad-value", "bad-point", "bad-json", "not-json", "wrong-token", "bad-host"],
)
def test_what_the_fast_path_does_not_take_django_answers(
    asgi_server, live_trial, body, headers, status, says, counted
):
    trial, token = live_trial
    before = fast_posts(asgi_server, "stored")
    sent = {"Content-Type": "application/json", "Authorization": f"Trial {token}", **headers}
    text = body if isinstance(body, str) else json.dumps(body)
    answer_status, answer = request(asgi_server, f"/api/trials/{trial.pk}/metrics/", text, sent)

    assert answer_status == status
    assert says in str(answer)
    assert stored(trial) == []
    trial.refresh_from_db()
    assert trial.rejected_points == counted
    assert fast_posts(asgi_server, "stored") == before


JSON_TRIAL = [("Content-Type", "application/json"), ("Authorization", "Trial {token}")]


@pytest.mark.parametrize(
    ("extra", "query", "status", "says"),
    [
        ([("Content-Type", "application/json")], "", 415, "application/json,application/json"),
        ([("Authorization", "Trial {token}")], "", 401, "malformed Authorization"),
        ([("Host", "localhost"), ("Host", "localhost")], "", 400, ""),
        ([("Accept", "application/xml")], "", 406, "Accept"),
        ([], "?format=xml", 404, "not found"),
        ([("Cookie", "sessionid=stale")], "", 201, ""),
    ],
    ids=[
        "content-type-twice",
        "authorization-twice",
        "host-twice",
        "accept-xml",
        "format-xml",
        "cookie",
    ],  # fmt: skip
)
def test_a_request_django_reads_otherwise_goes_to_django(
    asgi_server, live_trial, extra, query, status, says
):
    trial, token = live_trial
    fast = fast_posts(asgi_server, "stored")
    headers = [(name, value.format(token=token)) for name, value in [*JSON_TRIAL, *extra]]
    path = f"/api/trials/{trial.pk}/metrics/{query}"
    answer_status, answer = request(asgi_server, path, '{"name": "loss", "value": 1}', headers)

    assert answer_status == status
    assert says in str(answer)
    assert len(stored(trial)) == (1 if status == 201 else 0)
    assert fast_posts(asgi_server, "stored") == fast


def test_the_fast_paths_answer_carries_the_views_headers(asgi_server, live_trial):
    trial, token = live_trial
    headers = [(name, value.format(token=token)) for name, value in JSON_TRIAL]
    path = f"/api/trials/{trial.pk}/metrics/"
    fast = fast_posts(asgi_server, "stored")
    status, _, fast_headers = exchange(asgi_server, path, '{"name": "a", "value": 1}', headers)
    assert status == 201 and fast_posts(asgi_server, "stored") == fast + 1
    # The view's own answer to the same post with an Accept that DRF reads as JSON but the
    # fast path leaves to Django.
    to_django = [*headers, ("Accept", "application/json, */*")]
    status, _, view_headers = exchange(asgi_server, path, '{"name": "a", "value": 2}', to_django)
    assert status == 201 and fast_posts(asgi_server, "stored") == fast + 1
    names = ["Content-Type", "Vary", "Allow", "X-Frame-Options", "X-Content-Type-Options",
             "Referrer-Policy", "Cross-Origin-Opener-Policy"]  # fmt: skip
    assert {n: fast_headers.get(n) for n in names} == {n: view_headers.get(n) for n in names}


def test_a_body_in_another_charset_is_read_as_django_reads_it(asgi_server, live_trial):
    trial, token = live_trial
    fast = fast_posts(asgi_server, "stored")
    body = json.dumps({"name": "é", "value": 1, "step": 1}, ensure_ascii=False).encode()
    path = f"/api/trials/{trial.pk}/metrics/"

    def with_charset(charset: str) -> tuple[int, object]:
        headers = {"Authorization": f"Trial {token}"}
        headers["Content-Type"] = f"application/json; charset={charset}"
        return request(asgi_server, path, body, headers)

    latin, utf8 = with_charset("latin-1"), with_charset("UTF-8")

    assert latin[0] == utf8[0] == 201
    # The UTF-8 bytes of "é" read as Latin-1 are two characters, as Django's view reads them.
    assert [name for name, _, _ in stored(trial)] == ["Ã©", "é"]
    assert fast_posts(asgi_server, "stored") - fast == 1  # the UTF-8 one


def test_a_post_after_the_trial_ended_is_refused(asgi_server, live_trial):
    trial, token = live_trial
    assert post(asgi_server, trial, token, {"name": "loss", "value": 0.5, "step": 1})[0] == 201
    Trial.objects.filter(pk=trial.pk).update(status="succeeded")  # the fast path knew it running

    status, answer = post(asgi_server, trial, token, {"name": "loss", "value": 0.4, "step": 2})

    assert status == 409 and "is succeeded; it no longer accepts" in answer["error"]
    assert stored(trial) == [("loss", 1.0, 0.5)]


def test_posts_go_on_when_the_writers_connection_is_killed(asgi_server, live_trial):
    trial, token = live_trial
    for step in range(3):
        assert post(asgi_server, trial, token, {"name": "x", "value": 1, "step": step})[0] == 201
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = %s",
            ["hbsite-metrics-writer", db["NAME"]],
        ).fetchone()[0]
    assert killed >= 1
    handed, fast = fast_posts(asgi_server, "django"), fast_posts(asgi_server, "stored")

    for step in range(3, 10):
        assert post(asgi_server, trial, token, {"name": "x", "value": 1, "step": step})[0] == 201

    assert [step for _, step, _ in stored(trial)] == [float(s) for s in range(10)]
    # A post that met the dead connection went through Django (unless the writer found it
    # dead first, after a second idle); the next ones took the fast path again.
    assert fast_posts(asgi_server, "django") - handed <= 1
    assert fast_posts(asgi_server, "stored") - fast >= 6


def test_a_rule_met_through_the_fast_path_ends_the_sweep(asgi_server, celery_worker, cast):
    with transaction.atomic():
        sweep = make_sweep(cast.team, text=hyperband_yaml(early_stopping=0.1))
        Sweep.objects.filter(pk=sweep.pk).update(status="running")
        trial, token = running_trial(sweep)

    assert post(asgi_server, trial, token, {"name": "loss", "value": 0.05, "step": 3})[0] == 201

    trial.refresh_from_db()
    assert (trial.met_rule, trial.met_value) == (0, 0.05)
    wait_for(lambda: Sweep.objects.get(pk=sweep.pk).status == SweepStatus.EARLY_STOPPED, 60)


def make_access_record(method: str, path: str, status: int) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it."""
    args = ("127.0.0.1:5000", method, path, "1.1", status)
    return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                             args, None)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "status", "logged"),
    [
        ("POST", "/api/trials/12/metrics/", 201, False),
        ("POST", "/api/trials/12/metrics/", 409, True),
        ("GET", "/api/trials/12/metrics/", 200, True),
        ("POST", "/api/trials/12/metrics/?x=1", 201, True),
        ("POST", "/api/sweeps/", 201, True),
    ],
)
def test_the_access_log_leaves_out_stored_metric_posts(method, path, status, logged):
    record = make_access_record(method, path, status)
    assert SkipStoredMetricPosts().filter(record) is logged
