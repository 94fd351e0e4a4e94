"""What is waiting in the Celery broker: which trials still have a task message in a queue.

Reconcile uses this to resend the message of a queued trial within seconds when the broker
lost it (a restarted Redis, a runner killed while it held the message), instead of waiting
out a long timeout. Resending is safe either way: only one runner can claim a queued trial.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

import redis
from django.conf import settings

# kombu's Redis transport keeps a queue's messages of priority p > 0 under `queue + SEP + p`.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def queue_keys(queue: str) -> list[str]:
    """Return the Redis list keys that hold a queue's waiting messages, with the key prefix."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    prefix = options.get("global_keyprefix", "")
    names = [queue, *(f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS if p)]
    return [prefix + name for name in names]


def first_arg(raw: bytes) -> int | None:
    """Return the first task argument of one kombu message (Celery protocol 2), or None."""
    try:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return int(args[0])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def waiting_ids(queue: str = "trials") -> set[int] | None:
    """Return the first argument of every message waiting in `queue` (trial ids for `trials`).

    None when the broker is not Redis (then nobody can tell, and reconcile waits longer).
    """
    client = redis_client()
    if client is None:
        return None
    try:
        return set(parse_all(raw for key in queue_keys(queue) for raw in client.lrange(key, 0, -1)))
    finally:
        client.close()


def depth(queue: str) -> int | None:
    """Return how many task messages wait in `queue` (every priority), or None when the
    broker is not Redis. Raises redis.RedisError when Redis cannot be reached."""
    return waiting([queue])


def waiting(queues: Iterable[str]) -> int | None:
    """Return how many task messages wait in all of `queues` together, in one round trip
    on this process's client, or None when the broker is not Redis. Raises
    redis.RedisError when Redis cannot be reached."""
    client = shared_client()
    if client is None:
        return None
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for key in queue_keys(queue):
                pipe.llen(key)
        return sum(pipe.execute())


_shared: list[redis.Redis | None] = []


def shared_client() -> redis.Redis | None:
    """Return this process's client of the broker (thread-safe, pooled), or None when the
    broker is not Redis."""
    if not _shared:
        _shared.append(redis_client())
    return _shared[0]


def runner_queues() -> list[str]:
    """Return the runner queues (`trials@<runner name>`, scheduler.placement) that hold
    messages, found by scanning the broker's keys under its prefix; [] when the broker is
    not Redis. Raises redis.RedisError when Redis cannot be reached."""
    client = redis_client()
    if client is None:
        return []
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    prefix = options.get("global_keyprefix", "")
    pattern = glob_escape(prefix) + "trials@*"
    try:
        keys = {key.decode(errors="replace") for key in client.scan_iter(match=pattern)}
    finally:
        client.close()
    return sorted({key[len(prefix) :].split(PRIORITY_SEPARATOR)[0] for key in keys})


def glob_escape(text: str) -> str:
    """Escape Redis glob characters (`*?[]\\`) so a key prefix matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def redis_client() -> redis.Redis | None:
    """Return a client of the broker when it is Redis, else None."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(url)


def parse_all(messages: Iterable[bytes]) -> Iterable[int]:
    for raw in messages:
        value = first_arg(raw)
        if value is not None:
            yield value
