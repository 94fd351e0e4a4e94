"""The statements of a scheduling round do not grow with the trials it handles: a round's
finishes and claims are each saved in one statement (scheduler.rows), and promoting a rung
reads its trials once. What one statement saves is what `Model.save` would have saved, and
what `rows.fetch` reads is what the ORM would have read."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from scheduler import handoff, queueing, rows, runner_db, scheduling, stored
from scheduler.models import Trial
from scheduler.rows import save_fields
from tests.sweeps import hyperband_yaml, started_sweep
from tests.test_handoff import claimed, ending

pytestmark = pytest.mark.django_db(transaction=True)


def trial_statements(queries: CaptureQueriesContext) -> list[str]:
    """The UPDATE and SELECT statements a block sent on the trials table."""
    return [
        q["sql"] for q in queries.captured_queries
        if '"scheduler_trial"' in q["sql"] and q["sql"].startswith(("UPDATE", "SELECT"))
    ]  # fmt: skip


def round_statements(sweep, count: int) -> tuple[list[str], list]:
    endings = [ending(claim) for claim in claimed(sweep, count)]
    with CaptureQueriesContext(connection) as queries:
        outcome = handoff.finish_and_claim(sweep.pk, endings, [queueing.TRIALS], runner_db.prepare)
    return trial_statements(queries), outcome


def test_a_round_saves_its_finishes_and_its_claims_in_one_statement_each(cast, held_tasks):
    two = started_sweep(cast.team, text=hyperband_yaml(concurrency=2, seed=1))
    six = started_sweep(cast.team, text=hyperband_yaml(concurrency=6, seed=2))

    few, few_outcome = round_statements(two, 2)
    many, many_outcome = round_statements(six, 6)

    assert [claim is not None for _, claim in few_outcome] == [True] * 2
    assert [claim is not None for _, claim in many_outcome] == [True] * 6
    assert len(many) == len(few)  # not one more statement per trial
    for sweep, count in ((two, 2), (six, 6)):
        states = list(sweep.trials.values_list("status", flat=True))
        assert states.count("succeeded") == count and states.count("running") == count


def test_promoting_a_rung_reads_its_trials_once_whatever_its_size(cast, held_tasks):
    sweep = started_sweep(cast.team, text=hyperband_yaml(concurrency=1))
    spec, plan = stored.spec_of(sweep), stored.plan_of(sweep)
    counts = {}
    for bracket in (plan.brackets[0], plan.brackets[2]):  # 81 and 15 configs at rung 0
        rung = sweep.trials.filter(bracket=bracket.s, rung=0)
        for number, trial in enumerate(rung):
            Trial.objects.filter(pk=trial.pk).update(status="succeeded", metric_value=number)
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            scheduling.promote(sweep, spec, bracket, 0)
        counts[rung.count()] = len(queries.captured_queries)
        promoted = sweep.trials.filter(bracket=bracket.s, rung=1).count()
        assert promoted == bracket.rungs[1].configs
    assert len(counts) == 2 and len(set(counts.values())) == 1, counts


def test_one_statement_stores_each_row_as_save_would(cast, held_tasks):
    sweep = started_sweep(cast.team, text=hyperband_yaml(concurrency=3))
    first, second, third = sweep.trials.filter(status="queued").order_by("id")[:3]
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first.last_metrics, first.metric_value = {"loss": 0.5, "quote's": [1, None]}, math.nan
    first.error, first.finished_at, first.exit_code = 'it\'s\n"odd" \\ text', moment, -9
    second.metric_value, second.finished_at, second.error = None, None, ""
    second.last_metrics, second.exit_code = {}, 0
    third.status = "failed"  # changed, but not among the fields saved

    fields = ["last_metrics", "metric_value", "error", "finished_at", "exit_code"]
    save_fields([first, second], fields)

    stored_first = Trial.objects.get(pk=first.pk)
    assert stored_first.last_metrics == {"loss": 0.5, "quote's": [1, None]}
    assert math.isnan(stored_first.metric_value)
    assert stored_first.error == 'it\'s\n"odd" \\ text'
    assert (stored_first.finished_at, stored_first.exit_code) == (moment, -9)
    stored_second = Trial.objects.get(pk=second.pk)
    assert (stored_second.metric_value, stored_second.finished_at) == (None, None)
    assert (stored_second.last_metrics, stored_second.exit_code) == ({}, 0)
    assert stored_first.status == stored_second.status == "queued"
    assert Trial.objects.get(pk=third.pk).status == "queued"


def test_a_value_too_long_for_its_column_is_refused_as_save_refuses_it(cast, held_tasks):
    sweep = started_sweep(cast.team, text=hyperband_yaml(concurrency=2))
    first, second = sweep.trials.filter(status="queued").order_by("id")[:2]
    first.checkpoint_dir, second.worker = "/d" * 300, "w" * 201  # limits: 500 and 200
    for save in (lambda: first.save(update_fields=["checkpoint_dir"]),
                 lambda: save_fields([first, second], ["checkpoint_dir", "worker"])):  # fmt: skip
        with pytest.raises(DataError, match="too long"), transaction.atomic():
            save()
    stored = Trial.objects.filter(pk__in=[first.pk, second.pk])
    assert set(stored.values_list("checkpoint_dir", "worker")) == {("", "")}


def test_it_refuses_unsaved_rows_and_rows_of_two_models(cast, held_tasks):
    sweep = started_sweep(cast.team, text=hyperband_yaml(concurrency=1))
    trial = sweep.trials.first()
    with pytest.raises(ValueError, match="saved rows of one model"):
        save_fields([trial, Trial(sweep=sweep)], ["error"])
    with pytest.raises(ValueError, match="saved rows of one model"):
        save_fields([trial, sweep], ["status"])
    with CaptureQueriesContext(connection) as queries:
        save_fields([], ["error"])
    assert queries.captured_queries == []


def test_fetch_reads_rows_as_the_orm_reads_them(cast, held_tasks):
    sweep = started_sweep(cast.team, text=hyperband_yaml(concurrency=2))
    first, second = sweep.trials.filter(status="queued").order_by("id")[:2]
    Trial.objects.filter(pk=first.pk).update(
        last_metrics={"loss": 0.25, "tags": ["a", None]}, metric_value=math.nan,
        finished_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), error="it's",
    )  # fmt: skip
    sql = f"SELECT {rows.columns(Trial)} FROM scheduler_trial WHERE id = ANY(%s) ORDER BY id"

    found = rows.fetch(Trial, sql, [[first.pk, second.pk]])

    assert [type(row) for row in found] == [Trial, Trial]
    for row in found:
        orm = Trial.objects.get(pk=row.pk)
        for field in Trial._meta.concrete_fields:
            mine, theirs = getattr(row, field.attname), getattr(orm, field.attname)
            same = mine == theirs or (math.isnan(mine) and math.isnan(theirs))
            assert same, (field.name, mine, theirs)
        assert not row._state.adding and row._state.db == "default"
    found[1].error = "saved as fetched"
    found[1].save(update_fields=["error"])  # a fetched row saves as a loaded one
    assert Trial.objects.get(pk=second.pk).error == "saved as fetched"
