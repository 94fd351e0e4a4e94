"""Pause, resume, retry and concurrency on PostgreSQL, with the scheduling step in-process."""

from __future__ import annotations

import pytest
from django.utils import timezone

from frontend import eventtext
from scheduler import control, events, sweeps, tasks, trials
from scheduler.models import RungDecision, Sweep, Trial, TrialStatus
from tests.sweeps import finish_rung, started_sweep


def reload(sweep: Sweep) -> Sweep:
    return Sweep.objects.get(pk=sweep.pk)


def statuses(sweep: Sweep, **where) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in sweep.trials.filter(**where).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def claim(trial_id: int) -> trials.Claim:
    claimed = trials.claim(trial_id, "test-worker", lambda trial: None)
    assert claimed is not None
    return claimed


def fail(trial: Trial) -> None:
    Trial.objects.filter(pk=trial.pk).update(
        status="failed", attempt=1, error="exited with code 1", finished_at=timezone.now()
    )


def kinds(sweep: Sweep) -> list[str]:
    return list(sweep.events.order_by("seq").values_list("kind", flat=True))


@pytest.fixture
def running(cast) -> Sweep:
    """The tiny 22-trial sweep, started: 17 first-rung trials, four queued, the rest pending."""
    return started_sweep(cast.team, cast.member)


def test_it_pauses_lets_running_trials_finish_and_starts_nothing_new(running, cast):
    queued = list(running.trials.filter(status="queued").order_by("id"))
    first = claim(queued[0].pk)

    control.pause(running.pk, cast.member)
    tasks.advance(running.pk)

    sweep = reload(running)
    assert sweep.is_paused and sweep.status == "running"
    assert statuses(sweep) == {"running": 1, "pending": 16}
    assert trials.heartbeat(first.fence, pid=1), "a running trial goes on during a pause"
    assert trials.claim(queued[1].pk, "w", lambda t: None) is None
    paused = sweep.events.get(kind=events.SWEEP_PAUSED).payload
    assert paused == {"by": "member", "requeue": False, "requeued": [],
                      "unqueued": [t.pk for t in queued[1:]],
                      "trial_numbers": {str(t.pk): t.number for t in queued[1:]}}  # fmt: skip
    assert eventtext.describe(events.SWEEP_PAUSED, paused).startswith("paused by member")

    control.resume(sweep.pk, cast.member)
    tasks.advance(sweep.pk)

    assert statuses(reload(sweep)) == {"running": 1, "queued": 3, "pending": 13}
    assert kinds(sweep)[-3:] == [events.SWEEP_PAUSED, events.SWEEP_RESUMED, events.TRIAL_QUEUED]


def test_it_stops_and_requeues_running_trials_when_asked_keeping_the_attempt(
    running, cast, settings
):
    trial_id = running.trials.filter(status="queued").order_by("id").first().pk
    claimed = claim(trial_id)

    control.pause(running.pk, cast.admin, requeue=True)

    trial = Trial.objects.get(pk=trial_id)
    assert trial.status == "pending" and trial.attempt == 1
    assert not trials.heartbeat(claimed.fence, pid=1), "the stopped attempt is fenced off"
    kept = trial.attempts.get()
    assert (kept.number, kept.status, kept.why) == (1, "stopped", "paused by admin")
    control.resume(running.pk, cast.admin)
    tasks.advance(running.pk)
    assert Trial.objects.get(pk=trial_id).status == "pending", "its old tree may still run"
    settings.HBSITE_LOST_AFTER_SECONDS = 0  # by now that tree is dead (see settling)
    control.set_concurrency(running.pk, 5, cast.admin)  # the others filled the four slots
    tasks.advance(running.pk)
    assert claim(trial_id).trial.attempt == 2


def test_it_decides_promotions_while_paused_and_runs_them_on_resume(cast):
    sweep = started_sweep(cast.team, cast.member)
    control.pause(sweep.pk, cast.member)

    finish_rung(sweep, 2, 0)

    decision = RungDecision.objects.get(sweep=sweep, bracket=2, rung=0)
    assert decision.promoted == 3
    assert statuses(sweep, bracket=2, rung=1) == {"pending": 3}
    control.resume(sweep.pk, cast.member)
    tasks.advance(sweep.pk)
    assert statuses(sweep, bracket=2, rung=1) == {"queued": 3}
    assert RungDecision.objects.filter(sweep=sweep).count() == 1


def test_a_rung_with_a_retried_trial_is_promoted_only_when_it_ends(cast):
    sweep = started_sweep(cast.team, cast.member)
    rung = list(sweep.trials.filter(bracket=2, rung=0).order_by("id"))
    fail(rung[0])

    assert control.retry(sweep.pk, cast.member, trial_ids=[rung[0].pk]) == [rung[0].pk]
    Trial.objects.filter(pk__in=[t.pk for t in rung[1:]]).update(status="succeeded")
    tasks.advance(sweep.pk)

    assert not RungDecision.objects.filter(sweep=sweep, bracket=2, rung=0).exists()
    retried = Trial.objects.get(pk=rung[0].pk)
    assert retried.status in ("pending", "queued") and retried.attempts.get().status == "failed"
    finish_rung(sweep, 2, 0)
    assert RungDecision.objects.get(sweep=sweep, bracket=2, rung=0).promoted == 3


def test_a_decided_rung_is_topped_up_once_its_retried_trials_end(cast):
    sweep = started_sweep(cast.team, cast.member)
    rung = list(sweep.trials.filter(bracket=2, rung=0).select_related("config").order_by("id"))
    # The best seven configs fail: only two succeed, so two of three planned go up.
    by_lr = sorted(rung, key=lambda t: t.config.params["lr"])
    for trial in by_lr[:7]:
        fail(trial)
    finish_rung_only(sweep, by_lr[7:])
    decision = RungDecision.objects.get(sweep=sweep, bracket=2, rung=0)
    assert decision.promoted == 2 and not decision.reopened

    control.retry(sweep.pk, cast.member, bracket=2, rung=0)
    assert RungDecision.objects.get(pk=decision.pk).reopened
    finish_rung(sweep, 2, 0)

    decision.refresh_from_db()
    assert decision.promoted == 3 and not decision.reopened
    up = sweep.trials.filter(bracket=2, rung=1).select_related("config")
    assert up.count() == 3, "promotion is topped up, never repeated"
    best = by_lr[0].config_id
    assert best in {t.config_id for t in up}
    last = sweep.events.filter(kind=events.RUNG_PROMOTED).order_by("-seq").first().payload
    assert last["top_up"] == 2 and len(last["promoted"]) == 1


def finish_rung_only(sweep: Sweep, rows: list[Trial]) -> None:
    for trial in rows:
        loss = float(trial.config.params["lr"])
        Trial.objects.filter(pk=trial.pk).update(
            status="succeeded", metric_value=loss, last_metrics={"loss": loss}
        )
    tasks.advance(sweep.pk)


def test_it_resumes_a_stopped_sweep_as_a_new_run_keeping_finished_trials(sweep, cast):
    done = set(sweep.trials.filter(status="succeeded").values_list("id", flat=True))
    killed = sweep.trials.filter(status="pending").first()
    trials.kill(killed.pk)
    sweeps.stop_sweep(sweep.pk)

    control.resume(sweep.pk, cast.member)
    tasks.advance(sweep.pk)

    resumed = reload(sweep)
    assert (resumed.status, resumed.run, resumed.finished_at) == ("running", 2, None)
    assert set(resumed.trials.filter(status="succeeded").values_list("id", flat=True)) == done
    assert Trial.objects.get(pk=killed.pk).status == "stopped", "a killed trial stays killed"
    assert statuses(resumed, status__in=Trial.UNFINISHED) == {"queued": 4, "pending": 6}
    payload = resumed.events.get(kind=events.SWEEP_RESUMED).payload
    assert payload["run"] == 2 and payload["by"] == "member" and len(payload["requeued"]) == 10


def test_a_failed_sweep_resumes_only_by_retrying_its_failed_trials(cast):
    sweep = started_sweep(cast.team, cast.member)
    sweep.trials.update(status="failed", attempt=1, error="exited with code 1")
    tasks.advance(sweep.pk)
    assert reload(sweep).status == "failed"

    with pytest.raises(control.ControlError, match="no trial left to run"):
        control.resume(sweep.pk, cast.member)
    control.resume(sweep.pk, cast.member, retry_failed=True)

    resumed = reload(sweep)
    assert resumed.status == "running" and resumed.run == 2
    assert statuses(resumed) == {"pending": 17}
    assert all(t.attempts.count() == 1 for t in resumed.trials.all())


def test_it_changes_concurrency_at_once_and_says_who(running, cast):
    control.set_concurrency(running.pk, 2, cast.member)
    assert statuses(reload(running)) == {"queued": 2, "pending": 15}

    control.set_concurrency(running.pk, 6, cast.admin)
    tasks.advance(running.pk)

    assert statuses(reload(running)) == {"queued": 6, "pending": 11}
    changes = [e.payload for e in running.events.filter(kind=events.CONCURRENCY_CHANGED)]
    assert [(c["by"], c["old"], c["new"], len(c["unqueued"])) for c in changes] == [
        ("member", 4, 2, 2), ("admin", 2, 6, 0),
    ]  # fmt: skip
    # The event log names the trials sent back by their numbers within the sweep.
    back = Trial.objects.filter(pk__in=changes[0]["unqueued"]).order_by("-id")
    text = eventtext.describe(events.CONCURRENCY_CHANGED, changes[0])
    assert text.endswith(f"{', '.join(f'#{t.number}' for t in back)} back to pending"), text


def test_it_refuses_what_does_not_apply(running, cast):
    with pytest.raises(control.ControlError, match="not paused"):
        control.resume(running.pk, cast.member)
    with pytest.raises(control.ControlError, match="from 1 to"):
        control.set_concurrency(running.pk, 0, cast.member)
    with pytest.raises(control.ControlError, match="did not fail"):
        control.retry(running.pk, cast.member, trial_ids=[running.trials.first().pk])
    first = running.trials.order_by("id").first()
    with pytest.raises(control.ControlError, match=f"#{first.number} of sweep"):
        control.retry(running.pk, cast.member, trial_ids=[first.pk])
    with pytest.raises(control.ControlError, match="not in sweep"):
        control.retry(running.pk, cast.member, trial_ids=[first.pk + 10**6])
    control.pause(running.pk, cast.member)
    with pytest.raises(control.ControlError, match="is paused"):
        control.pause(running.pk, cast.member)


def test_events_stay_in_seq_order_without_gaps(running, cast):
    control.pause(running.pk, cast.member, requeue=True)
    control.set_concurrency(running.pk, 3, cast.member)
    control.resume(running.pk, cast.member)
    tasks.advance(running.pk)
    seqs = list(running.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) == list(range(1, reload(running).last_seq + 1))


def test_a_lost_runner_still_gets_its_retries_after_a_pause_requeue(running, cast, settings):
    settings.HBSITE_MAX_RETRIES, settings.HBSITE_LOST_AFTER_SECONDS = 1, 0
    trial_id = running.trials.filter(status="queued").order_by("id").first().pk
    claim(trial_id)
    control.pause(running.pk, cast.member, requeue=True)
    control.resume(running.pk, cast.member)
    tasks.advance(running.pk)
    claim(trial_id)

    locked = trials.lock_trial(trial_id)
    assert locked is not None
    trials.requeue_or_lose(*locked, "stopped answering")

    trial = Trial.objects.get(pk=trial_id)
    assert trial.status == TrialStatus.PENDING, "the paused attempt is not counted as lost"
    assert [a.status for a in trial.attempts.all()] == ["stopped", "lost"]
