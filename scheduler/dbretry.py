"""Riding out a database that drops its connections or restarts for a few seconds.

A PostgreSQL restart, a failover or a terminated backend breaks every open connection: the
next query raises Django's OperationalError (or InterfaceError on a connection already
marked closed). Such an error says nothing about the work itself, so it must never become a
trial's result or a user's 500. `call` closes the broken connection (a pooled one goes back
to the pool, which discards it; the next query gets a fresh one) and runs the function again,
backing off from 0.1 s to at most 2 s between tries, until the database answers or
HBSITE_DB_RETRY_SECONDS (60 by default) have passed.

A retried function must be safe to run again after a failure: a transaction that broke
rolled back, so an `@transaction.atomic` function is; the writes it fences (scheduler.trials)
are also safe when the commit itself went through before the connection broke.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 2.0

P = ParamSpec("P")
R = TypeVar("R")


def retry_seconds() -> float:
    """Return how long, in seconds, work waits for a database that went away."""
    return float(getattr(settings, "HBSITE_DB_RETRY_SECONDS", 60))


def drop_connection() -> None:
    """Close this thread's database connection, broken or not, so the next query opens anew."""
    with contextlib.suppress(DatabaseError):
        connection.close()


def delays(budget: float) -> list[float]:
    """Return the sleeps, in seconds, between tries within `budget` seconds: 0.1, 0.2, ... 2."""
    out: list[float] = []
    delay, total = FIRST_DELAY_SECONDS, 0.0
    while total + delay <= budget:
        out.append(delay)
        total += delay
        delay = min(delay * 2, MAX_DELAY_SECONDS)
    return out


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Return `fn(*args, **kwargs)`, tried again while the database is unreachable.

    Gives up after retry_seconds() and raises the last OperationalError/InterfaceError.
    Inside a transaction nothing is retried (the transaction is lost with its connection):
    the error goes up to whoever opened it.
    """
    return call_within(retry_seconds(), fn, *args, **kwargs)


def call_within(budget: float, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Like `call`, but gives up after `budget` seconds."""
    waits = iter(delays(budget))
    while True:
        try:
            return fn(*args, **kwargs)
        except TRANSIENT as exc:
            if connection.in_atomic_block:
                raise
            drop_connection()
            delay = next(waits, None)
            if delay is None:
                raise
            name = getattr(fn, "__name__", repr(fn))
            why = first_line(exc)
            log.warning("database unavailable (%s); %s again in %.1f s", why, name, delay)
            time.sleep(delay)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
