"""Exports: trials as CSV and JSON with params as columns, the best config and sweep as YAML."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import yaml
from django.test import Client
from rest_framework.test import APIClient

from scheduler import access, export, sharing
from tests.sharing_world import SWEEP_YAML, add_trial, make_sweep

TRIAL = {
    "id": 812, "number": 3, "config_id": 2, "bracket": 1, "rung": 0, "resource": 3.0,
    "status": "succeeded", "attempt": 1, "metric_value": 0.5, "params": {"x": 0.1, "lr": 2},
}  # fmt: skip


def test_it_flattens_params_into_columns():
    header = export.columns(["x", "lr"])
    assert header[-2:] == ["param.x", "param.lr"]
    row = export.flat_row(TRIAL, ["x", "lr"])
    assert (row["trial"], row["trial_id"]) == (3, 812)
    assert row["metric"] == 0.5 and row["param.lr"] == 2
    assert list(row) == header


def test_it_writes_csv_with_empty_cells_for_missing_values():
    rows = [export.flat_row({**TRIAL, "metric_value": None}, ["x"])]
    text = export.to_csv(rows, export.columns(["x"]))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed == [{**{k: str(v) for k, v in rows[0].items()}, "metric": ""}]


def refuse(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


@pytest.mark.parametrize(
    ("value", "written"),
    [(float("nan"), "NaN"), (float("inf"), "Infinity"), (-math.inf, "-Infinity")],
)
def test_it_writes_non_finite_values_in_their_string_form(value, written):
    rows = [export.flat_row({**TRIAL, "metric_value": value}, ["x"])]
    body = json.loads(export.to_json(rows, export.columns(["x"])), parse_constant=refuse)
    assert body["trials"][0]["metric"] == written and body["columns"][0] == "trial"
    assert f",{written}," in export.to_csv(rows, export.columns(["x"]))


def test_it_writes_the_best_config_as_yaml():
    best = {"trial": 3, "value": 0.5, "params": {"x": 0.1}, "bracket": 1, "rung": 2}
    body = yaml.safe_load(export.best_yaml({**best, "resource": 9.0}, "quad", "loss"))
    assert body["params"] == {"x": 0.1} and body["metric"] == {"name": "loss", "value": 0.5}
    assert yaml.safe_load(export.best_yaml(None, "quad", "loss"))["best"] is None


def test_it_exports_a_sweeps_trials_through_the_api(cast):
    sweep = make_sweep(cast.team, cast.member)
    add_trial(sweep, 0.2, 0.9)
    add_trial(sweep, 0.7, 0.1)
    client = APIClient()
    client.force_login(cast.viewer)
    response = client.get(f"/api/sweeps/{sweep.pk}/export/?format=csv")
    assert response["Content-Disposition"] == f'attachment; filename="sweep-{sweep.pk}-trials.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["param.x"] for r in rows] == ["0.2", "0.7"] and rows[0]["param.opt"] == "adam"
    body = client.get(f"/api/sweeps/{sweep.pk}/export/?format=json").json()
    assert [t["metric"] for t in body["trials"]] == [0.9, 0.1]


def test_it_exports_trials_by_their_number_in_the_sweep_with_their_id(cast):
    other = make_sweep(cast.team, cast.member)
    add_trial(other, 0.1, 0.5)  # ids are global: this sweep's trials do not start at id 1
    sweep = make_sweep(cast.team, cast.member)
    made = [add_trial(sweep, 0.2, 0.9), add_trial(sweep, 0.7, 0.1)]
    client = APIClient()
    client.force_login(cast.viewer)
    text = client.get(f"/api/sweeps/{sweep.pk}/export/?format=csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["trial"], r["trial_id"]) for r in rows] == [("1", str(made[0].pk)),
                                                         ("2", str(made[1].pk))]  # fmt: skip


def test_it_exports_the_best_config_and_the_sweep_yaml(cast):
    sweep = make_sweep(cast.team, cast.member)
    add_trial(sweep, 0.2, 0.9)
    best = add_trial(sweep, 0.7, 0.1)
    client = APIClient()
    client.force_login(cast.viewer)
    body = yaml.safe_load(client.get(f"/api/sweeps/{sweep.pk}/export/?format=best-yaml").content)
    assert (body["trial"], body["trial_id"]) == (2, best.pk) and body["params"]["x"] == 0.7
    assert client.get(f"/api/sweeps/{sweep.pk}/export/?format=yaml").content.decode() == SWEEP_YAML


def test_it_refuses_an_unknown_format(cast):
    sweep = make_sweep(cast.team, cast.member)
    client = APIClient()
    client.force_login(cast.viewer)
    response = client.get(f"/api/sweeps/{sweep.pk}/export/?format=xlsx")
    assert response.status_code == 400 and "unknown format" in response.json()["error"]


def test_it_downloads_exports_from_the_page_with_a_share_link(cast):
    sweep = make_sweep(cast.team, cast.member)
    add_trial(sweep, 0.2, 0.9)
    token = access.share_token(sharing.create_link(sweep, cast.member))
    response = Client().get(f"/sweeps/{sweep.pk}/export/json/?share={token}")
    assert response.status_code == 200 and response.json()["trials"][0]["param.x"] == 0.2
    assert Client().get(f"/sweeps/{sweep.pk}/export/pdf/?share={token}").status_code == 404
