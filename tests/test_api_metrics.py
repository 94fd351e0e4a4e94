"""Metric ingestion with a trial's token (single, batch, all or nothing) and series reads."""

from __future__ import annotations

import json
import math
import secrets

import pytest
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

import hbclient
from scheduler import metric_values, metrics, results
from scheduler.models import MetricPoint, Sweep, Trial, hash_secret
from tests.test_api_sweeps import add_trials, client_for, make_sweep


def running_trial(sweep, **fields) -> tuple[Trial, str]:
    """Make a running trial of a sweep and return it with its token."""
    token = secrets.token_urlsafe(24)
    fields = {"status": "running", "token_hash": hash_secret(token), **fields}
    [trial] = add_trials(sweep, 1, rung=2, **fields)
    return trial, token


@pytest.fixture
def trial_and_token(cast):
    return running_trial(make_sweep(cast.team, cast.admin))


def trial_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Trial {token}")
    return client


def post(client: APIClient, trial: Trial, body) -> object:
    return client.post(f"/api/trials/{trial.pk}/metrics/", body, format="json")


def stored(trial: Trial) -> list[tuple[str, float, float]]:
    rows = MetricPoint.objects.filter(trial=trial).order_by("id")
    return list(rows.values_list("name", "step", "value"))


def test_it_stores_a_single_point_at_the_trials_resource(trial_and_token):
    trial, token = trial_and_token

    response = post(trial_client(token), trial, {"name": "loss", "value": 0.25})

    assert response.status_code == 201
    assert response.json() == {"trial": trial.pk, "stored": 1}
    assert stored(trial) == [("loss", 9.0, 0.25)]
    trial.refresh_from_db()
    assert (trial.metric_value, trial.last_metrics) == (0.25, {"loss": 0.25})


def test_it_stores_a_batch(trial_and_token):
    trial, token = trial_and_token
    points = [{"name": "loss", "value": 1 / s, "step": s} for s in (1, 2, 3)]
    points.append({"name": "accuracy", "value": 0.7, "step": 3})

    response = post(trial_client(token), trial, {"points": points})

    assert response.json() == {"trial": trial.pk, "stored": 4}
    assert stored(trial) == [(p["name"], p["step"], p["value"]) for p in points]
    trial.refresh_from_db()
    assert trial.metric_value == pytest.approx(1 / 3)


def test_a_large_batch_goes_in_one_copy_with_its_names_and_values_as_sent(trial_and_token):
    trial, token = trial_and_token
    names = ["loss", "tab\there", "back\\slash", "new\nline", "ünïcødé 指標", "q'uote\"s"]
    values = [0.1, "NaN", "Infinity", "-Infinity", -0.0, 1e308, 5e-324, 3]
    points = [
        {"name": names[i % len(names)], "value": values[i % len(values)], "step": i + 0.5}
        for i in range(metrics.COPY_FROM * 3)
    ]

    response = post(trial_client(token), trial, {"points": points})

    assert response.json() == {"trial": trial.pk, "stored": len(points)}
    rows = stored(trial)
    assert [(name, step) for name, step, _ in rows] == [(p["name"], p["step"]) for p in points]
    sent = [metric_values.from_wire(p["value"]) for p in points]
    assert all(
        (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) ==
                                                   math.copysign(1, want))
        for (_, _, got), want in zip(rows, sent, strict=True)
    )  # fmt: skip


def test_it_stores_nothing_from_a_batch_with_one_bad_point(trial_and_token):
    trial, token = trial_and_token
    points = [{"name": "loss", "value": 0.5, "step": 1}, {"name": "loss", "value": "low"}]

    response = post(trial_client(token), trial, {"points": points})

    assert response.status_code == 400
    reason = "point 1: value of 'loss' must be a number or 'NaN', 'Infinity' or '-Infinity', "
    assert response.json() == {"error": f"invalid metrics: {reason}got 'low'"}
    assert stored(trial) == []
    trial = Trial.objects.get(pk=trial.pk)
    assert trial.last_metrics == {}
    assert trial.rejected_points == 2
    assert trial.rejections == [f"API request of 2 point(s): {reason}got 'low'"]
    event = trial.sweep.events.get(kind="metrics_rejected")
    assert (event.payload["trial"], event.payload["count"]) == (trial.pk, 2)


@pytest.mark.parametrize(
    "body",
    [[{"name": "loss", "value": 1}], {"points": {"name": "loss"}}, {"value": 1}, {"name": ""}],
)
def test_it_refuses_malformed_bodies(trial_and_token, body):
    trial, token = trial_and_token

    response = post(trial_client(token), trial, body)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert stored(trial) == []


@override_settings(HBSITE_MAX_METRIC_BATCH=10)
def test_it_refuses_huge_batches_and_bodies(trial_and_token):
    trial, token = trial_and_token
    client = trial_client(token)
    eleven = [{"name": "loss", "value": 0.1, "step": s} for s in range(11)]

    too_many = post(client, trial, {"points": eleven})
    too_big = post(client, trial, {"points": eleven[:1], "padding": "x" * 5000})

    assert too_many.status_code == too_big.status_code == 413
    assert too_many.json() == {"error": "11 points in one request; the limit is 10", "limit": 10}
    assert too_big.json()["error"].startswith("the request body is ")
    assert stored(trial) == []


def test_it_refuses_unknown_and_wrong_trial_tokens(cast, trial_and_token):
    trial, token = trial_and_token
    other, other_token = running_trial(trial.sweep)
    point = {"name": "loss", "value": 0.1}

    wrong = post(trial_client("not-the-token"), trial, point)
    swapped = post(trial_client(other_token), trial, point)
    missing = post(trial_client(token), Trial(pk=999_999), point)
    anonymous = post(APIClient(), trial, point)

    for response in (wrong, swapped, missing):
        assert response.status_code == 401
        assert response.json()["error"].startswith("invalid trial token for trial ")
        assert response["WWW-Authenticate"] == "Trial"
    assert anonymous.status_code == 401
    assert stored(trial) == stored(other) == []


def test_it_refuses_metrics_for_a_finished_trial(cast):
    trial, token = running_trial(make_sweep(cast.team), status="succeeded")

    response = post(trial_client(token), trial, {"name": "loss", "value": 0.1})

    assert response.status_code == 409
    assert response.json() == {
        "error": f"trial {trial.pk} is succeeded; it no longer accepts metrics"
    }
    assert stored(trial) == []


def test_it_takes_metrics_from_members_but_not_viewers(cast, trial_and_token):
    trial, _ = trial_and_token
    point = {"name": "loss", "value": 0.3, "step": 4}

    viewer = post(client_for(cast.viewer), trial, point)
    outsider = post(client_for(cast.outsider), trial, point)
    member = post(client_for(cast.member), trial, point)

    assert (viewer.status_code, outsider.status_code, member.status_code) == (403, 404, 201)
    assert stored(trial) == [("loss", 4.0, 0.3)]


def test_it_reads_series_downsampled(cast, trial_and_token):
    trial, _ = trial_and_token
    MetricPoint.objects.bulk_create(
        [MetricPoint(trial=trial, name="loss", step=s, value=1 / (s + 1)) for s in range(100)]
        + [MetricPoint(trial=trial, name="lr", step=s, value=0.1) for s in range(3)]
    )
    client = client_for(cast.viewer)
    url = f"/api/trials/{trial.pk}/metrics/"

    everything = client.get(url).json()["metrics"]
    loss = client.get(f"{url}?name=loss&limit=6").json()["metrics"]

    assert (len(everything["loss"]), len(everything["lr"])) == (100, 3)
    assert list(loss) == ["loss"]
    steps = [step for step, _ in loss["loss"]]
    assert 2 <= len(steps) <= 6
    assert steps == sorted(steps)
    assert loss["loss"][0] == [0, 1.0]
    assert loss["loss"][-1] == [99, 0.01]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7, 1000])
def test_thinning_keeps_a_spike_and_both_ends_within_the_limit(trial_and_token, limit):
    trial, _ = trial_and_token
    values = [1.0] * 10_000
    values[6_543] = 50.0  # one spike, and one dip
    values[2_221] = -7.0
    MetricPoint.objects.bulk_create(
        MetricPoint(trial=trial, name="loss", step=s, value=v) for s, v in enumerate(values)
    )

    points = results.series([trial.pk], "loss", limit)[trial.pk]["loss"]

    assert 1 <= len(points) <= limit
    assert points[-1] == [9_999, 1.0]
    if limit > 1:
        assert points[0] == [0, 1.0]
    if limit >= 4:
        assert [6_543, 50.0] in points
        assert [2_221, -7.0] in points
    assert [step for step, _ in points] == sorted({step for step, _ in points})


def test_it_keeps_a_diverged_point_when_thinning(trial_and_token):
    trial, _ = trial_and_token
    values = [0.5] * 1_000
    values[400] = float("nan")
    MetricPoint.objects.bulk_create(
        MetricPoint(trial=trial, name="loss", step=s, value=v) for s, v in enumerate(values)
    )

    points = results.series([trial.pk], "loss", 10)[trial.pk]["loss"]

    assert [400, "NaN"] in points


def test_it_reads_non_finite_values_in_their_string_form(cast, trial_and_token):
    trial, _ = trial_and_token
    for step, value in enumerate((float("nan"), float("inf"), float("-inf"), 2.5)):
        MetricPoint.objects.create(trial=trial, name="loss", step=step, value=value)

    response = client_for(cast.viewer).get(f"/api/trials/{trial.pk}/metrics/")

    expected = [[0.0, "NaN"], [1.0, "Infinity"], [2.0, "-Infinity"], [3.0, 2.5]]
    assert json.loads(response.content, parse_constant=refuse) == {"metrics": {"loss": expected}}


def refuse(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def test_it_stores_non_finite_values_sent_as_strings(trial_and_token):
    trial, token = trial_and_token
    points = [{"name": "loss", "value": v, "step": s} for s, v in enumerate(["Infinity", 0.3])]
    points += [{"name": "acc", "value": "-Infinity", "step": 2}, {"name": "loss", "value": "NaN"}]

    response = post(trial_client(token), trial, {"points": points})

    assert response.status_code == 201, response.json()
    values = [value for _, _, value in stored(trial)]
    assert values[:3] == [float("inf"), 0.3, float("-inf")] and math.isnan(values[3])
    trial.refresh_from_db()
    assert math.isnan(trial.metric_value)
    assert trial.last_metrics == {"loss": "NaN", "acc": "-Infinity"}


@pytest.mark.parametrize("value", ["nan", "inf", "Inf", "1e999", None, [1], {"v": 1}, True])
def test_it_refuses_values_outside_the_one_form(trial_and_token, value):
    trial, token = trial_and_token

    response = post(trial_client(token), trial, {"name": "loss", "value": value})

    assert response.status_code == 400
    assert "must be a number or 'NaN', 'Infinity' or '-Infinity'" in response.json()["error"]
    assert stored(trial) == []


def test_it_stores_no_point_for_a_trial_that_ended(trial_and_token):
    trial, _ = trial_and_token
    Trial.objects.filter(pk=trial.pk).update(status="stopped")

    kept = metrics.record(trial, [metrics.Point("loss", 14, 0.01)])

    assert kept == 0
    assert stored(trial) == []
    trial.refresh_from_db()
    assert (trial.metric_value, trial.last_metrics) == (None, {})
    assert trial.rejected_points == 1
    assert trial.rejections == ["1 point(s) sent after the trial ended"]


def test_it_lets_a_trial_token_only_post(trial_and_token):
    trial, token = trial_and_token

    response = trial_client(token).get(f"/api/trials/{trial.pk}/metrics/")

    assert response.status_code == 403
    assert response.json() == {"error": "a trial token may only post metrics"}


@pytest.fixture
def live_reporter(asgi_server, cast, monkeypatch):
    """A committed running trial and an ApiReporter posting to the live server for it."""
    # Committed as running with no pending trial, so a worker's scheduler step leaves it be.
    with transaction.atomic():
        sweep = make_sweep(cast.team)
        Sweep.objects.filter(pk=sweep.pk).update(status="running")
        trial, token = running_trial(sweep)
    monkeypatch.setenv("HBSITE_TRIAL_ID", str(trial.pk))
    return trial, hbclient.ApiReporter(every=3600, url=asgi_server, token=token)


@pytest.mark.django_db(transaction=True)
def test_hbclient_posts_batches_to_the_live_server(live_reporter):
    trial, reporter = live_reporter

    with reporter:
        for step in (1, 2, 3):
            reporter.report(step=step, loss=1 / step)

    assert stored(trial) == [("loss", s, 1 / s) for s in (1.0, 2.0, 3.0)]


@pytest.mark.django_db(transaction=True)
def test_hbclient_posts_diverged_values_to_the_live_server(live_reporter):
    trial, reporter = live_reporter

    with reporter:
        reporter.report(step=1, loss=0.5)
        reporter.report(step=2, loss=float("inf"), acc=float("-inf"))
        reporter.report(step=3, loss=float("nan"))

    values = stored(trial)
    assert values[:3] == [("loss", 1.0, 0.5), ("loss", 2.0, math.inf), ("acc", 2.0, -math.inf)]
    assert values[3][:2] == ("loss", 3.0) and math.isnan(values[3][2])
    assert Trial.objects.get(pk=trial.pk).rejected_points == 0
