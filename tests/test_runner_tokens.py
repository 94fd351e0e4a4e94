"""Runner tokens and the runner endpoints: what opens them, what they open, and the fence.

A runner token (hbr_...) opens only the runner endpoints, and only a runner token opens
them. Each report is fenced by the attempt it speaks for (scheduler.trials).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from scheduler import placement, queueing, runner, runner_db, trials
from scheduler.models import ApiToken, MetricPoint, RunnerToken, Trial, hash_secret
from tests.sweeps import finish_rung, hyperband_yaml, started_sweep, tiny_yaml

START = "/api/runner/trials/{}/start/"
HEARTBEAT = "/api/runner/trials/{}/heartbeat/"
REJECTED = "/api/runner/trials/{}/rejected/"
FINISH = "/api/runner/trials/{}/finish/"
DATA_DIR = "/srv/far/hbsite"


@pytest.fixture
def staff(cast):
    user = get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)
    cast.team.memberships.create(user=user, role="viewer")
    return user


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def runner_client(staff) -> APIClient:
    return bearer(RunnerToken.issue(staff, "far box")[1])


def queued_trial(cast) -> Trial:
    sweep = started_sweep(cast.team, cast.member)
    return sweep.trials.filter(status="queued").order_by("id").first()


def start(client: APIClient, trial: Trial, runner: str = "far-box"):
    body = {"runner": runner, "worker": "far:1:2", "data_dir": DATA_DIR}
    return client.post(START.format(trial.pk), body, format="json")


# --- what a runner token opens ------------------------------------------------------------


def test_a_runner_token_opens_no_other_endpoint(cast, staff):
    token, secret = RunnerToken.issue(staff, "far box")
    client = bearer(secret)
    trial = queued_trial(cast)

    for answer in (
        client.get("/api/sweeps/"),
        client.get(f"/api/sweeps/{trial.sweep_id}/"),
        client.post("/api/sweeps/", {"yaml": hyperband_yaml()}, format="json"),
        client.get("/api/trials/"),
        client.get(f"/api/trials/{trial.pk}/metrics/"),
        client.post(f"/api/trials/{trial.pk}/kill/"),
    ):
        assert answer.status_code == 401, answer.content
        assert "runner token" in answer.json()["error"]
    assert token.key_hash == hash_secret(secret) and secret.startswith("hbr_")
    assert not Trial.objects.filter(status="stopped").exists()


def test_only_a_live_runner_token_of_staff_opens_the_runner_endpoints(cast, staff):
    trial = queued_trial(cast)
    _, api_secret = ApiToken.issue(staff, "script")
    revoked, revoked_secret = RunnerToken.issue(staff, "old box")
    RunnerToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    _, not_staff_secret = RunnerToken.issue(cast.admin, "made before a demotion")
    session = APIClient()
    session.force_login(staff)

    for client in (bearer(api_secret), bearer(revoked_secret), bearer(not_staff_secret)):
        answer = start(client, trial)
        assert answer.status_code == 401, answer.content
    assert start(session, trial).status_code in (401, 403)
    assert start(APIClient(), trial).status_code in (401, 403)
    trial.refresh_from_db()
    assert (trial.status, trial.attempt, trial.runner) == ("queued", 0, "")


# --- one attempt through the runner endpoints ---------------------------------------------


def test_a_runner_claims_reports_and_finishes_an_attempt(cast, runner_client):
    trial = queued_trial(cast)

    answer = start(runner_client, trial)
    assert answer.status_code == 200, answer.content
    got = answer.json()
    trial.refresh_from_db()
    assert (trial.status, trial.runner, trial.worker) == ("running", "far-box", "far:1:2")
    assert got["attempt"] == trial.attempt == 1
    assert trial.token_hash == hash_secret(got["token"])
    assert got["checkpoint_dir"] == trial.checkpoint_dir
    assert trial.checkpoint_dir.startswith(f"{DATA_DIR}/sweeps/{trial.sweep_id}/")
    assert got["command"] == trial.command and "hbclient.report" in got["command"]
    assert got["params"] == trial.config.params and got["resource"] == trial.resource
    assert (got["resource_name"], got["workdir"]) == ("num_steps", ".")
    assert start(runner_client, trial).status_code == 409  # claimed once only

    fence = {"attempt": got["attempt"], "token": got["token"]}
    beat = runner_client.post(
        HEARTBEAT.format(trial.pk), {**fence, "pid": 4242, "stdout": "hello\n"}, format="json"
    )
    assert beat.json() == {"stop": False}
    metrics = APIClient()
    metrics.credentials(HTTP_AUTHORIZATION=f"Trial {got['token']}")
    posted = metrics.post(
        f"/api/trials/{trial.pk}/metrics/", {"points": [{"name": "loss", "value": 0.5}]},
        format="json",
    )  # fmt: skip
    assert posted.status_code == 201, posted.content
    bad = {**fence, "reasons": ["stdout line 3: not a metric line (ValueError)"], "count": 1}
    assert runner_client.post(REJECTED.format(trial.pk), bad, format="json").json() == {
        "recorded": True
    }
    done = {**fence, "exit_code": 0, "stdout": "hello\nbye\n", "stderr": ""}
    assert runner_client.post(FINISH.format(trial.pk), done, format="json").json() == {
        "recorded": True
    }

    trial.refresh_from_db()
    assert (trial.status, trial.exit_code, trial.stdout_tail) == ("succeeded", 0, "hello\nbye\n")
    assert trial.rejected_points == 1 and trial.last_metrics == {"loss": 0.5}
    assert MetricPoint.objects.filter(trial=trial).count() == 1
    # The attempt is over: a heartbeat says stop; a finish sent again (its answer was lost)
    # changes nothing.
    late = runner_client.post(HEARTBEAT.format(trial.pk), fence, format="json")
    assert late.json() == {"stop": True}
    again = {**done, "exit_code": 1}
    runner_client.post(FINISH.format(trial.pk), again, format="json")
    trial.refresh_from_db()
    assert (trial.status, trial.error) == ("succeeded", "")


def test_a_report_for_another_attempt_changes_nothing(cast, runner_client):
    trial = queued_trial(cast)
    got = start(runner_client, trial).json()
    wrong = {"attempt": got["attempt"], "token": "not-the-token"}

    beat = runner_client.post(HEARTBEAT.format(trial.pk), wrong, format="json")
    finish = runner_client.post(FINISH.format(trial.pk), {**wrong, "exit_code": 0}, format="json")
    lost = runner_client.post(FINISH.format(trial.pk), {**wrong, "lease_lost": True}, format="json")

    assert beat.json() == {"stop": True}
    assert finish.json() == lost.json() == {"recorded": False}
    trial.refresh_from_db()
    assert (trial.status, trial.attempt) == ("running", 1)


def test_a_lost_lease_requeues_the_attempt(cast, runner_client):
    trial = queued_trial(cast)
    got = start(runner_client, trial).json()
    body = {"attempt": got["attempt"], "token": got["token"], "lease_lost": True}

    assert runner_client.post(FINISH.format(trial.pk), body, format="json").json() == {
        "recorded": True
    }
    trial.refresh_from_db()
    assert (trial.status, trial.token_hash) == ("pending", "")


def test_the_api_shows_and_filters_trials_by_runner(cast, runner_client):
    trial = queued_trial(cast)
    start(runner_client, trial)
    client = APIClient()
    client.force_login(cast.viewer)

    found = client.get("/api/trials/", {"sweep": trial.sweep_id, "runner": "far-box"}).json()
    others = client.get("/api/trials/", {"sweep": trial.sweep_id, "runner": "near"}).json()

    assert [t["id"] for t in found["results"]] == [trial.pk]
    assert found["results"][0]["runner"] == "far-box"
    assert others["results"] == []


def test_it_refuses_a_bad_runner_name_or_data_dir(cast, runner_client):
    trial = queued_trial(cast)
    for body in (
        {"runner": "far box", "worker": "w", "data_dir": DATA_DIR},
        {"runner": "x" * 101, "worker": "w", "data_dir": DATA_DIR},
        {"runner": "far", "worker": "w", "data_dir": "relative/dir"},
    ):
        answer = runner_client.post(START.format(trial.pk), body, format="json")
        assert answer.status_code == 400, body
    trial.refresh_from_db()
    assert trial.status == "queued"


# --- which queue a trial goes to ----------------------------------------------------------


def resumed_sweep_with_runners(cast):
    """A resume sweep whose bracket s=2 finished rung 0 on two runners, and promoted."""
    sweep = started_sweep(cast.team, cast.member, tiny_yaml(resume=True))
    rung0 = sweep.trials.filter(bracket=2, rung=0).order_by("id")
    for n, trial in enumerate(rung0):
        Trial.objects.filter(pk=trial.pk).update(runner="far-box" if n % 2 else "near")
    finish_rung(sweep, 2, 0)
    return sweep


def test_promoted_trials_of_a_resume_sweep_go_to_their_checkpoints_runner(cast, settings):
    settings.HBSITE_SHARED_DATA_DIR = False
    sweep = resumed_sweep_with_runners(cast)
    promoted = list(sweep.trials.filter(bracket=2, rung=1).select_related("parent"))
    fresh = list(sweep.trials.filter(rung=0).values_list("id", flat=True))

    queues = placement.queues(sweep, [t.pk for t in promoted] + fresh)

    assert promoted and {t.parent.runner for t in promoted} <= {"far-box", "near"}
    for trial in promoted:
        assert queues[trial.pk] == queueing.runner_queue(trial.parent.runner)
    assert {queues[pk] for pk in fresh} == {queueing.TRIALS}


def test_a_shared_data_dir_sends_every_trial_to_any_runner(cast, settings):
    settings.HBSITE_SHARED_DATA_DIR = True
    sweep = resumed_sweep_with_runners(cast)
    ids = list(sweep.trials.values_list("id", flat=True))

    assert set(placement.queues(sweep, ids).values()) == {queueing.TRIALS}


def test_the_local_runner_records_its_name_and_data_dir(cast, settings, tmp_path):
    settings.HBSITE_RUNNER_NAME, settings.HBSITE_DATA_DIR = "near", tmp_path
    trial = queued_trial(cast)

    got = runner_db.DbBackend().start(trial.pk)

    trial.refresh_from_db()
    assert got is not None and trial.runner == "near"
    assert got.checkpoint_dir == trial.checkpoint_dir
    assert trial.checkpoint_dir.startswith(str(tmp_path / "sweeps"))
    assert trials.Fence(trial.pk, got.attempt, hash_secret(got.token)).holds(trial)


# --- the account page ---------------------------------------------------------------------


def test_staff_create_and_revoke_runner_tokens_on_the_account_page(staff):
    client = Client()
    client.force_login(staff)
    page = client.post(reverse("account"), {"name": "gpu box", "kind": "runner"})
    secret = re.search(r'value="(hbr_[^"]+)"', page.content.decode()).group(1)
    token = RunnerToken.objects.get(user=staff)
    assert token.name == "gpu box" and token.key_hash == hash_secret(secret)
    assert not ApiToken.objects.filter(user=staff).exists()
    assert secret not in client.get(reverse("account")).content.decode()

    revoke = client.post(reverse("runner-token-revoke", args=[token.pk]))

    assert revoke.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_others_cannot_create_or_revoke_runner_tokens(cast, staff):
    token, _ = RunnerToken.issue(staff, "gpu box")
    client = Client()
    client.force_login(cast.admin)

    page = client.get(reverse("account")).content.decode()
    made = client.post(reverse("account"), {"name": "sneaky", "kind": "runner"})
    revoke = client.post(reverse("runner-token-revoke", args=[token.pk]))

    assert "Only staff create runner tokens" in page
    assert made.status_code == 404 and revoke.status_code == 404
    assert not RunnerToken.objects.filter(user=cast.admin).exists()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_schema_documents_the_runner_endpoints(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    body = schema.json()
    for action in ("start", "heartbeat", "rejected", "finish"):
        operation = body["paths"][f"/api/runner/trials/{{id}}/{action}/"]["post"]
        assert operation["security"] == [{"runnerToken": []}]
    assert body["components"]["securitySchemes"]["runnerToken"]["scheme"] == "bearer"
    assert "runner" in body["components"]["schemas"]["Trial"]["properties"]


# --- the command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://hbsite.example"], "needs a runner token"),
        (["--url", "http://hbsite.example", "--token", "hbs_api"], "needs a runner token"),
        (["--token", "hbr_x"], "--token needs --url"),
        (["--runner-name", "far box"], "bad runner name"),
    ],
)
def test_hbsite_runner_refuses_what_cannot_work(monkeypatch, args, message):
    from hbsite import cli, supervise

    environ = {k: v for k, v in os.environ.items() if k != "HBSITE_RUNNER_TOKEN"}
    monkeypatch.setattr(os, "environ", environ)  # what the command sets stays here
    monkeypatch.setattr(supervise, "exec_replacing", lambda *a: pytest.fail("started"))
    with pytest.raises(SystemExit, match=message):
        cli.main(["runner", *args])


def assignment(checkpoint_dir: str, workdir: str = "") -> runner.Assignment:
    return runner.Assignment(
        trial=1, number=1, sweep=2, bracket=0, rung=0, attempt=1, token="trial-token",
        params={"x": 1}, resource=3, resource_name="num_steps", resume=True, command="true",
        checkpoint_dir=checkpoint_dir, workdir=workdir, timeout=None,
    )  # fmt: skip


def test_a_trial_never_sees_its_runners_token(monkeypatch, tmp_path):
    monkeypatch.setenv("HBSITE_RUNNER_TOKEN", "hbr_secret")

    env = runner.trial_env(assignment(str(tmp_path)), "https://hbsite.example")

    assert "HBSITE_RUNNER_TOKEN" not in env and "hbr_secret" not in env.values()
    assert (env["HBSITE_TRIAL_TOKEN"], env["HBSITE_API_URL"]) == (
        "trial-token",
        "https://hbsite.example",
    )
    assert (env["HBSITE_RESOURCE"], env["HBSITE_RESUME"]) == ("3", "1")


def test_run_workdir_is_resolved_on_the_runners_machine(settings, tmp_path):
    settings.HBSITE_WORKDIR_BASE, settings.HBSITE_DATA_DIR = tmp_path / "base", tmp_path / "data"

    assert runner.working_dir(assignment("/c", "exp/one")) == tmp_path / "base" / "exp/one"
    assert runner.working_dir(assignment("/c", "/abs")) == Path("/abs")
    assert runner.working_dir(assignment("/c", "")) == tmp_path / "data" / "sweeps" / "2"


def test_a_remote_runner_sends_the_first_reasons_and_counts_them_all(cast, staff, monkeypatch):
    from scheduler import runner_rest

    trial = queued_trial(cast)
    _, secret = RunnerToken.issue(staff, "far box")
    client = bearer(secret)
    got = runner.Assignment(**start(client, trial).json())
    sent: list[dict] = []

    def post(self, url, authorization, body, budget):
        sent.append(body)
        answer = client.post(url.removeprefix("http://testserver"), body, format="json")
        return answer.status_code, answer.json()

    monkeypatch.setattr(runner_rest.RestBackend, "_call", post)
    reasons = [f"stdout line {n}: " + "x" * 2000 for n in range(12)]
    runner_rest.RestBackend("http://testserver", secret).reject(got, reasons, 12, 1.0)

    trial.refresh_from_db()
    assert trial.rejected_points == 12 and len(trial.rejections) == Trial.MAX_REJECTIONS
    assert len(sent[0]["reasons"]) == Trial.MAX_REJECTIONS
    assert all(len(reason) == 1000 for reason in trial.rejections)
