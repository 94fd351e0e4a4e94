"""Bad input gets a 400 (or 413) with a message, never a 500; a sweep that cannot start fails."""

from __future__ import annotations

import json
import math

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from scheduler import results, scheduling
from scheduler.models import ApiToken, MetricPoint, Sweep, Team, Trial
from tests.sweeps import hyperband_yaml, search_yaml
from tests.test_api_metrics import running_trial, trial_client
from tests.test_api_sweeps import client_for, make_sweep


def test_a_plan_over_the_limit_is_a_400_with_its_position(cast) -> None:
    text = hyperband_yaml(max_iter=1_000_000, eta=2)

    for url in ("/api/plan/", "/api/sweeps/"):
        response = client_for(cast.admin).post(url, {"yaml": text}, format="json")

        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert "2222719 trials" in error["message"] and error["line"] > 1
    assert not Sweep.objects.exists()


def test_the_plan_limit_is_a_setting(cast, settings) -> None:
    settings.HBSITE_MAX_PLAN_TRIALS = 100
    response = client_for(cast.admin).post("/api/plan/", {"yaml": hyperband_yaml()}, format="json")

    assert response.status_code == 400
    assert "206 trials; the limit is 100" in response.json()["errors"][0]["message"]


def test_a_stored_sweep_that_cannot_start_ends_failed_with_the_reason(cast) -> None:
    # Stored before the checks existed: it no longer validates, so it can never start.
    text = hyperband_yaml(matrix={"x": "logspace: [0, 400, 5]"})
    sweep = Sweep.objects.create(
        team=cast.team, name="old", yaml=text, spec={}, plan={}, seed=1, concurrency=1
    )

    scheduling.step(sweep.pk)
    scheduling.step(sweep.pk)

    sweep.refresh_from_db()
    assert sweep.status == "failed"
    assert "could not start" in sweep.status_reason and "math range error" in sweep.status_reason
    assert not sweep.trials.exists()
    finished = [
        e for e in results.events_after(sweep.pk, 0, 100)[0] if e["kind"] == "sweep_finished"
    ]
    assert len(finished) == 1


def test_a_sweep_starts_in_batches_of_inserts(cast) -> None:
    sweep = make_sweep(cast.team, cast.admin, search_yaml("random_search: {n_experiments: 2500}"))

    with CaptureQueriesContext(connection) as queries:
        scheduling.step(sweep.pk)

    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "scheduler_trial"')]
    assert len(inserts) == math.ceil(2500 / scheduling.BATCH_SIZE)
    assert Trial.objects.filter(sweep=sweep).count() == 2500


@pytest.mark.parametrize("name", ["a\x00b", "a\ud800"])
def test_a_sweep_name_that_cannot_be_stored_is_a_400(cast, name: str) -> None:
    body = json.dumps({"yaml": hyperband_yaml(), "name": name})  # "\ud800" stays an escape
    response = client_for(cast.admin).post("/api/sweeps/", body, content_type="application/json")

    assert response.status_code == 400
    assert "name" in response.json()["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "loss", "value": 10**400},
        {"name": "loss", "value": 1, "step": 10**400},
        {"name": "lo\x00ss", "value": 1},
        {"name": "lo\ud800ss", "value": 1},
        {"points": 5},
        {"points": [[1, 2]]},
        {"points": [{"name": "loss", "value": "1"}]},
        [1, 2],
    ],
)
def test_hostile_metric_bodies_are_400(cast, body) -> None:
    trial, token = running_trial(make_sweep(cast.team, cast.admin))

    url = f"/api/trials/{trial.pk}/metrics/"
    response = trial_client(token).post(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]
    assert not MetricPoint.objects.filter(trial=trial).exists()


def test_raw_hostile_metric_bodies_are_400(cast) -> None:
    trial, token = running_trial(make_sweep(cast.team, cast.admin))
    url = f"/api/trials/{trial.pk}/metrics/"
    bodies = ['{"name": "loss", "value": ' + "9" * 400 + "}", "[" * 100_000, '{"value": NaN}']

    for raw in bodies:
        response = trial_client(token).post(url, raw, content_type="application/json")

        assert response.status_code == 400, (raw[:20], response.content)
        assert response.json()["error"]


@pytest.mark.parametrize("query", ["limit=9223372036854775808", "offset=9223372036854775808",
                                   "limit=-5&offset=" + "9" * 5000])  # fmt: skip
def test_pagination_clamps_huge_numbers(cast, query: str) -> None:
    make_sweep(cast.team, cast.admin)

    response = client_for(cast.admin).get(f"/api/sweeps/?{query}")

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_an_unexpected_error_in_the_api_is_json(cast, monkeypatch) -> None:
    sweep = make_sweep(cast.team, cast.admin)
    client = client_for(cast.admin)
    client.raise_request_exception = False

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(results, "progress", broken)
    response = client.get(f"/api/sweeps/{sweep.pk}/")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error; the failure was logged"}

    # An error inside DRF's own error handling reaches the middleware.
    monkeypatch.setattr("scheduler.api.errors.error_body", broken)
    response = client.get("/api/sweeps/999999/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"team": "abc"}, "team must be a team id"),
        ({"team": "9" * 40}, "team must be a team id"),
        ({"name": "a\x00b"}, "cannot be stored as text"),
    ],
)
def test_the_new_sweep_form_answers_bad_fields_with_400(cast, fields, message) -> None:
    form = {"yaml": hyperband_yaml(), "action": "launch", "team": str(cast.team.pk), **fields}

    response = logged_in(cast.admin).post("/sweeps/new/", form)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Sweep.objects.exists()


def test_team_and_token_names_that_cannot_be_stored_are_400(cast) -> None:
    client = logged_in(cast.admin)

    team = client.post("/teams/", {"name": "t\x00"})
    token = client.post("/account/", {"name": "k\x00"})

    assert (team.status_code, token.status_code) == (400, 400)
    assert "cannot be stored as text" in team.content.decode()
    assert "cannot be stored as text" in token.content.decode()
    assert not Team.objects.filter(name__startswith="t").exists()
    assert not ApiToken.objects.filter(user=cast.admin).exists()


@pytest.mark.parametrize(
    "url",
    ["/api/trials/?sweep={n}", "/api/trials/?bracket={n}", "/api/sweeps/{pk}/events/?after={n}"],
)
def test_query_numbers_past_a_bigint_are_400(cast, url: str) -> None:
    sweep = make_sweep(cast.team, cast.admin)

    response = client_for(cast.admin).get(url.format(n=2**64, pk=sweep.pk))

    assert response.status_code == 400
    assert response.json()["error"]


def test_a_team_id_past_a_bigint_is_a_400(cast) -> None:
    body = {"yaml": hyperband_yaml(), "team": 2**64}

    response = client_for(cast.admin).post("/api/sweeps/", body, format="json")

    assert response.status_code == 400
    assert "team" in response.json()["fields"]
