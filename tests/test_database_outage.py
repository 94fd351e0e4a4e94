"""A database that drops every connection is ridden out: no failed trial, no 500.

The faults are real: the test database's backends are terminated (pg_terminate_backend), as a
PostgreSQL restart would end them, while a sweep runs on a real worker and the API is asked
about it over HTTP. The server itself and other databases are never touched.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.http import JsonResponse

from hbsite.middleware import RetryOnDatabaseErrors
from scheduler import dbretry, hyperband, sweeps
from scheduler.models import ApiToken, Sweep
from tests.conftest import wait_for
from tests.outage import ApiProbe, Cutter, dsn_of, end_backend
from tests.sweeps import hyperband_yaml, quadratic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dsn() -> Iterator[str]:
    yield dsn_of(connection.settings_dict)
    dbretry.call(Sweep.objects.exists)  # leave this thread a working connection behind


def this_backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_it_runs_a_query_again_on_a_fresh_connection(dsn):
    first = this_backend()
    assert end_backend(dsn, first)  # only this one: the session's worker and server keep theirs

    calls = []

    def backend() -> int:
        calls.append(1)
        return this_backend()

    assert dbretry.call_within(5, backend) != first
    assert len(calls) == 2


def test_it_leaves_a_broken_transaction_to_whoever_opened_it(dsn):
    with pytest.raises(OperationalError), transaction.atomic():
        end_backend(dsn, this_backend())
        dbretry.call_within(5, this_backend)


def test_it_gives_up_after_its_budget():
    started = time.monotonic()
    with pytest.raises(OperationalError):
        dbretry.call_within(0.35, lambda: (_ for _ in ()).throw(OperationalError("gone")))
    assert dbretry.delays(0.35) == [0.1, 0.2]
    assert time.monotonic() - started >= 0.3


def test_backoff_doubles_up_to_two_seconds():
    assert dbretry.delays(10) == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


@pytest.mark.worker
def test_a_sweep_and_the_api_ride_out_cut_connections(celery_worker, asgi_server, cast, dsn):
    text = hyperband_yaml(max_iter=9, concurrency=4, cmd=quadratic("--sleep=1"))
    planned = sum(r.configs for b in hyperband.hyperband_plan(9, 3).brackets for r in b.rungs)
    _, secret = ApiToken.issue(cast.admin, "outage")
    sweep = sweeps.create_sweep(text, team=cast.team)
    api = f"{asgi_server}/api"
    urls = [f"{api}/sweeps/{sweep.pk}/", f"{api}/trials/?sweep={sweep.pk}&limit=5"]
    # One cut every 2 s, five at most: each is what a restart does to open connections.
    # (Cutting faster than the pool's 1 s backoff between checks would kill each replacement
    # before it is used; and cuts that never end can starve a thread for good, since that
    # backoff doubles, 1 s, 2 s, 4 s, ..., past the 2 s between cuts.)
    probe, cutter = ApiProbe(urls, secret), Cutter(dsn, every=2, limit=5)
    probe.start()
    cutter.start()
    try:
        wait_for(lambda: done_trials(dsn, sweep.pk) >= planned * 2 // 3, timeout=240)
    finally:
        cutter.stop()
    dbretry.call(Sweep.objects.exists)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=240, every=0.5)
    statuses = probe.stop()

    sweep.refresh_from_db()
    trials = list(sweep.trials.all())
    assert cutter.rounds >= 2 and cutter.terminated >= cutter.rounds
    assert sweep.status == "succeeded", sweep.status_reason
    assert len(trials) == planned
    failed = [(t.pk, t.status, t.exit_code, t.error, t.stderr_tail) for t in trials]
    assert {t.status for t in trials} == {"succeeded"}, [f for f in failed if f[1] != "succeeded"]
    assert all(t.metric_value is not None for t in trials)
    assert sum(statuses.values()) >= 10
    assert set(statuses) == {200}, statuses


def done_trials(dsn: str, sweep_id: int) -> int:
    """Count the sweep's ended trials on a connection of its own: the test watches through
    the cuts without depending on the pool it is testing (a new connection, each time)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            sql = (
                "SELECT count(*) FROM scheduler_trial WHERE sweep_id = %s"
                " AND finished_at IS NOT NULL"
            )
            row = conn.execute(sql, [sweep_id]).fetchone()
    except psycopg.OperationalError:
        return 0  # cut while it asked: ask again
    return int(row[0]) if row else 0


def test_the_pool_checks_connections_as_it_hands_them_out():
    options = connection.settings_dict["OPTIONS"]
    assert options.get("pool"), "the tests run with Django's connection pool"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.pool._check is not None
    assert threading.current_thread() is threading.main_thread()


def view_failing(times: int):
    """A view whose first `times` calls lose their database connection."""
    calls: list[int] = []

    def view(request):
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return JsonResponse({"calls": len(calls)})

    return view, calls


def test_a_view_whose_connection_broke_runs_again(rf):
    view, calls = view_failing(times=2)
    middleware = RetryOnDatabaseErrors(lambda request: None)
    response = middleware.process_view(rf.post("/api/x/", {"a": 1}), view, (), {})
    assert response.status_code == 200 and len(calls) == 3


def test_a_database_that_stays_away_answers_503_not_500(rf, settings):
    settings.HBSITE_WEB_DB_RETRY_SECONDS = 0.35
    view, calls = view_failing(times=100)
    middleware = RetryOnDatabaseErrors(lambda request: None)
    api = middleware.process_view(rf.get("/api/sweeps/"), view, (), {})
    page = middleware.process_view(rf.get("/sweeps/"), view, (), {})
    assert (api.status_code, page.status_code) == (503, 503)
    assert api["Retry-After"] and "database is unavailable" in json.loads(api.content)["error"]
    assert len(calls) == 6  # three tries each: at once, after 0.1 s and after 0.2 s
