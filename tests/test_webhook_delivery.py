"""Webhook deliveries end to end: a real Celery worker (queue `webhooks`) posts to a real HTTP
receiver on 127.0.0.1, and Celery's retry brings a failed attempt back with backoff."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
import standardwebhooks
from django.db import transaction

from scheduler import sweeps, webhooks
from scheduler.models import Delivery, Event, Sweep
from tests.conftest import wait_for
from tests.sweeps import report_lr, sweep_yaml
from tests.webhook_receiver import Receiver, serving

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RANDOM_2 = (
    "  random_search:\n    n_experiments: 2\n    metric: {name: loss, optimization: minimize}"
)


def small_sweep_yaml() -> str:
    """Two trials, each reporting loss = lr once."""
    matrix = {"lr": "uniform: [0.01, 1]"}
    return sweep_yaml(
        RANDOM_2, name="hooked", declarations="{num_steps: 1}", matrix=matrix, cmd=report_lr()
    )


def test_a_finished_sweep_sends_one_signed_message(cast, celery_worker):
    with serving(Receiver()) as receiver:
        hook, secret = webhooks.create_webhook(cast.team, cast.admin, "team", receiver.url)
        sweep = sweeps.create_sweep(small_sweep_yaml(), team=cast.team, owner=cast.member)
        wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=120, every=0.5)
        delivered = Delivery.objects.filter(webhook=hook, status="succeeded")
        wait_for(delivered.exists, timeout=60, every=0.2)
        time.sleep(1)  # room for a second message, which must not come
        got = list(receiver.received)

    assert len(got) == 1
    message = standardwebhooks.Webhook(secret).verify(got[0].body, got[0].headers)
    event = Event.objects.get(sweep=sweep, kind="sweep_finished")
    assert got[0].headers["webhook-id"] == f"evt_{event.pk}"
    assert got[0].path == "/hook" and got[0].headers["Content-Type"] == "application/json"
    assert message["type"] == "sweep.succeeded"
    assert message["data"]["event_id"] == event.pk
    assert message["data"]["sweep"]["id"] == sweep.pk
    assert message["data"]["best"] == event.payload["best"]
    assert message["text"].startswith("Sweep <http") and "finished. Best loss" in message["text"]
    assert f"(trial #{event.payload['best']['number']}, bracket" in message["text"]
    delivery = delivered.get()
    assert (delivery.attempts, delivery.status_code, delivery.error) == (1, 200, "")
    assert len(delivery.log) == 1 and delivery.log[0]["status_code"] == 200


def test_a_receiver_failing_twice_gets_the_message_on_the_third_attempt(cast, celery_worker):
    with serving(Receiver(answers=[500, 503])) as receiver:
        hook, secret = webhooks.create_webhook(cast.team, cast.admin, "flaky", receiver.url)
        with transaction.atomic():
            delivery = webhooks.send_test(hook)
        done = Delivery.objects.filter(pk=delivery.pk, status="succeeded")
        wait_for(done.exists, timeout=60, every=0.2)
        got = list(receiver.received)

    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert [entry["status_code"] for entry in delivery.log] == [500, 503, 200]
    assert delivery.log[0]["error"].startswith("HTTP 500")
    assert delivery.status_code == 200 and delivery.error == ""
    # Each attempt waited at least the backoff: 0.5 s, then 1 s (HBSITE_WEBHOOK_RETRY_SECONDS).
    times = [datetime.fromisoformat(entry["at"]) for entry in delivery.log]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0, gaps
    # The same message each time, signed anew with the attempt's timestamp.
    assert len(got) == 3 and len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    for request in got:
        assert standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert json.loads(got[0].body)["type"] == "webhook.test"
