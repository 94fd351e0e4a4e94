"""Lost task messages are found in the broker and resent within seconds, not minutes."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.conf import settings

from hbsite.celery import app
from scheduler import broker, queueing, sweeps, tasks
from scheduler.models import Sweep
from tests.conftest import wait_for
from tests.sweeps import search_yaml

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reads_the_ids_waiting_in_a_broker_queue():
    queue = f"test-waiting-{uuid.uuid4().hex}"
    try:
        for trial_id in (7, 42):
            app.send_task(queueing.RUN_TRIAL, args=[trial_id], queue=queue)
        assert broker.waiting_ids(queue) == {7, 42}
    finally:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        client.delete(*broker.queue_keys(queue))
        client.close()
    assert broker.waiting_ids(queue) == set()


def test_it_ignores_messages_it_cannot_read():
    assert broker.first_arg(b"not json") is None
    assert broker.first_arg(b'{"body": "e30=", "properties": {"body_encoding": "base64"}}') is None


@pytest.mark.worker
def test_it_resends_the_messages_of_queued_trials_the_broker_lost(
    celery_worker, cast, settings, monkeypatch
):
    text = search_yaml("random_search: {n_experiments: 4}", concurrency=4)
    monkeypatch.setattr(queueing, "send", lambda *args: None)  # every message is lost
    sweep = sweeps.create_sweep(text, team=cast.team)
    tasks.advance(sweep.pk)
    assert sweep.trials.filter(status="queued").count() == 4
    monkeypatch.undo()

    settings.HBSITE_RESEND_AFTER_SECONDS = 0
    tasks.reconcile()  # in this process: finds the four lost messages and sends them again

    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=120, every=0.2)
    sweep.refresh_from_db()
    assert sweep.status == "succeeded", sweep.status_reason
    assert [t.attempt for t in sweep.trials.all()] == [1, 1, 1, 1]
