"""The `hbsite` command (also `python -m hbsite`): the one entry point of an installed hbsite.

    hbsite run [--no-demo] [--host H] [--port P] [--runners N]
        start a private PostgreSQL and Valkey in the data directory when none is given or
        answering (hbsite/embedded.py), create the database when it is missing, migrate, seed
        the demo user, team and sweep, then run web + scheduler + runner + notifier + beat
        under supervisord (`make run` calls this)
    hbsite runner [-c N] [-n NAME] [--runner-name NAME] [--broker URL]
        one runner: a Celery worker on the `trials` queue (and its own `trials@<runner name>`),
        for more trials on this machine, working on the database
    hbsite runner --url URL --token hbr_... [--broker URL] [--runner-name NAME] [-c N]
        a runner on another machine: no database settings, everything through the REST API
    hbsite manage ARGS...
        any Django management command, as `manage.py ARGS...` (migrate, createsuperuser, ...)
    hbsite sweep validate|plan|submit|status|stop|pause|resume|retry|concurrency ...
        sweeps from the command line (the `sweep` management command)
    hbsite paths
        print the data directory and the files hbsite keeps there

Settings come from environment variables (README.md, "Settings"); DJANGO_SETTINGS_MODULE
defaults to `hbsite.settings`.
"""

from __future__ import annotations

import argparse
import os
import re
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
    """Replace this process with a runner's Celery worker (see `remote_runner_env`)."""
    if args.broker:
        os.environ["CELERY_BROKER_URL"] = args.broker
    if args.runner_name:
        os.environ["HBSITE_RUNNER_NAME"] = args.runner_name
    name = os.environ.get("HBSITE_RUNNER_NAME")
    if name is not None and not re.fullmatch(RUNNER_NAME, name):
        raise SystemExit(f"hbsite runner: bad runner name {name!r}: letters, digits, . _ -")
    if args.url or args.token:
        remote_runner_env(args.url, args.token)
    setup_django()
    argv = supervise.runner_argv(str(args.concurrency), args.name)
    supervise.exec_replacing(argv[0], argv)
    return 0  # not reached


RUNNER_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


def remote_runner_env(url: str | None, token: str | None) -> None:
    """Set up the environment of a runner on another machine: the server's URL and the
    runner token (kept in the environment, out of the worker's argv), and the settings
    without a database (hbsite.settings_runner). The token may come from
    HBSITE_RUNNER_TOKEN instead of --token, which `ps` would show until the exec."""
    secret = token or os.environ.get("HBSITE_RUNNER_TOKEN", "")
    if not url:
        raise SystemExit("hbsite runner: --token needs --url, the hbsite server's base URL")
    if not secret.startswith("hbr_"):
        raise SystemExit(
            "hbsite runner: --url needs a runner token (hbr_..., from the account page) in "
            "--token or HBSITE_RUNNER_TOKEN"
        )
    os.environ.update(
        HBSITE_RUNNER_URL=url,
        HBSITE_RUNNER_TOKEN=secret,
        DJANGO_SETTINGS_MODULE="hbsite.settings_runner",
    )
    os.environ.pop("DATABASE_URL", None)


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
    name = settings.HBSITE_RUNNER_NAME
    print(f"runner name:      {name} (its own queue: trials@{name})")
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
    runner_cmd.add_argument("-n", "--name", default="runner@%h", help="Celery worker name")
    runner_cmd.add_argument(
        "--runner-name",
        help="the runner's name, one per data directory (HBSITE_RUNNER_NAME, the host name)",
    )
    runner_cmd.add_argument(
        "--broker", help="the Celery broker URL (CELERY_BROKER_URL, else REDIS_URL)"
    )
    runner_cmd.add_argument(
        "--url", help="the hbsite server's base URL: report through its REST API, no database"
    )
    runner_cmd.add_argument(
        "--token", help="a runner token, hbr_... (or HBSITE_RUNNER_TOKEN); needs --url"
    )
    # These two hand everything after their name to Django, --help included.
    sub.add_parser("manage", help="any Django management command", add_help=False)
    sweep_help = "validate|plan|submit|status|stop|pause|resume|retry|concurrency a sweep"
    sub.add_parser("sweep", help=sweep_help, add_help=False)
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
