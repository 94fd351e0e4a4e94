"""The suite's Redis use: every key under the session's prefix, and only those deleted."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from scheduler import sweeps
from scheduler.models import Sweep
from tests.conftest import wait_for
from tests.redis_watch import RedisWrites, delete_keys_under, monitor_args
from tests.sweeps import hyperband_yaml


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_writes_redis_keys_only_under_the_session_prefix(celery_worker, cast):
    prefix = settings.HBSITE_REDIS_PREFIX
    pids = [os.getpid(), celery_worker.proc.pid]

    with RedisWrites(settings.REDIS_URL, pids) as writes:
        sweep = sweeps.create_sweep(hyperband_yaml(max_iter=3, concurrency=4), team=cast.team)
        wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=120, every=0.2)
        message = async_to_sync(relay_through_a_group)(writes)

    assert message["text"] == "hello"
    written = writes.written()
    queues = {prefix + "scheduler", prefix + "trials"}
    assert queues <= written, sorted(written)  # the worker's tasks were seen
    assert any(name.startswith(prefix + "asgi") for name in written), sorted(written)
    assert sorted(name for name in written if not name.startswith(prefix)) == []


async def relay_through_a_group(writes: RedisWrites) -> dict:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("prefix-check", channel)
    await layer.group_send("prefix-check", {"type": "check", "text": "hello"})
    message = await layer.receive(channel)
    await layer.group_discard("prefix-check", channel)
    writes.sample()  # this loop's connections close with it
    return message


@pytest.fixture
def client():
    return redis.Redis.from_url(settings.REDIS_URL)


def test_it_deletes_only_the_keys_under_a_prefix(client):
    prefix = f"{settings.HBSITE_REDIS_PREFIX}cleanup-{uuid.uuid4().hex}:"
    outside = f"hbsite-test-outside-{uuid.uuid4().hex}"
    client.set(outside, "kept", ex=60)
    client.set(prefix + "a", "1", ex=60)
    client.rpush(prefix + "queue*[x]", "1")
    try:
        assert delete_keys_under(client, prefix) == 2
        assert client.keys(prefix + "*") == []
        assert client.get(outside) == b"kept"
    finally:
        client.delete(outside)


def test_it_refuses_to_delete_with_an_empty_prefix(client):
    with pytest.raises(ValueError, match="empty"):
        delete_keys_under(client, "")


def test_it_reads_monitor_arguments_with_escapes():
    line = rb'"SET" "a \"b\"" "\x00\xc3\xbf\n" ""'
    assert monitor_args(line) == [b"SET", b'a "b"', b"\x00\xc3\xbf\n", b""]


@pytest.mark.django_db(transaction=True)
def test_a_test_without_a_worker_keeps_its_tasks_off_the_broker(cast, held_tasks):
    sweep = sweeps.create_sweep(hyperband_yaml(max_iter=3), team=cast.team)

    assert held_tasks == [("scheduler.tasks.advance", (sweep.pk,))]
    assert Sweep.objects.get(pk=sweep.pk).status == "created"
