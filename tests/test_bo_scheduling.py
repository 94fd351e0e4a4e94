"""A bo sweep's scheduling steps, taken in-process: random configs, then suggestions."""

from __future__ import annotations

import pytest

from scheduler.models import Config, Sweep, Trial
from tests.bo_sweeps import bo_yaml, finish
from tests.sweeps import started_sweep

pytestmark = pytest.mark.django_db


def loss_of(trial: Trial) -> float:
    return (trial.config.params["x"] - 0.3) ** 2


def open_trials(sweep: Sweep) -> list[Trial]:
    return list(sweep.trials.unfinished().select_related("config").order_by("id"))


def origins(sweep: Sweep) -> list[str]:
    return [c.origin["how"] for c in Config.objects.filter(sweep=sweep).order_by("index")]


def run_in_process(sweep: Sweep) -> Sweep:
    while trials := open_trials(sweep):
        finish(trials[0], loss_of(trials[0]))
    return Sweep.objects.get(pk=sweep.pk)


def test_it_starts_with_the_random_configs_and_queues_up_to_concurrency(cast):
    sweep = started_sweep(cast.team, text=bo_yaml(initial=3, concurrency=2))

    assert origins(sweep) == ["random"] * 3
    assert sweep.trials.filter(status="queued").count() == 2
    assert sweep.trials.filter(status="pending").count() == 1


def test_it_suggests_one_config_per_free_slot_until_the_budget_is_spent(cast):
    sweep = run_in_process(started_sweep(cast.team, text=bo_yaml(3, 3, concurrency=2)))

    assert sweep.status == "succeeded", sweep.status_reason
    assert origins(sweep) == ["random"] * 3 + ["suggested"] * 3
    for config in Config.objects.filter(sweep=sweep, index__gte=3):
        assert isinstance(config.origin["acquisition"], float)
        assert config.origin["function"] == "ucb"
        assert config.origin["observed"] >= 1
        assert 0 <= config.params["x"] <= 1


def test_it_counts_running_configs_as_pending_for_parallel_suggestions(cast):
    sweep = started_sweep(cast.team, text=bo_yaml(2, 4, concurrency=2))
    first, second = open_trials(sweep)
    finish(first, loss_of(first))  # `second` still running: the suggestion sees it pending

    made = Config.objects.get(sweep=sweep, index=2)
    assert made.origin["how"] == "suggested"
    assert (made.origin["observed"], made.origin["pending"]) == (1, 1)


def test_it_fills_slots_beyond_the_random_configs_with_random_ones_before_any_result(cast):
    sweep = started_sweep(cast.team, text=bo_yaml(2, 4, concurrency=4))

    assert origins(sweep) == ["random"] * 4
    extra = Config.objects.get(sweep=sweep, index=3)
    assert extra.origin == {"how": "random", "why": "no result yet"}
    assert sweep.trials.filter(status="queued").count() == 4


def test_it_ends_failed_with_the_budget_unspent_when_no_trial_reports_the_metric(cast):
    sweep = started_sweep(cast.team, text=bo_yaml(2, 3, concurrency=1))
    while trials := open_trials(sweep):
        finish(trials[0], None)
    sweep.refresh_from_db()

    assert sweep.status == "failed"  # a sweep that ranked nothing never ends "succeeded"
    assert Config.objects.filter(sweep=sweep).count() == 2
    assert "reported the ranking metric 'loss' (reported: nothing)" in sweep.status_reason


def test_it_suggests_the_same_configs_from_the_same_seed(cast):
    runs = [run_in_process(started_sweep(cast.team, text=bo_yaml(2, 3, 1))) for _ in "ab"]
    configs = [list(Config.objects.filter(sweep=s).order_by("index")) for s in runs]

    assert [c.params for c in configs[0]] == [c.params for c in configs[1]]
    assert [c.origin for c in configs[0]] == [c.origin for c in configs[1]]
