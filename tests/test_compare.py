"""Compare 2–10 trials and 2–5 sweeps: the id picking, the API and the pages, by role and
share link (a link opens only trials of its own sweep, and never the sweeps comparison)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scheduler import access, compare, metrics, sharing
from scheduler.models import Trial
from tests.conftest import login
from tests.insight_world import add_trial, add_trials, make_sweep
from tests.sharing_world import client_as


def test_it_reads_ids_in_order_without_duplicates():
    assert compare.pick("3,1,3", (2, 10), "trial") == [3, 1]
    assert compare.pick(["4", "5,6"], (2, 10), "trial") == [4, 5, 6]


@pytest.mark.parametrize(("raw", "message"), [
    ("1", "pick 2 to 10 trials to compare, not 1"),
    (",".join(str(i) for i in range(11)), "not 11"),
    ("1,x", "not 'x'"),
    ("", "not ''"),
])  # fmt: skip
def test_it_says_what_is_wrong_with_the_ids(raw, message):
    with pytest.raises(compare.BadPick, match=message):
        compare.pick(raw, (2, 10), "trial")


@pytest.fixture
def two(cast):
    mine = make_sweep(cast.team, cast.member, name="first")
    theirs = make_sweep(cast.team, cast.admin, name="second")
    trials = add_trials(mine, 2, resource=9.0, seed=1) + add_trials(theirs, 1, resource=3.0)
    for trial in trials:  # points are stored for a running trial only
        Trial.objects.filter(pk=trial.pk).update(status="running")
        metrics.record(trial, [metrics.Point("loss", s, 1.0 / s) for s in (1, 2, 3)])
        Trial.objects.filter(pk=trial.pk).update(status="succeeded")
    hidden = make_sweep(cast.other_team, cast.outsider, name="hidden")
    return mine, theirs, hidden, trials, add_trials(hidden, 1, resource=3.0)[0]


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_api_compares_trials_side_by_side(cast, two):
    mine, theirs, _, trials, _ = two
    ids = ",".join(str(t.pk) for t in trials)
    body = api(cast.viewer).get(f"/api/compare/trials/?ids={ids}").json()
    assert [t["id"] for t in body["trials"]] == [t.pk for t in trials]
    assert body["params"] == ["lr", "act", "noise"]
    assert body["metric"] == "loss" and body["metrics"] == ["loss"]
    assert body["trials"][0]["curves"]["loss"] == [[1.0, 1.0], [2.0, 0.5], [3.0, 1 / 3]]
    assert body["trials"][2]["sweep"] == {"id": theirs.pk, "name": "second"}


def test_the_api_hides_a_comparison_with_any_trial_out_of_reach(cast, two):
    _, _, _, trials, hidden = two
    ids = f"{trials[0].pk},{hidden.pk}"
    response = api(cast.admin).get(f"/api/compare/trials/?ids={ids}")
    assert response.status_code == 404 and "error" in response.json()
    assert api(cast.outsider).get(f"/api/compare/trials/?ids={ids}").status_code == 404
    assert api(cast.admin).get(f"/api/compare/trials/?ids={trials[0].pk}").status_code == 400
    assert APIClient().get(f"/api/compare/trials/?ids={ids}").status_code == 401


def test_the_api_compares_sweeps_best_so_far_and_plans(cast, two):
    mine, theirs, hidden, trials, _ = two
    add_trial(mine, {"lr": 0.1, "act": "relu", "noise": 0.1}, 0.5, 9.0)
    add_trial(mine, {"lr": 0.1, "act": "relu", "noise": 0.2}, None, 9.0, status="failed")
    body = api(cast.viewer).get(f"/api/compare/sweeps/?ids={mine.pk},{theirs.pk}").json()
    first = body["sweeps"][0]
    assert first["name"] == "first" and first["plan"]["max_iter"] == 9
    assert first["plan"]["trials"] == mine.plan["total_trials"]
    assert first["matrix"]["lr"].startswith("loguniform")
    assert first["best_so_far"]["spent"] == [9.0, 18.0, 27.0, 36.0]  # four ended, 9 each
    best = 1 / 3  # the last loss the fixture recorded, below the 0.5 added here
    assert first["best_so_far"]["best"][-2:] == [best, best]  # the failed one changes nothing
    assert first["best"] == best
    assert body["params"] == ["lr", "act", "noise"]
    out_of_reach = api(cast.viewer).get(f"/api/compare/sweeps/?ids={mine.pk},{hidden.pk}")
    assert out_of_reach.status_code == 404
    six = ",".join(str(i) for i in range(1, 7))
    assert api(cast.viewer).get(f"/api/compare/sweeps/?ids={six}").status_code == 400


def test_the_trials_page_opens_to_a_link_only_within_its_sweep(cast, two):
    mine, _, _, trials, _ = two
    token = access.share_token(sharing.create_link(mine, cast.member))
    anonymous = client_as(cast, "anonymous")
    same = f"/compare/trials/?ids={trials[0].pk},{trials[1].pk}"
    assert anonymous.get(same).status_code == 302  # no link: sign in
    page = anonymous.get(f"{same}&share={token}")
    assert page.status_code == 200
    assert b"Compare 2 trials" in page.content and b'class="param-row differs"' in page.content
    across = f"/compare/trials/?ids={trials[0].pk},{trials[2].pk}&share={token}"
    assert anonymous.get(across).status_code == 404
    assert (
        anonymous.get(f"/compare/sweeps/?ids={mine.pk},{mine.pk}&share={token}").status_code == 302
    )


def test_the_sweeps_page_shows_plans_side_by_side(client, cast, two):
    mine, theirs, hidden, _, _ = two
    page = login(client, cast.viewer).get(f"/compare/sweeps/?ids={mine.pk}&ids={theirs.pk}")
    assert page.status_code == 200
    assert b"Plans side by side" in page.content and b"second" in page.content
    assert login(client, cast.viewer).get(f"/compare/sweeps/?ids={mine.pk}").status_code == 400
    wrong = login(client, cast.viewer).get(f"/compare/sweeps/?ids={mine.pk},{hidden.pk}")
    assert wrong.status_code == 404


def test_the_tables_offer_picking_rows(client, cast, two):
    mine, *_ = two
    listing = login(client, cast.viewer).get("/").content.decode()
    assert 'form="compare-sweeps" name="ids"' in listing and 'id="compare-sweeps"' in listing
    detail = login(client, cast.viewer).get(f"/sweeps/{mine.pk}/").content.decode()
    assert 'form="compare-trials" name="ids"' in detail and 'id="compare-trials"' in detail


def test_the_schema_documents_compare(client, cast):
    schema = login(client, cast.viewer).get("/api/schema/?format=json").json()
    assert {"/api/compare/trials/", "/api/compare/sweeps/"} <= set(schema["paths"])
