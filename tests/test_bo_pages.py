"""A bo sweep on the dashboard and the API: the trial budget and the iterations table."""

from __future__ import annotations

import html
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from scheduler.models import Config, Sweep
from tests.bo_sweeps import bo_yaml, finish
from tests.sweeps import started_sweep

pytestmark = pytest.mark.django_db


def member(client: Client, cast) -> Client:
    client.force_login(cast.member)
    return client


def test_it_previews_the_trial_budget_instead_of_brackets(client, cast):
    body = json.dumps({"yaml": bo_yaml(initial=4, iterations=7)})
    result = member(client, cast).post("/ui/validate/", body, content_type="application/json")

    data = result.json()
    assert data["valid"], data["errors"]
    assert data["plan"]["budget"] == {"n_initial_trials": 4, "n_iterations": 7}
    assert data["plan"]["total_trials"] == 11
    assert 'id="plan-table"' not in data["table"]
    assert "4 random configs, then 7 iterations" in data["table"]


def test_the_api_plan_and_its_text_table_show_the_budget(cast):
    api = APIClient()
    api.force_login(cast.viewer)

    body = api.post("/api/plan/", {"yaml": bo_yaml(5, 25)}, format="json").json()

    assert body["plan"]["budget"] == {"n_initial_trials": 5, "n_iterations": 25}
    assert "random (n_initial_trials) | 5" in body["table"]
    assert "suggested (n_iterations)  | 25" in body["table"]
    assert "total trials:  30" in body["table"]


def test_the_sweep_page_shows_random_and_suggested_configs_with_acquisition(client, cast):
    sweep = started_sweep(cast.team, cast.member, bo_yaml(2, 2, concurrency=1))
    finish(sweep.trials.get(config__index=0), 0.5)
    finish(sweep.trials.get(config__index=1), 0.25)
    suggested = Config.objects.get(sweep=sweep, origin__how="suggested")

    page = member(client, cast).get(f"/sweeps/{sweep.pk}/").content.decode()

    assert 'id="iteration-table"' in page and 'id="bracket-table"' not in page
    assert page.count('data-how="random"') == 2 and page.count('data-how="suggested"') == 1
    row = page[page.index(f'data-config="{suggested.pk}"') :].split("</tr>")[0]
    acquisition = html.unescape(row.split('class="num acquisition">')[1].split("<")[0])
    assert float(acquisition) == pytest.approx(suggested.origin["acquisition"], rel=1e-5)


def test_the_live_state_renders_the_iterations_in_place_of_the_brackets(client, cast):
    sweep = started_sweep(cast.team, cast.member, bo_yaml(1, 3, concurrency=1))
    url = f"/ui/sweeps/{sweep.pk}/state/"
    before = member(client, cast).get(url).json()
    finish(sweep.trials.get(config__index=0), 0.25)

    after = client.get(url).json()

    assert 'data-suggested="0"' in before["brackets"]
    assert 'data-suggested="1"' in after["brackets"]
    assert after["seq"] > before["seq"]
    assert Sweep.objects.get(pk=sweep.pk).configs.count() == 2


def test_the_trials_api_says_how_each_config_was_made(cast):
    sweep = started_sweep(cast.team, cast.member, bo_yaml(1, 2, concurrency=1))
    finish(sweep.trials.get(config__index=0), 0.5)
    api = APIClient()
    api.force_login(cast.viewer)

    body = api.get(f"/api/trials/?sweep={sweep.pk}").json()

    rows = body["results"] if isinstance(body, dict) else body
    made = {row["config"]: row["origin"] for row in rows}
    suggested = Config.objects.get(sweep=sweep, index=1)
    assert made[suggested.pk]["how"] == "suggested"
    assert made[suggested.pk]["acquisition"] == pytest.approx(suggested.origin["acquisition"])
    assert list(made.values()).count({"how": "random"}) == 1
