"""The sweeps API: create, list, detail, stop, clone, plan, events, auth and error bodies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from scheduler import access, events, sweeps
from scheduler.models import ApiToken, Config, RungDecision, Sweep, Trial
from tests.conftest import wait_for
from tests.sweeps import hyperband_yaml

QUICK_CMD = "python -c 'print({{ x }}, {{ num_steps }})'"
SLOW_CMD = "sleep 60 # {{ x }} {{ num_steps }}"
YAML = hyperband_yaml(name="quadratic", concurrency=4, cmd=QUICK_CMD)  # 206 trials


def slow_yaml() -> str:
    """Two trials at a time that each sleep a minute: a sweep to stop or kill."""
    return hyperband_yaml(name="quadratic", concurrency=2, cmd=SLOW_CMD)


# Two errors: line 5 has a bad concurrency, line 7 a bad eta; run is missing too.
BAD_YAML = """\
version: 1
kind: group
hptuning:
  seed: 1
  concurrency: lots
  hyperband:
    eta: 1
    max_iter: 81
    resource: {name: num_steps, type: int}
    metric: {name: loss, optimization: minimize}
  matrix:
    x: {uniform: [0, 1]}
"""


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def make_sweep(team, owner=None, text: str = YAML) -> Sweep:
    """Store a sweep that never starts: in a `db` test the advance task is never sent."""
    return sweeps.create_sweep(text, team=team, owner=owner)


def add_trials(sweep: Sweep, n: int, bracket: int = 4, rung: int = 0, **fields) -> list[Trial]:
    """Create n configs of a bracket, each with one trial at `rung`."""
    start = Config.objects.filter(sweep=sweep, bracket=bracket).count()
    configs = Config.objects.bulk_create(
        Config(sweep=sweep, bracket=bracket, index=start + i, params={"x": i / 10})
        for i in range(n)
    )
    resource = 3.0**rung
    return Trial.objects.bulk_create(
        Trial(sweep=sweep, config=c, bracket=bracket, rung=rung, resource=resource, **fields)
        for c in configs
    )


def issue_positions(body) -> list[tuple[int, int]]:
    return [(e["line"], e["column"]) for e in body["errors"]]


# --- create -------------------------------------------------------------------------------


def test_it_creates_a_sweep_from_json(cast):
    response = client_for(cast.member).post(
        "/api/sweeps/", {"yaml": YAML, "name": "first try"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    sweep = Sweep.objects.get(pk=body["id"])
    assert response["Location"].endswith(f"/api/sweeps/{sweep.pk}/")
    assert (sweep.name, sweep.owner, sweep.yaml) == ("first try", cast.member, YAML)
    assert sweep.team == access.personal_team(cast.member)
    assert body["plan"]["total_trials"] == 206
    assert body["status"] == "created"


def test_it_creates_a_sweep_from_a_file_upload(cast):
    upload = SimpleUploadedFile("sweep.yml", YAML.encode(), content_type="application/yaml")

    response = client_for(cast.member).post(
        "/api/sweeps/", {"file": upload, "team": cast.team.pk}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    sweep = Sweep.objects.get(pk=response.json()["id"])
    assert (sweep.yaml, sweep.team, sweep.name) == (YAML, cast.team, "quadratic")


def test_it_creates_a_sweep_from_a_raw_yaml_body(cast):
    response = client_for(cast.admin).post(
        f"/api/sweeps/?name=raw&team={cast.team.pk}", YAML, content_type="application/yaml"
    )

    assert response.status_code == 201, response.json()
    sweep = Sweep.objects.get(pk=response.json()["id"])
    assert (sweep.yaml, sweep.name, sweep.team) == (YAML, "raw", cast.team)


def test_it_checks_the_role_in_the_team_a_sweep_goes_to(cast):
    body = {"yaml": YAML, "team": cast.team.pk}

    viewer = client_for(cast.viewer).post("/api/sweeps/", body, format="json")
    outsider = client_for(cast.outsider).post("/api/sweeps/", body, format="json")

    assert viewer.status_code == 403
    assert "member" in viewer.json()["error"]
    assert outsider.status_code == 404
    assert outsider.json() == {"error": f"team {cast.team.pk} not found"}
    assert not Sweep.objects.exists()


def test_it_reports_every_spec_error_with_line_and_column(cast):
    response = client_for(cast.member).post("/api/sweeps/", {"yaml": BAD_YAML}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid sweep"
    positions = issue_positions(body)
    assert (5, 16) in positions
    assert (7, 10) in positions
    assert any("run" in e["message"] for e in body["errors"])
    assert not Sweep.objects.exists()


def test_it_reports_malformed_yaml_with_its_position(cast):
    text = "version: 1\nkind: group\nhptuning: [unclosed\n"

    response = client_for(cast.member).post("/api/sweeps/", text, content_type="text/yaml")

    assert response.status_code == 400
    [issue] = response.json()["errors"]
    assert issue["line"] >= 3
    assert "YAML syntax error" in issue["message"]
    assert not Sweep.objects.exists()


def test_it_needs_yaml_or_a_file(cast):
    response = client_for(cast.member).post("/api/sweeps/", {"name": "x"}, format="json")

    assert response.status_code == 400
    assert "yaml" in response.json()["error"]


@override_settings(HBSITE_MAX_YAML_BYTES=2000)
def test_it_refuses_oversized_yaml_in_every_form(cast):
    big = YAML + "#" * 2000 + "\n"
    client = client_for(cast.member)

    as_json = client.post("/api/sweeps/", {"yaml": big}, format="json")
    upload = SimpleUploadedFile("big.yml", big.encode())
    as_file = client.post("/api/sweeps/", {"file": upload}, format="multipart")
    as_raw = client.post("/api/sweeps/", big, content_type="application/yaml")
    huge = client.post("/api/sweeps/", big * 50, content_type="application/yaml")

    for response in (as_json, as_file, as_raw, huge):
        assert response.status_code == 413
        assert "the limit is" in response.json()["error"]
    size = len(big.encode())
    assert as_json.json()["error"] == f"the sweep YAML is {size} bytes; the limit is 2000 bytes"
    assert huge.json()["error"].startswith(f"the request body is {50 * size} bytes")
    assert not Sweep.objects.exists()


# --- read ---------------------------------------------------------------------------------


def test_it_lists_only_visible_sweeps(cast):
    mine = make_sweep(cast.team, cast.admin)
    theirs = make_sweep(cast.other_team, cast.outsider)

    member = client_for(cast.member).get("/api/sweeps/").json()
    outsider = client_for(cast.outsider)

    assert [s["id"] for s in member["results"]] == [mine.pk]
    assert [s["id"] for s in outsider.get("/api/sweeps/").json()["results"]] == [theirs.pk]
    assert outsider.get(f"/api/sweeps/{mine.pk}/").status_code == 404
    assert outsider.get(f"/api/sweeps/{mine.pk}/events/").status_code == 404
    assert outsider.post(f"/api/sweeps/{mine.pk}/stop/").status_code == 404


def test_it_filters_sweeps_by_status(cast):
    running = make_sweep(cast.team)
    Sweep.objects.filter(pk=running.pk).update(status="running")
    make_sweep(cast.team)
    client = client_for(cast.viewer)

    found = client.get("/api/sweeps/?status=running").json()["results"]
    bad = client.get("/api/sweeps/?status=sleeping")

    assert [s["id"] for s in found] == [running.pk]
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("invalid request: status:")


def test_it_shows_counts_decisions_and_the_best_trial(cast):
    sweep = make_sweep(cast.team, cast.admin)
    rung0 = add_trials(sweep, 3, status="succeeded")
    for trial, loss in zip(rung0, (0.5, 0.2, 0.9), strict=True):
        trial.metric_value = loss
        trial.save(update_fields=["metric_value"])
    add_trials(sweep, 2, status="running")
    RungDecision.objects.create(sweep=sweep, bracket=4, rung=0, promoted=1, cutoff=0.2)

    body = client_for(cast.viewer).get(f"/api/sweeps/{sweep.pk}/").json()

    first = body["brackets"][0]
    assert first["s"] == 4
    assert first["rungs"][0]["counts"] == {"succeeded": 3, "running": 2}
    assert first["rungs"][0]["configs"] == 81
    assert first["rungs"][0]["decision"]["cutoff"] == 0.2
    assert first["rungs"][1]["decision"] is None
    assert body["totals"] == {
        "planned_configs": 143,
        "planned_trials": 206,
        "trials": 5,
        "counts": {"succeeded": 3, "running": 2},
    }
    assert body["best"]["trial"] == rung0[1].pk
    assert body["best"]["value"] == 0.2
    assert (body["owner"], body["team"]) == ("admin", cast.team.pk)


def test_it_shows_a_sweep_in_a_fixed_number_of_queries(cast, django_assert_max_num_queries):
    sweep = make_sweep(cast.team, cast.admin)
    client = client_for(cast.member)
    add_trials(sweep, 3, status="succeeded", metric_value=0.1)
    with django_assert_max_num_queries(9) as few:
        client.get(f"/api/sweeps/{sweep.pk}/")
    for bracket in (4, 3, 2):
        add_trials(sweep, 30, bracket=bracket, status="succeeded", metric_value=0.5)
        add_trials(sweep, 10, bracket=bracket, rung=1, status="running")
        RungDecision.objects.create(sweep=sweep, bracket=bracket, rung=0, promoted=10)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/api/sweeps/{sweep.pk}/")

    assert response.json()["totals"]["trials"] == 123


def test_it_returns_a_sweeps_plan(cast):
    sweep = make_sweep(cast.team)

    body = client_for(cast.viewer).get(f"/api/sweeps/{sweep.pk}/plan/").json()

    assert body["plan"] == sweep.plan
    assert "bracket=4" in body["table"]


def test_it_previews_the_81_3_plan_without_creating_a_sweep(cast):
    response = client_for(cast.viewer).post("/api/plan/", {"yaml": YAML}, format="json")

    assert response.status_code == 200
    plan = response.json()["plan"]
    assert [b["rungs"][0]["configs"] for b in plan["brackets"]] == [81, 34, 15, 8, 5]
    assert (plan["total_configs"], plan["total_trials"]) == (143, 206)
    assert re.search(r"total trials:\s+206\n", response.json()["table"])
    assert not Sweep.objects.exists()


def test_it_previews_invalid_yaml_as_a_400(cast):
    response = client_for(cast.viewer).post("/api/plan/", BAD_YAML, content_type="text/yaml")

    assert response.status_code == 400
    assert (5, 16) in issue_positions(response.json())


def test_it_returns_events_after_a_seq(cast):
    sweep = make_sweep(cast.team)  # seq 1: sweep_created
    for n in range(4):
        events.emit(sweep, events.TRIAL_QUEUED, {"trials": [n]})
    client = client_for(cast.viewer)

    page = client.get(f"/api/sweeps/{sweep.pk}/events/?after=1&limit=2").json()
    rest = client.get(f"/api/sweeps/{sweep.pk}/events/?after={page['last_seq']}").json()
    none = client.get(f"/api/sweeps/{sweep.pk}/events/?after=5").json()

    assert [e["seq"] for e in page["events"]] == [2, 3]
    assert (page["last_seq"], page["more"]) == (3, True)
    assert [e["payload"]["trials"] for e in rest["events"]] == [[2], [3]]
    assert (rest["last_seq"], rest["more"]) == (5, False)
    assert none == {"events": [], "last_seq": 5, "more": False}


# --- change -------------------------------------------------------------------------------


def test_it_lets_a_viewer_read_but_not_stop_or_clone(cast):
    sweep = make_sweep(cast.team, cast.admin)
    client = client_for(cast.viewer)

    assert client.get(f"/api/sweeps/{sweep.pk}/").status_code == 200
    stop = client.post(f"/api/sweeps/{sweep.pk}/stop/")
    clone = client.post(f"/api/sweeps/{sweep.pk}/clone/", {}, format="json")

    assert stop.status_code == clone.status_code == 403
    assert stop.json() == {"error": "this needs the member role in team 'Vision'; you are a viewer"}
    assert Sweep.objects.get(pk=sweep.pk).status == "created"
    assert Sweep.objects.count() == 1


def test_it_clones_a_sweep_into_its_team_for_the_caller(cast):
    sweep = make_sweep(cast.team, cast.admin)
    client = client_for(cast.member)

    same = client.post(f"/api/sweeps/{sweep.pk}/clone/")
    edited_yaml = YAML.replace("concurrency: 4", "concurrency: 2")
    edited = client.post(
        f"/api/sweeps/{sweep.pk}/clone/", {"yaml": edited_yaml, "name": "v2"}, format="json"
    )

    assert same.status_code == edited.status_code == 201
    first = Sweep.objects.get(pk=same.json()["id"])
    second = Sweep.objects.get(pk=edited.json()["id"])
    assert (first.yaml, first.team, first.owner, first.name) == (
        YAML, cast.team, cast.member, "quadratic"
    )  # fmt: skip
    assert (second.concurrency, second.name, second.team) == (2, "v2", cast.team)


def test_it_refuses_a_clone_with_invalid_yaml(cast):
    sweep = make_sweep(cast.team, cast.admin)

    response = client_for(cast.member).post(
        f"/api/sweeps/{sweep.pk}/clone/", {"yaml": BAD_YAML}, format="json"
    )

    assert response.status_code == 400
    assert Sweep.objects.count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_stops_a_running_sweep_and_its_trials(celery_worker, cast):
    client = client_for(cast.member)
    sweep_id = client.post("/api/sweeps/", {"yaml": slow_yaml()}, format="json").json()["id"]
    wait_for(lambda: Trial.objects.filter(sweep_id=sweep_id, status="running").count() == 2)

    response = client.post(f"/api/sweeps/{sweep_id}/stop/")
    again = client.post(f"/api/sweeps/{sweep_id}/stop/")

    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    assert again.status_code == 409
    assert again.json() == {
        "error": f"sweep {sweep_id} is stopped; only an active sweep can be stopped"
    }
    trials = Trial.objects.filter(sweep_id=sweep_id)
    assert set(trials.values_list("status", flat=True)) == {"stopped"}
    # The runners notice on their next heartbeat and end the processes.
    wait_for(lambda: not trials.filter(pid__isnull=False).exists(), timeout=30)


# --- auth, schema and error bodies --------------------------------------------------------


def test_it_authenticates_with_a_bearer_token(cast):
    sweep = make_sweep(cast.team)
    token, secret = ApiToken.issue(cast.viewer, "script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    first = client.get(f"/api/sweeps/{sweep.pk}/")
    used_at = ApiToken.objects.get(pk=token.pk).last_used_at
    client.get(f"/api/sweeps/{sweep.pk}/")

    assert first.status_code == 200
    assert used_at is not None
    assert ApiToken.objects.get(pk=token.pk).last_used_at == used_at  # once a minute at most


def test_it_refreshes_last_used_after_a_minute(cast):
    token, secret = ApiToken.issue(cast.viewer, "script")
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert client.get("/api/sweeps/").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at > long_ago


def test_it_refuses_revoked_and_unknown_tokens(cast):
    token, secret = ApiToken.issue(cast.viewer, "script")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    client = APIClient()

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    revoked = client.get("/api/sweeps/")
    client.credentials(HTTP_AUTHORIZATION="Bearer hbs_not-a-token")
    unknown = client.get("/api/sweeps/")

    for response in (revoked, unknown):
        assert response.status_code == 401
        assert response.json() == {"error": "invalid or revoked API token"}
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_serves_the_openapi_schema_and_docs(db):
    client = APIClient()

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/sweeps/", "/api/sweeps/{id}/", "/api/sweeps/{id}/stop/", "/api/sweeps/{id}/clone/",
        "/api/sweeps/{id}/events/", "/api/plan/", "/api/trials/", "/api/trials/{id}/kill/",
        "/api/trials/{id}/metrics/",
    ):  # fmt: skip
        assert path in paths
    assert "post" in paths["/api/trials/{id}/metrics/"]
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_it_answers_every_error_in_one_shape(cast):
    client = client_for(cast.member)

    anonymous = APIClient().get("/api/sweeps/")
    missing = client.get("/api/sweeps/999999/")
    method = client.put("/api/sweeps/")
    malformed = client.post("/api/sweeps/", "{not json", content_type="application/json")
    media = client.post("/api/sweeps/", "x=1", content_type="text/csv")

    assert (anonymous.status_code, missing.status_code, method.status_code) == (401, 404, 405)
    assert (malformed.status_code, media.status_code) == (400, 415)
    assert missing.json() == {"error": "sweep 999999 not found"}
    for response in (anonymous, method, malformed, media):
        assert set(response.json()) == {"error"}
        assert response.json()["error"]
    assert "JSON parse error" in malformed.json()["error"]
