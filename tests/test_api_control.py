"""The control API: pause, resume, retry and concurrency, by role, with the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from scheduler import access, sweeps, tasks
from scheduler.models import ShareLink, Sweep, Trial
from tests.sweeps import started_sweep
from tests.test_api_sweeps import client_for


@pytest.fixture
def running(cast) -> Sweep:
    return started_sweep(cast.team, cast.member)


def post(user, url: str, body: dict | None = None):
    return client_for(user).post(url, body or {}, format="json")


def test_members_and_admins_pause_and_resume(running, cast):
    paused = post(cast.member, f"/api/sweeps/{running.pk}/pause/", {"requeue": True})
    assert paused.status_code == 200, paused.json()
    assert paused.json()["paused_at"] is not None and paused.json()["status"] == "running"

    resumed = post(cast.admin, f"/api/sweeps/{running.pk}/resume/")
    assert resumed.status_code == 200, resumed.json()
    assert resumed.json()["paused_at"] is None
    by = [e.payload["by"] for e in running.events.filter(kind__in=["sweep_paused",
                                                                    "sweep_resumed"])]  # fmt: skip
    assert by == ["member", "admin"]


def test_viewers_outsiders_and_share_links_cannot_act(running, cast):
    urls = [f"/api/sweeps/{running.pk}/{action}/" for action in ("pause", "resume", "retry")]
    urls.append(f"/api/trials/{running.trials.first().pk}/retry/")
    for url in urls:
        assert post(cast.viewer, url).status_code == 403, url
        assert post(cast.outsider, url).status_code == 404, url
        assert APIClient().post(url, {}, format="json").status_code == 401, url
    refused = post(cast.viewer, f"/api/sweeps/{running.pk}/concurrency/", {"concurrency": 2})
    assert refused.status_code == 403
    assert Sweep.objects.get(pk=running.pk).concurrency == 4
    link = ShareLink.objects.create(sweep=running)
    found = access.sweep_access(cast.outsider, running.pk, access.share_token(link))
    assert found is not None and not access.can_control(found)
    assert access.can_control(access.sweep_access(cast.member, running.pk))


def test_it_changes_concurrency_and_refuses_bad_values(running, cast):
    changed = post(cast.member, f"/api/sweeps/{running.pk}/concurrency/", {"concurrency": 2})
    zero = post(cast.member, f"/api/sweeps/{running.pk}/concurrency/", {"concurrency": 0})
    text = post(cast.member, f"/api/sweeps/{running.pk}/concurrency/", {"concurrency": "x"})

    assert changed.status_code == 200 and changed.json()["concurrency"] == 2
    assert zero.status_code == 409 and "from 1 to 10000" in zero.json()["error"]
    assert text.status_code == 400
    assert running.trials.occupying().count() == 2


def test_it_retries_one_trial_and_shows_its_attempts(running, cast):
    trial = running.trials.order_by("id").first()
    Trial.objects.filter(pk=trial.pk).update(
        status="failed", attempt=1, error="exited with code 3", exit_code=3,
        finished_at=timezone.now(),
    )  # fmt: skip

    retried = post(cast.member, f"/api/trials/{trial.pk}/retry/")
    again = post(cast.member, f"/api/trials/{trial.pk}/retry/")

    assert retried.status_code == 200, retried.json()
    body = retried.json()
    assert body["status"] == "pending" and body["attempt"] == 1
    assert body["attempts"][0]["number"] == 1
    assert body["attempts"][0]["status"] == "failed"
    assert body["attempts"][0]["exit_code"] == 3
    assert body["attempts"][0]["why"] == "retried by member"
    assert again.status_code == 409 and "did not fail" in again.json()["error"]


def test_it_retries_every_failed_trial_of_a_rung(running, cast):
    rung = running.trials.filter(bracket=2, rung=0)
    rung.update(status="failed", attempt=1)
    other = running.trials.filter(bracket=1).first()
    Trial.objects.filter(pk=other.pk).update(status="failed", attempt=1)

    response = post(cast.member, f"/api/sweeps/{running.pk}/retry/", {"bracket": 2, "rung": 0})

    assert response.status_code == 200, response.json()
    assert sorted(response.json()["retried"]) == sorted(rung.values_list("id", flat=True))
    assert Trial.objects.get(pk=other.pk).status == "failed"


def test_it_resumes_a_stopped_sweep_and_refuses_a_succeeded_one(running, cast):
    sweeps.stop_sweep(running.pk)
    resumed = post(cast.member, f"/api/sweeps/{running.pk}/resume/")
    assert resumed.status_code == 200, resumed.json()
    assert (resumed.json()["status"], resumed.json()["run"]) == ("running", 2)

    Sweep.objects.filter(pk=running.pk).update(status="succeeded")
    refused = post(cast.member, f"/api/sweeps/{running.pk}/resume/")
    assert refused.status_code == 409
    assert "only a paused, stopped or failed sweep resumes" in refused.json()["error"]
    tasks.advance(running.pk)


def test_the_schema_documents_the_controls(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    for path in ("pause", "resume", "retry", "concurrency"):
        assert "post" in paths[f"/api/sweeps/{{id}}/{path}/"]
    assert "post" in paths["/api/trials/{id}/retry/"]
    components = schema.json()["components"]["schemas"]
    assert "requeue" in components["PauseInput"]["properties"]
    assert "attempts" in components["TrialDetail"]["properties"]


def test_the_page_controls_act_for_members_only_with_or_without_javascript(running, cast):
    url = f"/sweeps/{running.pk}/pause/"
    viewer = client_for(cast.viewer).post(url)
    plain = client_for(cast.member).post(url, {"requeue": "1"})
    again = client_for(cast.member).post(url, HTTP_ACCEPT="application/json")
    followed = client_for(cast.member).post(url, follow=True)

    assert viewer.status_code == 404
    assert plain.status_code == 302 and plain["Location"] == f"/sweeps/{running.pk}/"
    assert Sweep.objects.get(pk=running.pk).paused_at is not None
    assert again.status_code == 409 and "is paused" in again.json()["error"]
    assert "is paused" in followed.content.decode()
    concurrency = client_for(cast.admin).post(
        f"/sweeps/{running.pk}/concurrency/", {"concurrency": "3"}, HTTP_ACCEPT="application/json"
    )
    assert concurrency.json() == {"ok": True}
    assert Sweep.objects.get(pk=running.pk).concurrency == 3


def test_the_trial_table_offers_retry_to_members_while_the_sweep_can_run(running, cast):
    trial = running.trials.order_by("id").first()
    Trial.objects.filter(pk=trial.pk).update(status="failed", attempt=1)
    url = f"/ui/sweeps/{running.pk}/trials/"
    button = f'data-retry="{trial.pk}"'

    assert button in client_for(cast.member).get(url).json()["html"]
    assert button not in client_for(cast.viewer).get(url).json()["html"]
    Sweep.objects.filter(pk=running.pk).update(status="succeeded")
    assert button not in client_for(cast.member).get(url).json()["html"]
