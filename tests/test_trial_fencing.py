"""Only the current attempt of a trial may heartbeat, post metrics or finish it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from scheduler import metrics, runner_db, trials
from scheduler.models import Trial
from tests.sweeps import started_sweep

POINT = metrics.Point(name="loss", step=1, value=0.25)


def claim(trial_id: int) -> trials.Claim:
    claimed = trials.claim(trial_id, "test-runner", runner_db.prepare)
    assert claimed is not None
    return claimed


def lose(trial_id: int) -> None:
    """Let the trial's heartbeat go stale and have reconcile requeue it, then queue it."""
    Trial.objects.filter(pk=trial_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    trials.recover_lost(trial_id)
    assert Trial.objects.get(pk=trial_id).status == "pending"
    Trial.objects.filter(pk=trial_id).update(status="queued")


def post_metric(token: str, trial_id: int, name: str = "loss"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Trial {token}")
    body = {"name": name, "value": 0.5, "step": 2}
    return client.post(f"/api/trials/{trial_id}/metrics/", body, format="json")


@pytest.fixture
def trial_id(cast) -> int:
    sweep = started_sweep(cast.team)
    return sweep.trials.filter(status="queued").order_by("id").first().pk


def test_it_refuses_everything_from_an_attempt_that_lost_its_trial(trial_id):
    first = claim(trial_id)
    as_first_saw_it = Trial.objects.get(pk=trial_id)
    lose(trial_id)
    assert not trials.heartbeat(first.fence, 123)  # fenced as soon as it is requeued
    second = claim(trial_id)

    assert (first.fence.attempt, second.fence.attempt) == (1, 2)
    assert not trials.heartbeat(first.fence, 123, "old out", "old err")
    assert not metrics.record(as_first_saw_it, [POINT])
    assert post_metric(first.token, trial_id).status_code == 401
    assert not trials.finish(first.fence, 0, "", "old out", "old err")
    trial = Trial.objects.get(pk=trial_id)
    assert (trial.status, trial.attempt, trial.exit_code) == ("running", 2, None)
    assert (trial.stdout_tail, trial.pid, trial.metric_points.count()) == ("", None, 0)


def test_it_takes_everything_from_the_current_attempt(trial_id):
    claim(trial_id)
    lose(trial_id)
    second = claim(trial_id)

    assert trials.heartbeat(second.fence, 123, "out", "")
    assert metrics.record(Trial.objects.get(pk=trial_id), [POINT])
    assert post_metric(second.token, trial_id).status_code == 201
    assert trials.finish(second.fence, 0, "", "out", "")
    trial = Trial.objects.get(pk=trial_id)
    assert (trial.status, trial.attempt, trial.exit_code) == ("succeeded", 2, 0)
    assert sorted(trial.metric_points.values_list("step", flat=True)) == [1, 2]


def test_it_keeps_a_stopped_trial_stopped_but_stores_how_its_attempt_ended(trial_id):
    claimed = claim(trial_id)
    assert trials.kill(trial_id)

    assert not trials.heartbeat(claimed.fence, 123)
    assert not metrics.record(Trial.objects.get(pk=trial_id), [POINT])
    assert trials.finish(claimed.fence, -15, "stopped", "out", "err")
    trial = Trial.objects.get(pk=trial_id)
    assert (trial.status, trial.exit_code, trial.stdout_tail) == ("stopped", -15, "out")
    assert trial.error == "killed by a user"


def test_it_requeues_an_attempt_that_gave_up_for_want_of_heartbeats(trial_id):
    claimed = claim(trial_id)

    assert trials.give_up(claimed.fence, "stopped heartbeating")
    assert not trials.give_up(claimed.fence, "stopped heartbeating")
    trial = Trial.objects.get(pk=trial_id)
    assert (trial.status, trial.token_hash) == ("pending", "")


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("bad\x00name", 1.0, "NUL or a lone surrogate"),
        ("bad\ud800name", 1.0, "NUL or a lone surrogate"),
        ("loss", 10**400, "too large for a float"),
        ("loss", "0.5", "must be a number"),
    ],
)
def test_it_refuses_points_postgresql_cannot_store(name, value, problem):
    with pytest.raises(metrics.MetricError, match=problem):
        metrics.make_point(name, 1, value)


def test_it_answers_a_nul_in_a_posted_metric_name_with_a_clear_error(trial_id):
    claimed = claim(trial_id)

    response = post_metric(claimed.token, trial_id, name="bad\x00name")
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]
    assert Trial.objects.get(pk=trial_id).metric_points.count() == 0
