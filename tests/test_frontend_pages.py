"""The dashboard's pages and JSON endpoints through Django's test client (no JavaScript)."""

from __future__ import annotations

import gzip
import html
import json

import pytest
from django.test import Client
from django.utils import timezone

from hbsite import examples
from scheduler import access, results, sweeps
from scheduler.models import Config, MetricPoint, RungDecision, ShareLink, Sweep, Trial
from tests.conftest import login
from tests.sweeps import finish_rung, position, started_sweep, tiny_yaml

pytestmark = pytest.mark.django_db


def share_link(sweep: Sweep, user) -> str:
    return access.share_token(ShareLink.objects.create(sweep=sweep, created_by=user))


# --- access ---------------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_login(client, sweep):
    for url in ("/", f"/sweeps/{sweep.pk}/", "/sweeps/new/", f"/ui/sweeps/{sweep.pk}/state/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_it_signs_in_through_the_login_page(client, cast):
    page = client.get("/accounts/login/")
    assert b"Sign in to hbsite" in page.content
    response = client.post("/accounts/login/", {"username": "viewer", "password": "pw-viewer-123"})
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize(
    "path",
    [
        "/sweeps/{s}/",
        "/ui/sweeps/{s}/state/",
        "/ui/sweeps/{s}/trials/",
        "/ui/sweeps/{s}/curves/",
        "/ui/sweeps/{s}/parallel/",
        "/ui/sweeps/{s}/best/",
        "/sweeps/{s}/export/csv/",
        "/trials/{t}/",
        "/ui/trials/{t}/output/",
        "/ui/trials/{t}/metrics/",
    ],
)
def test_it_hides_a_sweep_from_outsiders(client, cast, sweep, path):
    trial = sweep.trials.first()
    login(client, cast.outsider)
    assert client.get(path.format(s=sweep.pk, t=trial.pk)).status_code == 404
    client.logout()
    assert client.get(path.format(s=sweep.pk, t=trial.pk) + "?share=forged").status_code == 404


def test_it_lists_only_the_sweeps_of_my_teams(client, cast, sweep):
    other = started_sweep(cast.other_team, cast.outsider, tiny_yaml(name="theirs"))
    page = login(client, cast.viewer).get("/")
    assert page.status_code == 200
    assert f'data-sweep="{sweep.pk}"'.encode() in page.content
    assert f'data-sweep="{other.pk}"'.encode() not in page.content


def test_it_shows_progress_best_value_and_owner_in_the_list(client, cast, sweep):
    page = login(client, cast.viewer).get("/").content.decode()
    best = min(t.metric_value for t in sweep.trials.filter(status="succeeded"))
    assert "9 / 22" in page
    assert results.best(sweep)["value"] == best
    assert f"{best:.6g}" in page
    assert "member" in page and "badge-running" in page


def test_it_filters_the_list_by_status(client, cast, sweep):
    sweeps.stop_sweep(sweep.pk)
    client = login(client, cast.viewer)
    assert f'data-sweep="{sweep.pk}"'.encode() in client.get("/?status=stopped").content
    running = client.get("/?status=running").content
    assert f'data-sweep="{sweep.pk}"'.encode() not in running
    assert b"No running sweeps" in running


def test_it_shows_an_empty_state_without_sweeps(client, cast):
    page = login(client, cast.viewer).get("/")
    assert b"No sweeps yet" in page.content


def test_it_refreshes_rows_by_id_for_live_updates(client, cast, sweep):
    data = login(client, cast.viewer).get(f"/ui/sweeps/rows/?ids={sweep.pk},999999").json()
    assert list(data["rows"]) == [str(sweep.pk)]
    assert data["status"][str(sweep.pk)] == "running"
    hidden = login(Client(), cast.outsider).get(f"/ui/sweeps/rows/?ids={sweep.pk}").json()
    assert (hidden["rows"], hidden["status"]) == ({}, {})


# --- the sweep page without JavaScript ------------------------------------------------------


def test_it_renders_the_bracket_table_with_counts_promotions_and_cutoffs(client, cast, sweep):
    page = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert page.count("data-cell=") == 6 and page.count('class="cell void"') == 3
    assert "9 succeeded" in page
    cutoff = sweep.decisions.get(bracket=2, rung=0).cutoff
    assert "3 promoted" in page and f"loss ≤ {cutoff:.6g}" in page
    assert "3 pending" in page or "3 queued" in page


def test_it_renders_trials_events_and_controls_for_members(client, cast, sweep):
    page = login(client, cast.member).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert page.count("data-trial=") >= 20
    assert "sweep started with 17 first-rung trials" in page
    assert 'id="stop-form"' in page and f"?clone={sweep.pk}" in page
    assert "data-kill=" in page


def test_it_renders_a_read_only_page_for_viewers(client, cast, sweep):
    page = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert 'id="stop-form"' not in page and "data-kill=" not in page and "?clone=" not in page


def test_it_serves_a_read_only_page_through_a_share_link(client, cast, sweep):
    token = share_link(sweep, cast.admin)
    page = client.get(f"/sweeps/{sweep.pk}/", {"share": token}).content.decode()
    assert "read-only link" in page and 'id="stop-form"' not in page
    trial = sweep.trials.first()
    assert f"/trials/{trial.pk}/?share=" in page
    assert client.get(f"/trials/{trial.pk}/", {"share": token}).status_code == 200
    assert client.get(f"/ui/sweeps/{sweep.pk}/curves/", {"share": token}).status_code == 200
    assert client.post(f"/sweeps/{sweep.pk}/stop/?share={token}").status_code == 404


def test_it_stops_a_sweep_for_members_only(client, cast, sweep):
    assert login(client, cast.viewer).post(f"/sweeps/{sweep.pk}/stop/").status_code == 404
    response = login(Client(), cast.member).post(f"/sweeps/{sweep.pk}/stop/")
    assert response.status_code == 302
    assert Sweep.objects.get(pk=sweep.pk).status == "stopped"


def test_it_kills_a_trial_for_members_only(client, cast, sweep):
    trial = sweep.trials.filter(status__in=["pending", "queued"]).first()
    assert login(client, cast.viewer).post(f"/trials/{trial.pk}/kill/").status_code == 404
    member = login(Client(), cast.member)
    back = f"/sweeps/{sweep.pk}/?rung=0"
    response = member.post(f"/trials/{trial.pk}/kill/", {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Trial.objects.get(pk=trial.pk).status == "stopped"
    evil = member.post(f"/trials/{trial.pk}/kill/", {"next": "https://evil.example/"})
    assert evil["Location"] == f"/trials/{trial.pk}/"


def test_it_requires_csrf_on_controls(cast, sweep):
    client = login(Client(enforce_csrf_checks=True), cast.member)
    assert client.post(f"/sweeps/{sweep.pk}/stop/").status_code == 403
    assert client.post("/ui/validate/", "{}", content_type="application/json").status_code == 403


def test_it_shows_the_early_stop_banner_of_an_early_stopped_sweep(client, cast):
    sweep = started_sweep(cast.team, cast.member, tiny_yaml(early_stopping=0.5))
    finish_rung(sweep, 2, 0)
    assert Sweep.objects.get(pk=sweep.pk).status == "early_stopped"
    page = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "Early stop" in page and "loss &lt;= 0.5" in page


# --- the trial table ------------------------------------------------------------------------


def table(client, sweep, **query) -> str:
    return client.get(f"/ui/sweeps/{sweep.pk}/trials/", query).json()["html"]


def rows(html: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'<tr data-trial="(\d+)"', html)]


def test_it_filters_trials_by_status_bracket_rung_param_and_metric(client, cast, sweep):
    client = login(client, cast.viewer)
    promoted = set(sweep.trials.filter(rung=1).values_list("id", flat=True))
    assert set(rows(table(client, sweep, bracket=2, rung=1))) == promoted
    succeeded = set(sweep.trials.filter(status="succeeded").values_list("id", flat=True))
    assert set(rows(table(client, sweep, status="succeeded"))) == succeeded
    relu = {t.pk for t in sweep.trials.select_related("config") if t.config.params["act"] == "relu"}
    assert set(rows(table(client, sweep, p_act="relu"))) == relu
    low = {t.pk for t in sweep.trials.select_related("config") if t.config.params["lr"] < 0.5}
    assert set(rows(table(client, sweep, p_lr="<0.5"))) == low
    band = set(
        sweep.trials.filter(metric_value__gte=0.2, metric_value__lte=0.6).values_list(
            "id", flat=True
        )
    )
    assert set(rows(table(client, sweep, metric="0.2..0.6"))) == band
    assert "needs numbers" in table(client, sweep, metric="abc")


def test_it_sorts_trials_by_metric_and_by_param(client, cast, sweep):
    client = login(client, cast.viewer)
    ranked = list(sweep.trials.filter(metric_value__isnull=False).order_by("metric_value", "id"))
    assert rows(table(client, sweep, sort="metric"))[: len(ranked)] == [t.pk for t in ranked]
    by_lr = sorted(sweep.trials.select_related("config"), key=lambda t: -t.config.params["lr"])
    assert rows(table(client, sweep, sort="-p_lr"))[:5] == [t.pk for t in by_lr[:5]]
    assert rows(table(client, sweep, sort="nonsense"))[:3] == sorted(rows(table(client, sweep)))[:3]


def test_it_pages_the_trial_table(client, cast, sweep):
    big = bulk_trials(sweep, 250)
    html = table(login(client, cast.viewer), sweep, page=3)
    assert len(rows(html)) == sweep.trials.count() - 200
    assert "201–" in html and f"of {big}" in html


def bulk_decisions(sweep: Sweep, n: int) -> None:
    RungDecision.objects.bulk_create(
        RungDecision(sweep=sweep, bracket=20 + k, rung=0, promoted=1, cutoff=0.5) for k in range(n)
    )


def bulk_trials(sweep: Sweep, n: int) -> int:
    configs = Config.objects.bulk_create(
        Config(sweep=sweep, bracket=9, index=i, params={"lr": i / n, "act": "relu"})
        for i in range(n)
    )
    Trial.objects.bulk_create(
        Trial(sweep=sweep, config=c, bracket=9, rung=0, resource=1, status="succeeded",
              metric_value=c.params["lr"], started_at=timezone.now(), finished_at=timezone.now())
        for c in configs
    )  # fmt: skip
    return sweep.trials.count()


# --- the new-sweep page ---------------------------------------------------------------------


def test_it_starts_a_new_sweep_from_the_small_runnable_example(client, cast):
    example = examples.read("quick.yml")
    page = login(client, cast.member).get("/sweeps/new/").content.decode()
    assert html.escape(example) in page and "name: digits-quick" in page
    assert "python -m hbsite.examples.train_digits " in example
    result = client.post("/ui/validate/", json.dumps({"yaml": example}), "application/json")
    assert result.json()["valid"] and result.json()["plan"]["total_trials"] == 22


def test_it_validates_yaml_with_every_error_at_its_line(client, cast):
    broken = tiny_yaml().replace("eta: 3", "eta: one").replace("uniform:", "uniformm:")
    data = login(client, cast.member).post(
        "/ui/validate/", json.dumps({"yaml": broken}), content_type="application/json"
    )
    result = data.json()
    assert result["valid"] is False and result["plan"] is None
    expected = [position(broken, "one"), position(broken, "{uniformm")]
    assert [(e["line"], e["column"]) for e in result["errors"]] == expected
    assert "eta" in result["errors"][0]["message"]


def test_it_previews_a_valid_plan_as_a_bracket_table(client, cast):
    result = (
        login(client, cast.member)
        .post("/ui/validate/", json.dumps({"yaml": tiny_yaml()}), content_type="application/json")
        .json()
    )
    assert result["valid"] and result["errors"] == []
    assert result["plan"]["total_trials"] == 22 and result["plan"]["total_resource"] == 78
    assert 'id="plan-table"' in result["table"] and "9</strong> <span" in result["table"]


def test_it_rejects_a_malformed_validate_request(client, cast):
    client = login(client, cast.member)
    assert client.post("/ui/validate/", "nope", content_type="application/json").status_code == 400
    bad = client.post("/ui/validate/", '{"yaml": 3}', content_type="application/json")
    assert bad.status_code == 400


def test_it_previews_and_launches_without_javascript(client, cast):
    client = login(client, cast.member)
    preview = client.post("/sweeps/new/", {"yaml": tiny_yaml(), "action": "preview"})
    assert preview.status_code == 200 and b'id="plan-table"' in preview.content
    errors = client.post("/sweeps/new/", {"yaml": "version: 2", "action": "launch"})
    assert errors.status_code == 400 and b"Line 1, col 10" in errors.content
    launched = client.post(
        "/sweeps/new/", {"yaml": tiny_yaml(), "action": "launch", "name": "mine"}
    )
    sweep = Sweep.objects.get(name="mine")
    assert launched["Location"] == f"/sweeps/{sweep.pk}/"
    assert sweep.owner == cast.member and sweep.team == cast.team


def test_it_launches_from_an_uploaded_file(client, cast):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sweep.yaml", tiny_yaml(name="uploaded").encode())
    client = login(client, cast.member)
    response = client.post("/sweeps/new/", {"file": upload, "yaml": "", "action": "launch"})
    assert response.status_code == 302
    assert Sweep.objects.filter(name="uploaded").exists()


def test_it_prefills_a_clone_with_the_sweeps_yaml(client, cast, sweep):
    page = login(client, cast.member).get(f"/sweeps/new/?clone={sweep.pk}").content.decode()
    assert "Cloned from" in page and "max_iter: 9" in page and "tiny (clone)" in page
    viewer = login(Client(), cast.viewer).get(f"/sweeps/new/?clone={sweep.pk}").content.decode()
    assert "Cloned from" not in viewer


# --- trial page, charts, downloads ----------------------------------------------------------


def test_it_shows_a_trial_with_params_lineage_and_output(client, cast, sweep):
    child = sweep.trials.filter(rung=1).select_related("parent").first()
    Trial.objects.filter(pk=child.pk).update(stdout_tail="step 1\nstep 2\n", status="running")
    page = login(client, cast.viewer).get(f"/trials/{child.pk}/").content.decode()
    assert f"Trial #{child.number}" in page and "lr" in page and "act" in page
    assert f">{child.pk}</dd>" in page  # the global id, as URLs and the API use it
    assert f"/trials/{child.parent_id}/" in page and "promoted" in page
    assert "step 2" in page
    output = client.get(f"/ui/trials/{child.pk}/output/").json()
    assert output["status"] == "running" and output["stdout_tail"].endswith("step 2\n")


def test_it_serves_a_trials_metrics_thinned(client, cast, sweep):
    trial = sweep.trials.first()
    MetricPoint.objects.bulk_create(
        MetricPoint(trial=trial, name="acc", step=i, value=i / 5000) for i in range(5000)
    )
    series = login(client, cast.viewer).get(f"/ui/trials/{trial.pk}/metrics/").json()["series"]
    assert 500 <= len(series["acc"]) <= 1000
    assert series["acc"][0] == [0, 0] and series["acc"][-1] == [4999, 4999 / 5000]


def test_it_downsamples_learning_curves_per_trial(client, cast, sweep):
    trial = sweep.trials.filter(status="succeeded").first()
    MetricPoint.objects.bulk_create(
        MetricPoint(trial=trial, name="loss", step=10 + i, value=1 / (i + 1)) for i in range(20000)
    )
    data = login(client, cast.viewer).get(f"/ui/sweeps/{sweep.pk}/curves/").json()
    curve = next(t for t in data["trials"] if t["id"] == trial.pk)
    assert len(curve["points"]) <= data["per_trial"] + 1
    assert curve["points"][-1] == [20009, 1 / 20000]
    assert data["metric"] == "loss" and data["resource"] == "num_steps"
    children = [t for t in data["trials"] if t["parent_id"]]
    assert all(t["rung"] == 1 for t in children)


def test_it_serves_parallel_coordinates_and_best_so_far(client, cast, sweep):
    client = login(client, cast.viewer)
    parallel = client.get(f"/ui/sweeps/{sweep.pk}/parallel/").json()
    assert parallel["params"] == ["lr", "act"] and len(parallel["rows"]) == 9
    assert [r["metric"] for r in parallel["rows"]] == sorted(r["metric"] for r in parallel["rows"])
    best = client.get(f"/ui/sweeps/{sweep.pk}/best/").json()
    assert len(best["spent"]) == 9 and best["spent"][-1] == 9
    assert best["best"][-1] == min(best["value"])


def test_it_downloads_results_as_csv(client, cast, sweep):
    response = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/export/csv/")
    assert response["Content-Type"] == "text/csv"
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("trial,trial_id,config,bracket,rung,resource,status")
    assert lines[0].endswith("param.lr,param.act")
    assert len(lines) == 1 + sweep.trials.count()


def test_it_serves_plotly_from_the_installed_package(client):
    response = client.get("/vendor/plotly.min.js", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip" and "immutable" in response["Cache-Control"]
    assert b"plotly" in gzip.decompress(response.content)[:2000].lower()
    again = client.get("/vendor/plotly.min.js", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


# --- fixed query counts at scale ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/", 6),
        ("/sweeps/{s}/", 12),
        ("/sweeps/{s}/?p_lr=<0.5&sort=-metric&page=2", 12),
        ("/ui/sweeps/{s}/state/", 8),
        ("/ui/sweeps/{s}/trials/?status=succeeded&sort=p_act", 6),
        ("/ui/sweeps/{s}/curves/", 7),
        ("/ui/sweeps/{s}/parallel/", 5),
        ("/ui/sweeps/{s}/best/", 5),
        ("/trials/{t}/", 8),  # with its earlier attempts
    ],
)
def test_pages_take_a_fixed_number_of_queries(
    client, cast, sweep, django_assert_max_num_queries, path, limit
):
    login(client, cast.viewer)
    url = path.format(s=sweep.pk, t=sweep.trials.filter(rung=1).first().pk)
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200
    bulk_trials(sweep, 600)
    bulk_decisions(sweep, 30)
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def test_it_ranks_a_random_search_by_its_optional_metric(cast):
    from dataclasses import asdict

    from frontend.queries.common import maximizes, metric_of
    from tests.sweeps import search_yaml

    metric = "metric: {name: acc, optimization: maximize}"
    text = search_yaml(f"random_search: {{n_experiments: 3, {metric}}}")
    sweep = sweeps.create_sweep(text, team=cast.team)
    assert asdict(metric_of(sweep)) == {"name": "acc", "optimization": "maximize"}
    assert maximizes(sweep)
