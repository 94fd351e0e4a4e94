"""Faults for tests and drills: cut a database's connections, probe the API while it happens.

`cut_connections` ends every other session of one database the way a PostgreSQL restart
ends them (pg_terminate_backend), without touching the server or any other database on it.
"""

from __future__ import annotations

import collections
import threading
import urllib.error
import urllib.request

import psycopg

TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def dsn_of(db: dict) -> str:
    """Return a libpq connection string for a Django DATABASES entry."""
    parts = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": db["NAME"]}
    if db.get("PASSWORD"):
        parts["password"] = db["PASSWORD"]
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def cut_connections(dsn: str) -> int:
    """Terminate every other backend connected to the DSN's database; return how many."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(TERMINATE).fetchone()
    return int(row[0]) if row else 0


def end_backend(dsn: str, pid: int) -> bool:
    """Terminate one backend of the DSN's database, as a restart would; True if it was there."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()
    return bool(row and row[0])


class Cutter(threading.Thread):
    """Cut a database's connections every `every` seconds, at most `limit` times, until
    `stop()`; counts the cuts."""

    def __init__(self, dsn: str, every: float, limit: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.every, self.limit = dsn, every, limit
        self.rounds, self.terminated = 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while self.rounds < self.limit and not self.done.wait(self.every):
            self.terminated += cut_connections(self.dsn)
            self.rounds += 1

    def stop(self) -> None:
        self.done.set()
        self.join()


class ApiProbe(threading.Thread):
    """GET the given URLs in turn with a bearer token until `stop()`; counts answers by status.

    A status of 0 means no HTTP answer at all (the server was down).
    """

    def __init__(self, urls: list[str], token: str, pause: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.urls, self.token, self.pause = urls, token, pause
        self.statuses: collections.Counter[int] = collections.Counter()
        self.done = threading.Event()

    def get(self, url: str) -> int:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def run(self) -> None:
        while not self.done.is_set():
            for url in self.urls:
                self.statuses[self.get(url)] += 1
            self.done.wait(self.pause)

    def stop(self) -> collections.Counter[int]:
        self.done.set()
        self.join()
        return self.statuses
