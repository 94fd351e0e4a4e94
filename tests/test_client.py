"""hbclient.Client against the live server (uvicorn) and a real Celery worker: a sweep from
YAML text and from a file, followed to the end, its plan, trials, best and exports; the API's
errors as exceptions, YAML problems with their line and column."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import yaml as pyyaml

import hbclient
from scheduler.models import ApiToken
from tests.conftest import ROOT, free_port
from tests.sweeps import hyperband_yaml, position, tiny_yaml

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(asgi_server, cast) -> hbclient.Client:
    """A Client for the team's member, with an API token issued as the account page does."""
    _, secret = ApiToken.issue(cast.member, "notebook")
    return hbclient.Client(asgi_server, secret)


@pytest.mark.worker
def test_it_runs_a_sweep_from_yaml_text_to_the_end(client, cast, celery_worker, tmp_path):
    sweep = client.create_sweep(tiny_yaml(), name="from-text", team=cast.team.pk)
    assert sweep["name"] == "from-text" and sweep["status"] in ("created", "running")

    seen: list[hbclient.Progress] = []
    final = client.wait(sweep["id"], progress=seen.append, poll=0.2, timeout=120)

    assert final.status == "succeeded" and final.done == final.planned == 22
    assert seen[-1] == final and len(seen) >= 2
    dones = [p.done for p in seen]
    assert dones == sorted(dones)  # a callback per change, in order
    assert client.status(sweep["id"]) == "succeeded"
    trials = client.trials(sweep["id"])
    assert len(trials) == 22 and {t["status"] for t in trials} == {"succeeded"}
    assert len(client.trials(sweep["id"], bracket=2, rung=0)) == 9
    best = client.best(sweep["id"])
    lowest = min(trials, key=lambda t: (t["metric_value"], t["id"]))
    assert best is not None and best["trial"] == lowest["id"]
    assert best["value"] == pytest.approx(lowest["metric_value"])

    rows = list(csv.DictReader(io.StringIO(client.export(sweep["id"], "csv").decode())))
    assert len(rows) == 22
    assert len(json.loads(client.export(sweep["id"], "json"))["trials"]) == 22
    best_yaml = pyyaml.safe_load(
        client.download(sweep["id"], tmp_path / "b.yml", "best-yaml").read_text()
    )
    assert best_yaml["params"] == best["params"]


def test_it_creates_a_sweep_from_a_file_and_stops_it(client, tmp_path):
    path = tmp_path / "sweep.yml"
    path.write_text(hyperband_yaml(max_iter=81, eta=3))
    sweep = client.create_sweep(file=path)

    plan = client.plan(sweep["id"])
    assert plan["algorithm"] == "hyperband" and plan["plan"]["total_trials"] == 206
    assert "bracket" in plan["table"].lower()
    assert client.preview_plan(file=path)["plan"] == plan["plan"]
    assert [s["id"] for s in client.sweeps(status=sweep["status"])][0] == sweep["id"]

    assert client.stop(sweep["id"])["status"] == "stopped"
    with pytest.raises(hbclient.ApiError) as stopped_twice:
        client.stop(sweep["id"])
    assert stopped_twice.value.status == 409
    assert "only an active sweep can be stopped" in stopped_twice.value.message


def test_invalid_yaml_raises_every_problem_with_its_line_and_column(client, tmp_path):
    text = (
        hyperband_yaml()
        .replace("eta: 3", "eta: 1")
        .replace("x: {uniform: [0, 1]}", "x: {uniform: [1, 0]}")
    )
    path = tmp_path / "bad.yml"
    path.write_text(text)

    with pytest.raises(hbclient.SweepYamlError) as raised:
        client.create_sweep(file=path)

    error = raised.value
    assert error.status == 400 and error.message == "invalid sweep"
    eta, x = position(text, "eta: 1"), position(text, "x: {uniform: [1, 0]}")
    assert [(i.line, i.column) for i in error.issues][:1] == [(eta[0], eta[1] + len("eta: "))]
    assert any(i.line == x[0] for i in error.issues)
    lines = str(error).splitlines()
    assert lines[0] == "HTTP 400: invalid sweep"
    assert lines[1].startswith(f"{path}:{eta[0]}:") and "eta" in lines[1]
    with pytest.raises(hbclient.SweepYamlError) as from_text:
        client.preview_plan("version: 1\nkind: [")
    assert from_text.value.issues[0].format().startswith("<yaml>:2:")


def test_other_errors_carry_the_apis_sentence(client, cast, asgi_server):
    with pytest.raises(hbclient.ApiError) as missing:
        client.sweep(999_999)
    assert missing.value.status == 404 and missing.value.body["error"] == missing.value.message

    with pytest.raises(hbclient.ApiError) as refused:
        hbclient.Client(asgi_server, "hbs_not-a-token").sweeps()
    assert refused.value.status == 401

    with pytest.raises(ValueError, match="best-yaml"):
        client.export(1, "xlsx")
    with pytest.raises(hbclient.ServerUnreachable):
        hbclient.Client(f"http://127.0.0.1:{free_port()}", "hbs_x", timeout=2).sweeps()


def test_the_client_needs_only_the_standard_library():
    code = (
        "import sys; before = set(sys.modules); import hbclient; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'hbclient'}))"
    )
    argv = [sys.executable, "-c", code]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
