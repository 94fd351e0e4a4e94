"""The `hbsite` command (also `python -m hbsite`): the one entry point of an installed hbsite.

    hbsite run [--no-demo] [--host H] [--port P] [--runners N]
        start a private PostgreSQL and Valkey in the data directory when none is given or
        answering (hbsite/embedded.py), create the database when it is missing, migrate, seed
        the demo user, team and sweep, then run web + scheduler + runner + beat under
        supervisord (`make run` calls this)
    hbsite runner [-c N] [-n NAME]
        one runner: a Celery worker on the `trials` queue, for more machines or more trials
    hbsite manage ARGS...
        any Django management command, as `manage.py ARGS...` (migrate, createsuperuser, ...)
    hbsite sweep validate|plan|submit|status|stop ...
        sweeps from the command line (the `sweep` management command)
    hbsite paths
        print the data directory and the files hbsite keeps there

Settings come from environment variables (README.md, "Settings"); DJANGO_SETTINGS_MODULE
defaults to `hbsite.settings`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hbsite import datadir, embedded, supervise


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")
    import django

    django.setup()


def ensure_database() -> None:
    """Create the configured PostgreSQL database when it does not exist yet.

    Connects to the server's `postgres` database with the configured user; a server that
    refuses is left for `migrate` to report. Other database engines are left alone.
    """
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    keys = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    params = {key: db[name] for key, name in keys.items() if db.get(name)}
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(query, [db["NAME"]]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                print(f"created database {db['NAME']}")
    except psycopg.Error as exc:
        print(f"could not check or create database {db['NAME']}: {exc}".strip(), file=sys.stderr)


# `hbsite run` serves plain HTTP on this machine: no HTTPS redirect and no Secure-only cookies
# unless the environment asks for them (behind a TLS proxy, set both to True).
PLAIN_HTTP = {"SECURE_SSL_REDIRECT": "False", "SECURE_COOKIES": "False"}


def run(args: argparse.Namespace) -> int:
    for name, value in (("HOST", args.host), ("PORT", args.port), ("RUNNERS", args.runners)):
        if value is not None:
            os.environ[f"HBSITE_{name}"] = str(value)
    for name, value in PLAIN_HTTP.items():
        os.environ.setdefault(name, value)
    services = embedded.Services(datadir.data_dir(), *embedded.needed(os.environ))
    if not services:
        prepare(args)
        return supervise.main([])  # replaces this process with supervisord
    # The embedded servers outlive the preparation and supervisord, then stop.
    try:
        with services:
            prepare(args)
            return supervise.main([], replace=False)
    except embedded.EmbeddedError as exc:
        print(f"hbsite run: {exc}", file=sys.stderr)
        return 1


def prepare(args: argparse.Namespace) -> None:
    """Create the database when missing, migrate, and seed the demo unless --no-demo."""
    setup_django()
    from django.core.management import call_command

    ensure_database()
    call_command("migrate", interactive=False)
    if not args.no_demo:
        call_command("demo")


def runner(args: argparse.Namespace) -> int:
    setup_django()
    argv = supervise.runner_argv(str(args.concurrency), args.name)
    supervise.exec_replacing(argv[0], argv)
    return 0  # not reached


def manage(args: Sequence[str], prog: str = "hbsite manage") -> int:
    setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line([prog, *args])
    return 0


def paths(_: argparse.Namespace) -> int:
    setup_django()
    from django.conf import settings

    data = settings.HBSITE_DATA_DIR
    print(f"data directory:   {data}")
    print(f"workdir base:     {settings.HBSITE_WORKDIR_BASE}")
    print(f"sweeps:           {data / 'sweeps'}")
    print(f"supervisord:      {data / 'supervisor'} (configuration, logs)")
    print(f"beat schedule:    {settings.CELERY_BEAT_SCHEDULE_FILENAME}")
    print(f"postgresql:       {data / 'postgres'} (when `hbsite run` embeds it)")
    print(f"valkey:           {data / 'valkey'} (when `hbsite run` embeds it)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="hbsite",
        description="Hyperband hyperparameter sweeps as a service.",
        epilog="Settings are environment variables: see README.md.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_cmd = sub.add_parser("run", help="migrate, start the demo sweep and run everything")
    run_cmd.add_argument("--no-demo", action="store_true", help="skip the demo user and sweep")
    run_cmd.add_argument("--host", help="web server address (HBSITE_HOST, 127.0.0.1)")
    run_cmd.add_argument("--port", type=int, help="web server port (HBSITE_PORT, 8000)")
    run_cmd.add_argument("--runners", type=int, help="trials at once (HBSITE_RUNNERS, 4)")
    runner_cmd = sub.add_parser("runner", help="run one runner (Celery worker on `trials`)")
    runner_cmd.add_argument("-c", "--concurrency", type=int, default=4, help="trials at once")
    runner_cmd.add_argument("-n", "--name", default="runner@%h", help="worker name")
    # These two hand everything after their name to Django, --help included.
    sub.add_parser("manage", help="any Django management command", add_help=False)
    sub.add_parser("sweep", help="validate|plan|submit|status|stop a sweep", add_help=False)
    sub.add_parser("paths", help="print the data directory and what is kept there")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "manage":
        return manage(args[1:])
    if args and args[0] == "sweep":
        return manage(args, prog="hbsite")
    parsed = parser().parse_args(args)
    return {"run": run, "runner": runner, "paths": paths}[parsed.command](parsed)


if __name__ == "__main__":
    sys.exit(main())
