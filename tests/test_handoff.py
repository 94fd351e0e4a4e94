"""A local runner's finish: the attempts' ends, the scheduling step and the next claims in one
transaction (scheduler.handoff), and when a runner thread may take the next trial itself."""

from __future__ import annotations

import math

import pytest
from celery import current_app
from django.db import transaction

from scheduler import events, handoff, metrics, queueing, runner_db, sweeps, tasks, trials
from scheduler.models import Event, Sweep, Trial
from tests.conftest import drop_queued_tasks, wait_for
from tests.sweeps import search_yaml, started_sweep, tiny_yaml

pytestmark = pytest.mark.django_db(transaction=True)


def claimed(sweep, count: int) -> list[trials.Claim]:
    queued = sweep.trials.filter(status="queued").order_by("id")[:count]
    found = [trials.claim(t.pk, f"runner:{t.pk}", runner_db.prepare) for t in queued]
    assert all(found) and len(found) == count
    return found  # type: ignore[return-value]


def ending(
    claim: trials.Claim, exit_code: int = 0, take_next: bool = True, points=()
) -> handoff.Ending:
    worker = f"next:{claim.trial.pk}"
    return handoff.Ending(claim.fence, exit_code, "", "out", "", take_next, worker, tuple(points))


def test_one_round_ends_attempts_and_claims_the_next_trials_for_their_threads(cast, held_tasks):
    sweep = started_sweep(cast.team, text=tiny_yaml(concurrency=2))
    first, second = claimed(sweep, 2)
    before = sweep.events.order_by("-seq").first().seq
    held_tasks.clear()

    outcome = handoff.finish_and_claim(
        sweep.pk, [ending(first), ending(second, exit_code=3)], [queueing.TRIALS],
        runner_db.prepare,
    )  # fmt: skip

    assert [done for done, _ in outcome] == [True, True]
    following = [claim for _, claim in outcome]
    assert all(following)
    states = dict(
        sweep.trials.filter(pk__in=[first.trial.pk, second.trial.pk]).values_list("id", "status")
    )
    assert states == {first.trial.pk: "succeeded", second.trial.pk: "failed"}
    for claim, done in zip(following, (first, second), strict=True):
        trial = Trial.objects.get(pk=claim.trial.pk)
        assert (trial.status, trial.worker, trial.attempt) == (
            "running",
            f"next:{done.trial.pk}",
            1,
        )
        assert trial.command and trial.checkpoint_dir
    assert sweep.trials.occupying().count() == 2  # concurrency holds
    assert held_tasks == []  # the kept trials never went to the broker
    kinds = list(sweep.events.filter(seq__gt=before).order_by("seq").values_list("kind", flat=True))
    assert kinds == ["trial_finished", "trial_finished", "trial_queued", "trial_started",
                     "trial_started"]  # fmt: skip


def test_an_attempt_that_lost_its_trial_changes_nothing_in_the_round(cast, held_tasks):
    sweep = started_sweep(cast.team, text=tiny_yaml(concurrency=2))
    first, second = claimed(sweep, 2)
    Trial.objects.filter(pk=second.trial.pk).update(token_hash="another attempt")
    held_tasks.clear()

    outcome = handoff.finish_and_claim(
        sweep.pk, [ending(first, take_next=False), ending(second)], [queueing.TRIALS],
        runner_db.prepare,
    )  # fmt: skip

    assert outcome == [(True, None), (False, None)]
    assert Trial.objects.get(pk=second.trial.pk).status == "running"
    # The slot the first freed went to the runners as a task: its thread did not ask for one.
    sent = [args[0] for task, args in held_tasks if task == queueing.RUN_TRIAL]
    assert len(sent) == 1 and Trial.objects.get(pk=sent[0]).status == "queued"


def test_the_finish_stores_the_last_points_and_early_stops_in_the_same_round(cast, held_tasks):
    sweep = started_sweep(cast.team, text=tiny_yaml(concurrency=2, early_stopping=0.1))
    first, second = claimed(sweep, 2)
    last = [metrics.Point("loss", 1, 0.5), metrics.Point("acc", 1, 0.7),
            metrics.Point("loss", 2, float("nan"))]  # fmt: skip
    trials.kill(second.trial.pk)  # stopped meanwhile: its points are counted, not stored

    outcome = handoff.finish_and_claim(
        sweep.pk, [ending(first, points=last), ending(second, points=last[:1])],
        [queueing.TRIALS], runner_db.prepare,
    )  # fmt: skip

    assert [done for done, _ in outcome] == [True, True]
    trial = Trial.objects.get(pk=first.trial.pk)
    assert trial.last_metrics == {"loss": "NaN", "acc": 0.7}
    assert math.isnan(trial.metric_value) and trial.met_rule is None
    assert list(trial.metric_points.order_by("id").values_list("name", "step")) == [
        ("loss", 1), ("acc", 1), ("loss", 2)
    ]  # fmt: skip
    stopped = Trial.objects.get(pk=second.trial.pk)
    assert (stopped.status, stopped.metric_points.count(), stopped.rejected_points) == (
        "stopped", 0, 1
    )  # fmt: skip

    third = outcome[0][1]  # the trial the first ending's thread took next
    assert third is not None
    handoff.finish_and_claim(
        sweep.pk, [ending(third, points=[metrics.Point("loss", 1, 0.05)])], [queueing.TRIALS],
        runner_db.prepare,
    )  # fmt: skip
    ended = Sweep.objects.get(pk=sweep.pk)
    assert ended.status == "early_stopped" and f"#{third.trial.number}" in ended.status_reason
    assert Trial.objects.get(pk=third.trial.pk).met_rule == 0


def test_a_thread_takes_the_next_trial_only_while_no_other_task_waits():
    drop_queued_tasks()
    queues = [queueing.TRIALS, "scheduler"]
    assert tasks.no_other_task_waits(queues)
    for task, queue in ((queueing.RUN_TRIAL, queueing.TRIALS), (queueing.ADVANCE, "scheduler")):
        current_app.send_task(task, args=[0], queue=queue)
        try:
            assert not tasks.no_other_task_waits(queues)
        finally:
            drop_queued_tasks()
        assert tasks.no_other_task_waits(queues)


def test_a_round_asks_once_whether_its_threads_may_take_a_next_trial(cast, held_tasks):
    sweep = started_sweep(cast.team, text=tiny_yaml(concurrency=3))
    started = claimed(sweep, 3)
    asked: list[str] = []

    def busy() -> bool:
        asked.append("busy")
        return False

    def idle() -> bool:
        asked.append("idle")
        return True

    batch = [
        runner_db.Finishing(runner_db.assignment_of(claim), ending(claim), ask)
        for claim, ask in zip(started, (busy, idle, busy), strict=True)
    ]
    found = runner_db.endings(batch)

    assert [e.take_next for e in found] == [False, True, False]
    assert sorted(asked) == ["busy", "idle"]  # once each, not once per thread
    outcome = handoff.finish_and_claim(sweep.pk, found, [queueing.TRIALS], runner_db.prepare)
    assert [claim is not None for _, claim in outcome] == [False, True, False]


@pytest.mark.worker
def test_a_runner_thread_runs_a_sweeps_trials_back_to_back(celery_worker, cast):
    sweep = sweeps.create_sweep(tiny_yaml(concurrency=1), team=cast.team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=120)
    ran = list(sweep.trials.order_by("started_at"))
    assert Sweep.objects.get(pk=sweep.pk).status == "succeeded" and len(ran) == 22
    # One thread claimed every trial as its previous one ended: no task between them.
    assert len({trial.worker for trial in ran}) == 1
    assert all(a.finished_at <= b.started_at for a, b in zip(ran, ran[1:], strict=False))


@pytest.mark.worker
def test_a_sweep_that_keeps_every_runner_thread_busy_lets_another_sweep_in(celery_worker, cast):
    busy = sweeps.create_sweep(
        search_yaml("random_search: {n_experiments: 40}", concurrency=8), team=cast.team
    )
    wait_for(lambda: busy.trials.filter(status="running").count() >= 4, timeout=120)
    other = sweeps.create_sweep(
        search_yaml("random_search: {n_experiments: 2}", concurrency=2), team=cast.team
    )
    both = Sweep.objects.filter(pk__in=[busy.pk, other.pk])
    wait_for(lambda: not both.filter(status__in=["created", "running"]).exists(), timeout=300)
    assert {sweep.status for sweep in both} == {"succeeded"}
    # The other sweep's start (an advance task) and its trials did not wait for the busy
    # sweep's 40 trials: its first trial started before the busy sweep's last one did.
    first_other = min(other.trials.values_list("started_at", flat=True))
    last_busy = max(busy.trials.values_list("started_at", flat=True))
    assert first_other < last_busy


def test_a_point_that_meets_a_rule_marks_its_trial_in_the_same_update(cast, held_tasks):
    text = tiny_yaml(concurrency=1, early_stopping=0.1)
    sweep = started_sweep(cast.team, text=text)
    (first,) = claimed(sweep, 1)
    trial = runner_db.fenced_trial(runner_db.assignment_of(first))
    held_tasks.clear()

    assert metrics.record(trial, [metrics.Point("loss", 1, 0.5)]) == 1
    assert Trial.objects.get(pk=trial.pk).met_rule is None and held_tasks == []
    assert metrics.record(trial, [metrics.Point("loss", 2, 0.05), metrics.Point("loss", 3, 0.01)])
    marked = Trial.objects.get(pk=trial.pk)
    assert (marked.met_rule, marked.met_value, marked.metric_value) == (0, 0.05, 0.01)
    assert held_tasks == [(queueing.ADVANCE, (sweep.pk,))]  # the step ends the sweep
    metrics.record(trial, [metrics.Point("loss", 4, 0.001)])
    assert Trial.objects.get(pk=trial.pk).met_value == 0.05  # the first mark stays


def test_a_rounds_events_are_stored_together_in_order(cast, held_tasks):
    sweep = started_sweep(cast.team, text=tiny_yaml())
    before = Sweep.objects.get(pk=sweep.pk).last_seq
    stored = lambda: list(  # noqa: E731
        Event.objects.filter(sweep=sweep, seq__gt=before).order_by("seq").values_list("seq", "kind")
    )
    promoted = {"bracket": 0, "rung": 0, "to_rung": 1, "resource": 3, "promoted": [],
                "configs": [], "cutoff": None}  # fmt: skip
    with transaction.atomic():
        locked = sweeps.lock_sweep(sweep.pk)
        with events.batched(locked):
            events.emit(locked, events.TRIAL_QUEUED, {"trials": [1], "numbers": [1]})
            assert stored() == []  # held for the end of the batch
            events.emit(locked, events.RUNG_PROMOTED, promoted)  # for webhooks: stored at once
            assert [seq for seq, _ in stored()] == [before + 1, before + 2]
            events.emit(locked, events.TRIAL_QUEUED, {"trials": [2], "numbers": [2]})
        assert stored() == [(before + 1, "trial_queued"), (before + 2, "rung_promoted"),
                            (before + 3, "trial_queued")]  # fmt: skip
    assert Sweep.objects.get(pk=sweep.pk).last_seq == before + 3


def test_a_batch_within_a_batch_of_the_same_sweep_leaves_its_events_to_the_outer_one(
    cast, held_tasks, monkeypatch
):
    sweep = started_sweep(cast.team, text=tiny_yaml())
    before = Sweep.objects.get(pk=sweep.pk).last_seq
    sent: list[list[int]] = []
    monkeypatch.setattr(events, "_publish", lambda _s, messages, _summary: sent.append(
        [m["seq"] for m in messages]))  # fmt: skip
    with transaction.atomic():
        locked = sweeps.lock_sweep(sweep.pk)
        with events.batched(locked):
            events.emit(locked, events.TRIAL_QUEUED, {"trials": [1], "numbers": [1]})
            with events.batched(locked):
                events.emit(locked, events.TRIAL_QUEUED, {"trials": [2], "numbers": [2]})
            events.emit(locked, events.TRIAL_QUEUED, {"trials": [3], "numbers": [3]})
    seqs = list(Event.objects.filter(sweep=sweep, seq__gt=before).values_list("seq", flat=True))
    assert sorted(seqs) == [before + 1, before + 2, before + 3]  # each stored once
    assert sent == [[before + 1, before + 2, before + 3]]  # sent once, together, in order
