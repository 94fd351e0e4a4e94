"""The trials API: filtered lists, detail with lineage, and kill."""

from __future__ import annotations

import pytest

from scheduler.models import Trial
from tests.conftest import wait_for
from tests.test_api_sweeps import add_trials, client_for, make_sweep, slow_yaml


@pytest.fixture
def sweep(cast):
    """A sweep of the cast's team with 3 succeeded and 2 pending trials in bracket 4, 1 in 3."""
    sweep = make_sweep(cast.team, cast.admin)
    add_trials(sweep, 3, status="succeeded", metric_value=0.5)
    add_trials(sweep, 2, status="pending")
    add_trials(sweep, 1, bracket=3, status="pending")
    return sweep


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [t["id"] for t in response.json()["results"]]


def test_it_filters_trials_by_sweep_status_bracket_and_rung(cast, sweep):
    other = make_sweep(cast.team)
    [elsewhere] = add_trials(other, 1)
    trials = list(sweep.trials.order_by("id"))
    client = client_for(cast.viewer)

    assert ids(client.get(f"/api/trials/?sweep={sweep.pk}")) == [t.pk for t in trials]
    assert ids(client.get("/api/trials/?status=succeeded")) == [t.pk for t in trials[:3]]
    assert ids(client.get(f"/api/trials/?sweep={sweep.pk}&bracket=3")) == [trials[5].pk]
    assert ids(client.get(f"/api/trials/?sweep={sweep.pk}&rung=1")) == []
    assert elsewhere.pk in ids(client.get("/api/trials/"))


def test_it_lists_trials_with_their_params_and_pages(cast, sweep):
    response = client_for(cast.viewer).get(f"/api/trials/?sweep={sweep.pk}&limit=2&offset=1")

    body = response.json()
    assert body["count"] == 6
    first = body["results"][0]
    assert first["params"] == {"x": 0.1}
    assert (first["bracket"], first["rung"], first["resource"]) == (4, 0, 1.0)
    assert (first["status"], first["metric_value"], first["attempt"]) == ("succeeded", 0.5, 0)
    assert body["next"] is not None


def test_it_shows_no_trials_of_other_teams(cast, sweep):
    client = client_for(cast.outsider)
    trial = sweep.trials.first()

    assert ids(client.get("/api/trials/")) == []
    assert client.get(f"/api/trials/?sweep={sweep.pk}").status_code == 404
    assert client.get(f"/api/trials/{trial.pk}/").json() == {"error": f"trial {trial.pk} not found"}
    assert client.post(f"/api/trials/{trial.pk}/kill/").status_code == 404


def test_it_refuses_bad_filters(cast):
    response = client_for(cast.viewer).get("/api/trials/?status=sleeping&rung=-1")

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"status", "rung"}


def test_it_shows_a_trial_with_its_lineage(cast, sweep):
    first = sweep.trials.filter(status="succeeded").first()
    Trial.objects.filter(pk=first.pk).update(
        promoted=True, stdout_tail="out\n", stderr_tail="err\n", exit_code=0, command="python x"
    )
    child = Trial.objects.create(
        sweep=sweep, config=first.config, bracket=4, rung=1, resource=3.0, parent=first
    )

    body = client_for(cast.viewer).get(f"/api/trials/{child.pk}/").json()

    assert body["parent"] == first.pk
    assert [(t["id"], t["rung"], t["promoted"]) for t in body["lineage"]] == [
        (first.pk, 0, True),
        (child.pk, 1, False),
    ]
    parent = client_for(cast.viewer).get(f"/api/trials/{first.pk}/").json()
    assert (parent["stdout_tail"], parent["stderr_tail"], parent["exit_code"]) == (
        "out\n", "err\n", 0
    )  # fmt: skip
    assert parent["command"] == "python x"


def test_it_lets_a_viewer_read_but_not_kill_a_trial(cast, sweep):
    trial = sweep.trials.filter(status="pending").first()

    response = client_for(cast.viewer).post(f"/api/trials/{trial.pk}/kill/")

    assert response.status_code == 403
    assert Trial.objects.get(pk=trial.pk).status == "pending"


def test_it_will_not_kill_an_ended_trial(cast, sweep):
    trial = sweep.trials.filter(status="succeeded").first()

    response = client_for(cast.member).post(f"/api/trials/{trial.pk}/kill/")

    assert response.status_code == 409
    assert response.json() == {"error": f"trial {trial.pk} is succeeded; it has already ended"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_kills_a_running_trial(celery_worker, cast):
    client = client_for(cast.member)
    sweep_id = client.post("/api/sweeps/", {"yaml": slow_yaml()}, format="json").json()["id"]
    running = Trial.objects.filter(sweep_id=sweep_id, status="running", pid__isnull=False)
    victim = wait_for(running.first)

    response = client.post(f"/api/trials/{victim.pk}/kill/")

    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    trial = wait_for(lambda: Trial.objects.filter(pk=victim.pk, pid__isnull=True).first(), 30)
    assert (trial.status, trial.error) == ("stopped", "killed by a user")
    # The freed slot goes to the next pending trial.
    wait_for(lambda: running.exclude(pk=victim.pk).count() == 2, timeout=30)
    client.post(f"/api/sweeps/{sweep_id}/stop/")
