"""Trials are #1..#N within their sweep: assigned by the database as rows are inserted, by
every code path, without repeats under concurrent inserts; carried by events, the event log,
the API and the pages; and backfilled in id order by the migration."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from frontend import eventtext
from scheduler import events
from scheduler.models import Config, Event, Sweep, Trial
from tests.conftest import login
from tests.sweeps import finish_rung, started_sweep, tiny_yaml


def numbers(sweep: Sweep) -> list[int]:
    return list(sweep.trials.order_by("id").values_list("number", flat=True))


def test_it_numbers_a_new_sweeps_trials_from_one_in_creation_order(cast):
    started_sweep(cast.team, cast.member)  # another sweep first: ids no longer start at 1
    sweep = started_sweep(cast.team, cast.member)
    first = sweep.trials.order_by("id").first()
    assert first is not None and first.pk > 1
    assert numbers(sweep) == list(range(1, sweep.trials.count() + 1))


def test_it_numbers_promoted_trials_after_the_ones_before_them(cast):
    sweep = started_sweep(cast.team, cast.member)
    before = sweep.trials.count()
    finish_rung(sweep, 2, 0)
    promoted = list(sweep.trials.filter(bracket=2, rung=1).order_by("id"))
    assert len(promoted) == 3
    assert [t.number for t in promoted] == [before + 1, before + 2, before + 3]
    assert numbers(sweep) == list(range(1, before + 4))


def test_the_model_gets_its_number_back_from_the_insert(cast):
    sweep = started_sweep(cast.team, cast.member)
    config = Config.objects.create(sweep=sweep, bracket=9, index=0, params={})
    made = Trial.objects.create(sweep=sweep, config=config, bracket=9, rung=0)
    assert made.number == sweep.trials.count()


def test_numbers_given_in_bulk_and_by_the_database_continue_each_other(cast):
    from scheduler import numbering

    sweep = started_sweep(cast.team, cast.member)
    planned = sweep.trials.count()
    configs = [Config.objects.create(sweep=sweep, bracket=9, index=i, params={}) for i in range(3)]
    one = Trial.objects.create(sweep=sweep, config=configs[0], bracket=9, rung=0)  # trigger
    rows = [Trial(sweep=sweep, config=c, bracket=9, rung=0) for c in configs[1:]]
    Trial.objects.bulk_create(numbering.numbered(sweep, rows))
    again = Trial.objects.create(sweep=sweep, config=configs[0], bracket=9, rung=1)
    assert [one.number, *(r.number for r in rows), again.number] == [
        planned + 1, planned + 2, planned + 3, planned + 4,
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_into_one_sweep_never_share_a_number(cast):
    sweep = started_sweep(cast.team, cast.member)
    planned = sweep.trials.count()
    configs = [Config.objects.create(sweep=sweep, bracket=8, index=i, params={}) for i in range(40)]
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def insert(part: list[Config]) -> None:
        try:
            barrier.wait(timeout=30)
            for config in part:  # one transaction per row: the most interleaving
                with transaction.atomic():
                    Trial.objects.create(sweep=sweep, config=config, bracket=8, rung=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=insert, args=(configs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert sorted(numbers(sweep)) == list(range(1, planned + 41))


def test_events_and_the_log_name_trials_by_number(cast):
    sweep = started_sweep(cast.team, cast.member)
    queued = Event.objects.get(sweep=sweep, kind=events.TRIAL_QUEUED).payload
    by_id = dict(sweep.trials.values_list("id", "number"))
    assert queued["numbers"] == [by_id[i] for i in queued["trials"]]
    text = eventtext.describe(events.TRIAL_QUEUED, queued)
    assert text.startswith(f"queued #{queued['numbers'][0]}, ")
    trial = sweep.trials.order_by("id").last()
    state = events.trial_state(trial)
    assert state["number"] == trial.number != trial.pk
    assert eventtext.describe(events.TRIAL_STARTED, state).startswith(f"trial #{trial.number} (")


def test_an_event_written_before_numbers_names_the_trial_by_id():
    text = eventtext.describe(events.TRIAL_STARTED, {"trial": 812, "bracket": 0, "rung": 0})
    assert text.startswith("trial id 812 (")


def test_the_api_gives_each_trial_its_number_and_finds_it_by_number(cast):
    started_sweep(cast.team, cast.member)
    sweep = started_sweep(cast.team, cast.member)
    client = APIClient()
    client.force_login(cast.viewer)
    listed = client.get(f"/api/trials/?sweep={sweep.pk}").json()["results"]
    assert [t["number"] for t in listed][:3] == [1, 2, 3]
    (found,) = client.get(f"/api/trials/?sweep={sweep.pk}&number=2").json()["results"]
    assert found["id"] == listed[1]["id"] and found["number"] == 2
    detail = client.get(f"/api/trials/{found['id']}/").json()
    assert detail["lineage"][0]["number"] == 2


def test_the_pages_show_numbers_and_link_by_id(client, cast):
    started_sweep(cast.team, cast.member)
    sweep = started_sweep(cast.team, cast.member)
    trial = sweep.trials.order_by("id").first()
    page = login(client, cast.viewer).get(f"/sweeps/{sweep.pk}/").content.decode()
    assert f'<a href="/trials/{trial.pk}/">#1</a>' in page
    assert "queued #1, #2" in page  # the event log
    trial_page = client.get(f"/trials/{trial.pk}/").content.decode()
    assert "<h1>Trial #1</h1>" in trial_page


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_trials_in_id_order_and_their_events(cast):
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    # Just before this migration, wherever the chain puts it; then every leaf again.
    before = [p.key for p in graph.node_map[("scheduler", "0007_numbers_tags")].parents]
    after = graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        sweeps = [make_old_sweep(old, cast.team.pk, name) for name in ("a", "b")]
        rows = [make_old_trial(old, sweeps[i % 2], i) for i in range(6)]  # interleaved ids
        Event = old.get_model("scheduler", "Event")
        Event.objects.create(sweep_id=sweeps[1].pk, seq=1, kind="trial_started",
                             payload={"trial": rows[3].pk})  # fmt: skip
        Event.objects.create(sweep_id=sweeps[1].pk, seq=2, kind="trial_queued",
                             payload={"trials": [rows[5].pk, rows[1].pk]})  # fmt: skip
    finally:
        MigrationExecutor(connection).migrate(after)
    for sweep in sweeps:
        ids = list(Trial.objects.filter(sweep_id=sweep.pk).order_by("id").values_list("id"))
        assert [Trial.objects.get(pk=i).number for (i,) in ids] == [1, 2, 3]
    started, queued = Event.objects.filter(sweep_id=sweeps[1].pk).order_by("seq")
    assert started.payload["number"] == 2 and queued.payload["numbers"] == [3, 1]
    more = Trial.objects.create(sweep_id=sweeps[0].pk, config_id=rows[0].config_id, bracket=0,
                                rung=1)  # fmt: skip
    assert more.number == 4


def make_old_sweep(apps, team_id: int, name: str):
    return apps.get_model("scheduler", "Sweep").objects.create(
        team_id=team_id, name=name, yaml=tiny_yaml(), spec={}, plan={}, algorithm="hyperband",
        concurrency=1, seed=1,
    )  # fmt: skip


def make_old_trial(apps, sweep, index: int):
    config = apps.get_model("scheduler", "Config").objects.create(
        sweep_id=sweep.pk, bracket=0, index=index, params={}
    )
    return apps.get_model("scheduler", "Trial").objects.create(
        sweep_id=sweep.pk, config_id=config.pk, bracket=0, rung=0
    )


def test_a_trial_process_is_told_its_number_beside_its_id(cast):
    from django.conf import settings

    from scheduler import runner, runner_db

    started_sweep(cast.team, cast.member)
    sweep = started_sweep(cast.team, cast.member)
    trial = sweep.trials.order_by("id")[2]
    Trial.objects.filter(pk=trial.pk).update(status="queued")
    claimed = runner_db.start(trial.pk, "test-worker", "test-runner", settings.HBSITE_DATA_DIR)
    assert claimed is not None and claimed.number == 3
    env = runner.trial_env(claimed, "http://127.0.0.1:1")
    assert (env["HBSITE_TRIAL_NUMBER"], env["HBSITE_TRIAL_ID"]) == ("3", str(trial.pk))
