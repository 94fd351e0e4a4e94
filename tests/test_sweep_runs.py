"""Sweeps run end to end on a real Celery worker, with real trial processes."""

from __future__ import annotations

import math
import threading

import pytest
from django.db import connection

from frontend.queries.sweeps import rows
from scheduler import hyperband, results, sweeps, tasks
from scheduler.models import Config, RungDecision, Sweep, Trial
from tests.conftest import wait_for
from tests.sweeps import hyperband_yaml, quadratic, search_yaml

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def expected_loss(trial: Trial) -> float:
    return (trial.config.params["x"] - 0.3) ** 2 + 1 / trial.resource


def run_to_end(text: str, team, timeout: float = 240) -> Sweep:
    sweep = sweeps.create_sweep(text, team=team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=timeout, every=0.5)
    return Sweep.objects.get(pk=sweep.pk)


@pytest.fixture
def team(cast):
    return cast.team


def test_it_runs_the_81_3_sweep_with_exact_brackets_and_promotions(celery_worker, team):
    sweep = run_to_end(hyperband_yaml(), team)

    assert sweep.status == "succeeded", sweep.status_reason
    assert Config.objects.filter(sweep=sweep).count() == 143
    trials = list(sweep.trials.select_related("config"))
    assert len(trials) == 206
    assert {t.status for t in trials} == {"succeeded"}
    plan = hyperband.hyperband_plan(81, 3)
    for bracket in plan.brackets:
        for rung in bracket.rungs:
            here = [t for t in trials if (t.bracket, t.rung) == (bracket.s, rung.index)]
            assert len(here) == rung.configs
            assert {t.resource for t in here} == {int(rung.resource)}
    for trial in trials:
        assert f"--steps={int(trial.resource)}" in trial.command
        assert trial.metric_value == pytest.approx(expected_loss(trial))
    assert_promotions_kept_the_best(sweep, trials)


def assert_promotions_kept_the_best(sweep: Sweep, trials: list[Trial]) -> None:
    decisions = {(d.bracket, d.rung): d for d in RungDecision.objects.filter(sweep=sweep)}
    assert len(decisions) == sum(s for s in range(5))  # every rung but each bracket's top
    for (s, i), decision in decisions.items():
        rung = sorted((t for t in trials if (t.bracket, t.rung) == (s, i)), key=expected_loss)
        up = {t.config_id for t in trials if (t.bracket, t.rung) == (s, i + 1)}
        assert up == {t.config_id for t in rung[: decision.promoted]}
        assert {t.config_id for t in rung if t.promoted} == up
        assert decision.cutoff == pytest.approx(expected_loss(rung[decision.promoted - 1]))
        for child in (t for t in trials if (t.bracket, t.rung) == (s, i + 1)):
            assert child.parent.config_id == child.config_id


def test_it_resumes_promoted_trials_from_the_checkpoint(celery_worker, team):
    sweep = run_to_end(hyperband_yaml(max_iter=9, resume=True), team)

    assert sweep.status == "succeeded"
    promoted = sweep.trials.filter(rung__gt=0).select_related("parent")
    assert promoted.exists()
    for trial in promoted:
        assert trial.checkpoint_dir == trial.parent.checkpoint_dir
        assert trial.last_metrics["resumed_from"] == trial.parent.resource
    for trial in sweep.trials.filter(rung=0):
        assert trial.last_metrics["resumed_from"] == 0


def test_it_starts_fresh_without_resume(celery_worker, team):
    sweep = run_to_end(hyperband_yaml(max_iter=9, resume=False), team)

    dirs = list(sweep.trials.values_list("checkpoint_dir", flat=True))
    assert len(set(dirs)) == len(dirs)
    assert all(t.last_metrics["resumed_from"] == 0 for t in sweep.trials.all())


def test_it_early_stops_the_whole_sweep(celery_worker, team):
    cmd = quadratic("--sleep=0.3")
    text = hyperband_yaml(max_iter=27, concurrency=2, early_stopping=0.35, cmd=cmd)
    sweep = run_to_end(text, team)

    assert sweep.status == "early_stopped"
    event = sweep.events.get(kind="early_stopped")
    assert event.payload["metric"] == "loss"
    assert event.payload["value"] <= 0.35
    assert event.payload["rule"] == "loss <= 0.35"
    trial = Trial.objects.get(pk=event.payload["trial"])
    assert trial.last_metrics["loss"] == pytest.approx(event.payload["value"])
    assert not sweep.trials.filter(status__in=["pending", "queued", "running"]).exists()
    best = results.best(sweep)
    assert best["value"] <= 0.35  # stopped trials' values still count
    # One best: the finishing event's, the API's and the sweeps list's agree, and no point
    # of a stopped trial was stored after it stopped.
    assert sweep.events.get(kind="sweep_finished").payload["best"] == best
    assert rows([sweep])[0].best == best["value"]
    for trial in sweep.trials.filter(status="stopped", finished_at__isnull=False):
        late = trial.metric_points.filter(created_at__gt=trial.finished_at)
        assert not late.exists()
    assert sweep.trials.filter(status="stopped").exists()
    assert sweep.trials.filter(status="stopped", started_at__isnull=True).exists()
    assert sweep.trials.count() < sweep.plan["total_trials"]  # the rest of the plan never ran


def test_it_fails_a_crashing_trial_without_blocking_its_rung(celery_worker, team):
    text = hyperband_yaml(max_iter=9, cmd=quadratic("--fail-above=0.8"))
    sweep = run_to_end(text, team)

    assert sweep.status == "succeeded"
    failed = sweep.trials.filter(status="failed")
    assert failed.exists()
    for trial in failed:
        assert trial.exit_code == 3
        assert "diverged" in trial.stderr_tail
        assert not trial.promoted
    assert sweep.decisions.count() == 3


def test_it_fails_a_sweep_whose_trials_never_report_the_ranking_metric(celery_worker, team):
    sweep = run_to_end(hyperband_yaml(max_iter=9, cmd=quadratic("--metric='loss '")), team)

    assert sweep.status == "failed"
    missing = sweep.events.get(kind="ranking_metric_missing").payload
    assert (missing["metric"], missing["suggestion"]) == ("loss", "loss ")
    assert missing["reported"] == ["loss ", "resumed_from"]
    assert "ranking metric 'loss'" in sweep.status_reason
    assert "did you mean 'loss '?" in sweep.status_reason
    assert not sweep.decisions.exists()  # it stopped at the first rung, promoting nothing
    assert sweep.trials.count() < sweep.plan["total_trials"]
    assert results.best(sweep) is None


def test_it_ranks_diverged_trials_last_and_counts_unreadable_lines(celery_worker, team):
    cmd = quadratic("--diverge-above=0.6", "--bad-line")
    sweep = run_to_end(hyperband_yaml(max_iter=9, cmd=cmd), team)

    assert sweep.status == "succeeded", sweep.status_reason
    trials = list(sweep.trials.select_related("config"))
    diverged = [t for t in trials if t.config.params["x"] > 0.6]
    assert diverged and all(math.isnan(t.metric_value) for t in diverged)
    assert all(t.last_metrics["loss"] == "NaN" and not t.promoted for t in diverged)
    assert math.isfinite(results.best(sweep)["value"])
    for trial in trials:
        assert trial.rejected_points == 1
        assert trial.rejections[0].startswith("stdout line 1: value of 'loss' must be a number")
    rejected = sweep.events.filter(kind="metrics_rejected")
    assert sorted(e.payload["trial"] for e in rejected) == sorted(t.pk for t in trials)


def test_it_recovers_trials_of_a_killed_worker(main_worker, start_worker, team, process_env):
    from tests.conftest import start_process, stop_process

    main_worker.stop()  # so that the doomed worker runs every trial
    worker = start_worker("scheduler,trials", 4, "doomed")
    text = hyperband_yaml(max_iter=3, concurrency=3, cmd=quadratic("--sleep=3"))
    sweep = sweeps.create_sweep(text, team=team)
    wait_for(lambda: sweep.trials.filter(status="running").count() == 3, timeout=60)
    victims = set(sweep.trials.filter(status="running").values_list("id", flat=True))

    stop_process(worker, sig=9)
    beat = start_process(
        [*beat_argv()], {**process_env, "HBSITE_RECONCILE_SECONDS": "1"}, "beat.log"
    )
    try:
        start_worker("scheduler,trials", 4, "rescuer")
        wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=120, every=0.5)
    finally:
        stop_process(beat)

    sweep.refresh_from_db()
    assert sweep.status == "succeeded"
    requeued = sweep.events.filter(kind="trial_requeued")
    assert {e.payload["trial"] for e in requeued} == victims
    for trial in sweep.trials.filter(pk__in=victims):
        assert trial.status == "succeeded"
        assert trial.attempt == 2


def beat_argv() -> list[str]:
    """Beat with a schedule file in the session's data dir: sessions never share one."""
    import sys

    from django.conf import settings

    schedule = str(settings.HBSITE_DATA_DIR / "beat-schedule")
    return [sys.executable, "-m", "celery", "-A", "hbsite", "beat", "-l", "INFO",
            "-s", schedule]  # fmt: skip


def test_it_never_creates_a_trial_twice_under_concurrent_advance(team):
    sweep = sweeps.create_sweep(hyperband_yaml(max_iter=81, concurrency=1000), team=team)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def step() -> None:
        try:
            barrier.wait()
            tasks.advance(sweep.pk)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=step) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sweep.trials.filter(rung=0).count() == 143  # every first-rung trial, once
    assert Config.objects.filter(sweep=sweep).count() == 143
    assert sweep.events.filter(kind="sweep_started").count() == 1


def test_it_runs_a_grid_search_over_every_point_once(celery_worker, team):
    section = "grid_search: {metric: {name: loss, optimization: minimize}}"
    sweep = run_to_end(search_yaml(section, matrix={"x": "linspace: [0, 1, 6]"}), team)

    assert sweep.status == "succeeded"
    xs = sorted(t.config.params["x"] for t in sweep.trials.select_related("config"))
    assert xs == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(t.resource is None and "--steps=4" in t.command for t in sweep.trials.all())
    for trial in sweep.trials.select_related("config"):
        assert trial.metric_value == pytest.approx((trial.config.params["x"] - 0.3) ** 2 + 1 / 4)
    assert results.best(sweep)["params"]["x"] == pytest.approx(0.2)  # |0.2 - 0.3| is least


def test_it_runs_a_random_search_of_n_experiments(celery_worker, team):
    text = search_yaml("random_search: {n_experiments: 7}")
    sweep = run_to_end(text, team)

    assert sweep.status == "succeeded"
    assert sweep.trials.filter(status="succeeded").count() == 7
    assert len({t.config.params["x"] for t in sweep.trials.select_related("config")}) == 7


def test_it_terminates_a_trial_that_outlives_its_timeout(celery_worker, team):
    text = search_yaml("random_search: {n_experiments: 1}", "--sleep=30", timeout=1)
    sweep = run_to_end(text, team, timeout=60)

    trial = sweep.trials.get()
    assert trial.status == "failed"
    assert trial.error == "timed out after 1 s"
    assert trial.duration < 15
    assert sweep.status == "failed"
