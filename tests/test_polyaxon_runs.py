"""Polyaxon v0.5 files run end to end on a real Celery worker, as Polyaxon meant them to."""

from __future__ import annotations

import json
import re

import pytest

from scheduler import runner
from tests.conftest import ROOT
from tests.test_sweep_runs import run_to_end

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Values a shell would split, expand or choke on; each must reach the program as written.
NASTY = ["a b", "it's", 'say "hi"', "$(touch MARKER)", "`touch MARKER`", "back\\slash $HOME"]
NASTY += ["two\nlines", "a; touch MARKER", "x && touch MARKER", "-n", "héllo ✓", ""]
ARGV = "python -c 'import sys, json; print(json.dumps(sys.argv[1:]))'"


@pytest.fixture
def team(cast):
    return cast.team


def test_it_runs_the_quick_start_example_as_a_grid_with_matrix_values(celery_worker, team):
    sweep = run_to_end((ROOT / "hbsite" / "examples" / "quick_start.yml").read_text(), team)

    assert sweep.status == "succeeded", sweep.status_reason
    trials = list(sweep.trials.select_related("config"))
    points = {(t.config.params["learning_rate"], t.config.params["alpha"]) for t in trials}
    assert points == {(0.01, 0.0001), (0.01, 0.001), (0.1, 0.0001), (0.1, 0.001)}
    for trial in trials:
        params = trial.config.params
        assert trial.status == "succeeded" and "accuracy" in trial.last_metrics
        assert f"--learning-rate={params['learning_rate']} " in trial.command
        assert f"--alpha={params['alpha']} " in trial.command
        assert "--epochs=3 " in trial.command and "--batch-size=64 " in trial.command
        assert "\\" not in trial.command  # the folded line continuations are gone


def test_it_gives_every_value_to_the_program_exactly_wherever_it_sits(celery_worker, team):
    cmd = f"{ARGV} {{{{ tag }}}} --tag=\"{{{{ tag }}}}\" '{{{{ tag }}}}' {{{{ on }}}} {{{{ lr }}}}"
    text = (
        "version: 1\nkind: group\n"
        "hptuning:\n  concurrency: 3\n  matrix:\n"
        f"    tag: {{values: {json.dumps(NASTY, ensure_ascii=False)}}}\n"
        "    on: {values: [true]}\n    lr: {values: [0.00001]}\n"
        f"run:\n  cmd: {json.dumps(cmd)}\n"
    )
    sweep = run_to_end(text, team)

    assert sweep.status == "succeeded", sweep.status_reason
    received = {}
    for trial in sweep.trials.select_related("config"):
        argv = json.loads(trial.stdout_tail)
        received[trial.config.params["tag"]] = argv
        tag = trial.config.params["tag"]
        assert argv == [tag, f"--tag={tag}", tag, "True", "1e-05"]
    assert sorted(received) == sorted(NASTY)
    assert not (runner.sweep_dir(sweep.pk) / "MARKER").exists()


def test_it_gives_the_rung_resource_over_an_input_of_the_same_name(celery_worker, team):
    text = (
        "version: 1\nkind: group\n"
        "inputs:\n"
        "  - {name: num_steps, type: int, default: 300, is_optional: true}\n"
        "  - {name: x, type: float, default: 0.9, is_optional: true}\n"
        "hptuning:\n  concurrency: 4\n  seed: 3\n"
        "  hyperband:\n    max_iter: 9\n    eta: 3\n"
        "    resource: {name: num_steps, type: int}\n"
        "    metric: {name: loss, optimization: minimize}\n"
        "  matrix:\n    x: {uniform: [0, 1]}\n"
        "run:\n  workdir: .\n"
        "  cmd: python tests/scripts/quadratic.py --x={{ x }} --steps={{ num_steps }}\n"
    )
    sweep = run_to_end(text, team)

    assert sweep.status == "succeeded", sweep.status_reason
    trials = list(sweep.trials.select_related("config"))
    assert len(trials) == sweep.plan["total_trials"] == 22
    for trial in trials:
        steps = int(re.search(r"--steps=(\S+)", trial.command).group(1))
        assert steps == trial.resource and steps != 300
        assert f"--x={trial.config.params['x']} " in trial.command
        expected = (trial.config.params["x"] - 0.3) ** 2 + 1 / steps
        assert trial.metric_value == pytest.approx(expected)
