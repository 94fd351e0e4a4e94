"""Hyperparameter importance: the pure computation, the per-rung read, the API and the page's
JSON, with access by role and share link."""

from __future__ import annotations

import math
import random

import pytest

from scheduler import analysis, importance, tasks
from tests.conftest import login
from tests.insight_world import add_trial, add_trials, loss, make_sweep
from tests.sharing_world import client_as

KINDS = {"lr": "loguniform", "act": "values", "noise": "uniform"}


def rows(n: int, seed: int = 3):
    rng = random.Random(seed)
    params = [{"lr": math.exp(rng.uniform(-9, 0)), "act": rng.choice(["relu", "tanh"]),
               "noise": rng.uniform(0, 1)} for _ in range(n)]  # fmt: skip
    return params, [loss(p) for p in params]


def test_it_ranks_the_param_that_drives_the_metric_first():
    params, values = rows(60)
    found = importance.compute(params, values, KINDS)
    assert [p.name for p in found.params][:2] == ["lr", "act"]
    assert found.params[0].share > 0.8
    assert found.trials == 60
    assert math.isclose(sum(p.share for p in found.params), 1.0)
    assert {p.name: p.scale for p in found.params} == {
        "lr": "log", "act": "category", "noise": "linear",
    }  # fmt: skip
    assert found.fit is not None and found.fit > 0.5


def test_it_is_deterministic_for_a_seed():
    params, values = rows(30)
    assert importance.compute(params, values, KINDS) == importance.compute(params, values, KINDS)


def test_it_ranks_infinite_values_without_being_thrown_by_them():
    params, values = rows(40)
    values[0] = math.inf
    found = importance.compute(params, values, KINDS)
    assert found.params[0].name == "lr"


def test_it_refuses_too_few_trials():
    params, values = rows(importance.MIN_TRIALS - 1)
    with pytest.raises(importance.NotEnoughTrials, match="needs 8"):
        importance.compute(params, values, KINDS)


def test_it_encodes_categories_logs_and_numbers():
    assert importance.encode(["b", "a", "b"], "category") == [1.0, 0.0, 1.0]
    assert importance.encode([10, 1000], "log") == [1.0, 3.0]
    assert importance.scale_of("values", [16, 32]) == "linear"
    assert importance.scale_of("values", [True, False]) == "category"
    assert importance.scale_of("loguniform", [0.1, 0.001]) == "log"


def test_it_names_the_extra_when_scikit_learn_is_missing(monkeypatch):
    monkeypatch.setattr(importance.importlib.util, "find_spec", lambda name: None)
    assert "hbsite[analysis]" in importance.missing()


@pytest.fixture
def world(cast):
    sweep = make_sweep(cast.team, cast.member)
    add_trials(sweep, 24, resource=3.0, seed=1, bracket=1, rung=0)
    add_trials(sweep, 9, resource=9.0, seed=2, bracket=1, rung=1)
    add_trial(sweep, {"lr": 0.1, "act": "relu", "noise": 0.5}, None, 9.0, status="failed", rung=1)
    add_trial(sweep, {"lr": 0.2, "act": "relu", "noise": 0.5}, math.nan, 9.0, rung=1)
    add_trials(sweep, 3, resource=1.0, seed=3)
    return sweep


def computed(sweep, resource=None) -> dict:
    """Ask for the importance, run the task it queues (as the scheduler would), ask again."""
    first = analysis.sweep_importance(sweep, resource)
    if first["pending"]:
        tasks.importance(sweep.pk)
    return analysis.sweep_importance(sweep, resource)


def test_it_queues_the_computation_once_and_answers_pending(
    world, held_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = analysis.sweep_importance(world)
        assert first["pending"] and not first["available"]
        assert first["reason"] == "Computing importance…"
        assert len(first["points"]) == 9  # slices need no forest
        assert analysis.sweep_importance(world)["pending"]
    assert held_tasks == [("scheduler.tasks.importance", (world.pk,))]
    tasks.importance(world.pk)
    found = analysis.sweep_importance(world)
    assert found["available"] and not found["pending"]
    assert held_tasks == [("scheduler.tasks.importance", (world.pk,))]


def test_it_explains_the_highest_rung_with_enough_trials(world):
    found = computed(world)
    assert found["available"], found["reason"]
    assert found["level"]["resource"] == 9.0
    assert found["trials"] == 9  # the failed and the NaN trial are left out
    assert found["level"]["excluded"] == 2
    assert len(found["points"]) == 9
    assert [lv["resource"] for lv in found["levels"]] == [1.0, 3.0, 9.0]


def test_it_explains_the_rung_asked_for_or_says_why_not(world):
    assert computed(world, 3.0)["trials"] == 24
    few = computed(world, 1.0)
    assert not few["available"]
    assert few["reason"].startswith("3 usable trials at this rung")
    assert len(few["points"]) == 3  # slices still show what there is, on the right axes
    assert [p["scale"] for p in few["params"]] == ["log", "category", "linear"]


def test_it_computes_once_per_change_of_the_rung(world, monkeypatch):
    calls = []
    real = importance.compute
    monkeypatch.setattr(importance, "compute", lambda *a: calls.append(1) or real(*a))
    first = computed(world, 3.0)
    assert computed(world, 3.0)["params"] == first["params"]
    assert len(calls) == 2  # the rungs at 3 and at 9; the one at 1 has too few trials
    add_trials(world, 1, resource=3.0, seed=9, bracket=1, rung=0)
    assert computed(world, 3.0)["trials"] == 25
    assert len(calls) == 3


def test_the_api_serves_importance_to_every_role(client, cast, world):
    tasks.importance(world.pk)
    for who in ("viewer", "member", "admin"):
        body = login(client, getattr(cast, who)).get(f"/api/sweeps/{world.pk}/importance/").json()
        assert body["available"] and body["trials"] == 9
        assert body["params"][0]["name"] == "lr"
    login(client, cast.outsider)
    assert client.get(f"/api/sweeps/{world.pk}/importance/").status_code == 404


def test_the_api_says_what_to_install_without_scikit_learn(client, cast, world, monkeypatch):
    monkeypatch.setattr(importance, "missing", lambda: "install hbsite[analysis]")
    body = login(client, cast.viewer).get(f"/api/sweeps/{world.pk}/importance/?resource=3").json()
    assert body["available"] is False and "hbsite[analysis]" in body["reason"]
    assert len(body["points"]) == 24


def test_the_api_rejects_a_resource_that_is_not_a_number(client, cast, world):
    response = login(client, cast.viewer).get(f"/api/sweeps/{world.pk}/importance/?resource=x")
    assert response.status_code == 400
    assert "resource" in str(response.json())


def test_the_page_json_opens_to_share_links_only_for_their_sweep(cast, world):
    from scheduler import access, sharing

    token = access.share_token(sharing.create_link(world, cast.member))
    anonymous = client_as(cast, "anonymous")
    tasks.importance(world.pk)
    body = anonymous.get(f"/ui/sweeps/{world.pk}/importance/?share={token}").json()
    assert body["trials"] == 9
    other = make_sweep(cast.team, cast.member, name="other")
    assert anonymous.get(f"/ui/sweeps/{other.pk}/importance/?share={token}").status_code == 404


def test_the_schema_documents_importance(client, cast):
    schema = login(client, cast.viewer).get("/api/schema/?format=json").json()
    assert "/api/sweeps/{id}/importance/" in schema["paths"]


def test_a_failed_computation_is_shown_instead_of_waiting_forever(world, monkeypatch):
    def broken(*args):
        raise MemoryError("out of memory")

    monkeypatch.setattr(importance, "compute", broken)
    found = computed(world, 3.0)
    assert not found["available"] and not found["pending"]
    assert found["reason"] == "Importance could not be computed: out of memory"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_scheduler_worker_computes_it_for_the_api(cast, world, celery_worker):
    from rest_framework.test import APIClient

    from scheduler.models import Sweep
    from tests.conftest import wait_for

    Sweep.objects.filter(pk=world.pk).update(status="succeeded")  # nothing left to schedule
    client = APIClient()
    client.force_login(cast.viewer)
    url = f"/api/sweeps/{world.pk}/importance/?resource=3"
    assert client.get(url).json()["pending"]
    body = wait_for(lambda: (b := client.get(url).json())["available"] and b, timeout=90)
    assert body["trials"] == 24 and body["params"][0]["name"] == "lr"
