"""Shared fixtures: a fixed cast of users, and real processes (Celery worker, ASGI server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from channels.layers import channel_layers
from django.conf import settings
from django.db import connection

from tests.redis_watch import delete_keys_under

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


def wait_for(predicate: Callable[[], object], timeout: float = 60, every: float = 0.1) -> object:
    """Poll until `predicate()` is truthy and return it; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_in(path: Path) -> int:
    """Return the pid on the first line of a pid file (PostgreSQL's postmaster.pid, ...)."""
    return int(path.read_text().split()[0])


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, ended but not yet reaped, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="session")
def server_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def process_env(django_db_setup, server_port) -> dict[str, str]:
    """The environment for worker and server processes: the test database and Redis."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hbsite.settings_test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "HBSITE_REDIS_PREFIX": settings.HBSITE_REDIS_PREFIX,
        "HBSITE_DATA_DIR": str(settings.HBSITE_DATA_DIR),
        "HBSITE_API_URL": f"http://127.0.0.1:{server_port}",
        "HBSITE_HEARTBEAT_SECONDS": str(settings.HBSITE_HEARTBEAT_SECONDS),
        "HBSITE_LOST_AFTER_SECONDS": str(settings.HBSITE_LOST_AFTER_SECONDS),
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "False",
        "PYTHONUNBUFFERED": "1",
    }


def start_process(argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
    """Start a helper process in its own process group, logging to artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / log_name, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a helper process group, forcefully if it does not go in time."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def worker_argv(queues: str, concurrency: int, name: str) -> list[str]:
    from hbsite.supervise import worker_argv as argv_of

    return argv_of(queues, str(concurrency), f"{name}@%h")


def worker_node(name: str) -> str:
    return f"{name}@{socket.gethostname()}"


def ping_worker(name: str) -> bool:
    from hbsite.celery import app

    replies = app.control.ping(destination=[worker_node(name)], timeout=0.5)
    return bool(replies)


# The Celery worker processes this session started, by name; wait_until_idle asks the live ones.
WORKERS: dict[str, subprocess.Popen] = {}


def workers_busy() -> bool:
    """Whether a live worker holds a task: running, prefetched or waiting for its ETA.
    A worker that does not answer within 5 s counts as busy."""
    from hbsite.celery import app

    nodes = [worker_node(name) for name, proc in WORKERS.items() if proc.poll() is None]
    if not nodes:
        return False
    inspect = app.control.inspect(destination=nodes, timeout=5, limit=len(nodes))
    for replies in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        if replies is None or len(replies) < len(nodes) or any(replies.values()):
            return True
    return False


def redis_urls() -> set[str]:
    """The Redis databases the session writes to: broker, channel layer and REDIS_URL."""
    layer_hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    return {settings.REDIS_URL, settings.CELERY_BROKER_URL, *(h["address"] for h in layer_hosts)}


@pytest.fixture(scope="session", autouse=True)
def session_storage() -> Iterator[None]:
    """After the session (its workers and server stopped): delete its Redis keys, which all
    start with its own prefix, and its data dir. Nothing else in Redis is touched."""
    prefix = settings.HBSITE_REDIS_PREFIX
    assert prefix.startswith("hbsite-test-"), "run the tests with hbsite.settings_test"
    yield
    for url in redis_urls():
        with contextlib.suppress(redis.ConnectionError):  # never reached: nothing to delete
            delete_keys_under(redis.Redis.from_url(url), prefix)
    shutil.rmtree(settings.HBSITE_DATA_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Give each test new channel layer instances. One keeps receive locks and buffers bound to
    the event loop that made them, and each test's `async_to_sync` runs a loop of its own;
    channels_redis closes a loop's connections when that loop closes."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


WORKER_FIXTURES = {"main_worker", "celery_worker", "start_worker"}


@pytest.fixture(autouse=True)
def held_tasks(request, monkeypatch) -> list[tuple[str, tuple]]:
    """Keep a test's Celery tasks off the broker unless it uses a worker, so its sweeps stay as
    it leaves them: no worker another test started can take them. Returns the held tasks."""
    from scheduler import queueing

    held: list[tuple[str, tuple]] = []
    if WORKER_FIXTURES.isdisjoint(request.fixturenames):

        def hold(task: str, object_id: int, queue: str | None = None) -> None:
            held.append((task, (object_id,)))

        monkeypatch.setattr(queueing, "send", hold)
    return held


class MainWorker:
    """The suite's shared Celery worker on every queue; a test may stop it for a while.

    It consumes only while a test that asked for it runs: between such tests it cancels its
    consumers, so the tasks the test server sends for a browser test's sweeps (pause, retry,
    kill from a page) wait in the broker instead of racing that test's database flush, and the
    next worker test drops them before it starts consuming again."""

    QUEUES = "scheduler,trials,webhooks"

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.proc = env, None

    def ensure(self) -> None:
        drop_queued_tasks()
        if self.proc is None or self.proc.poll() is not None:
            argv = worker_argv(self.QUEUES, 8, "main")
            self.proc = start_process(argv, self.env, "worker.log")
            wait_for(lambda: ping_worker("main"), timeout=60, every=0.5)
            WORKERS["main"] = self.proc
        else:
            self.consume(True)

    def consume(self, on: bool) -> None:
        """Start or stop consuming every queue the worker serves (its runner queue too)."""
        from hbsite.celery import app
        from scheduler.queueing import runner_queue

        queues = [*self.QUEUES.split(","), runner_queue(settings.HBSITE_RUNNER_NAME)]
        control = app.control.add_consumer if on else app.control.cancel_consumer
        for queue in queues:
            replies = control(queue, destination=[worker_node("main")], reply=True, timeout=10)
            assert replies, f"the main worker did not answer {control.__name__}({queue})"

    def stop(self) -> None:
        if self.proc is not None:
            WORKERS.pop("main", None)
            stop_process(self.proc)
            self.proc = None


def drop_queued_tasks() -> None:
    """Delete the session's queued Celery messages (a worker test starts from none)."""
    keys = queue_keys()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(*keys)


def queue_keys() -> list[str]:
    """The Redis lists of the session's Celery queues (under its key prefix): the scheduler's,
    the runners' and this machine's runner queue."""
    from scheduler.broker import queue_keys as keys_of
    from scheduler.queueing import runner_queue

    queues = ("scheduler", "trials", "webhooks", runner_queue(settings.HBSITE_RUNNER_NAME))
    return [key for queue in queues for key in keys_of(queue)]


def wait_until_idle(timeout: float = 30) -> None:
    """Wait until no sweep is active, the broker queues are empty and no live worker holds a
    task, so the database can be flushed without racing a worker; past `timeout`, stop the
    sweeps and drop queued tasks so that none reaches a later test, then wait for the tasks
    in flight to end."""
    from scheduler.models import Sweep

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def queued() -> int:
        return sum(broker.llen(key) for key in queue_keys())

    def idle() -> bool:
        return queued() == 0 and not Sweep.objects.active().exists() and not workers_busy()

    try:
        wait_for(idle, timeout=timeout, every=0.2)
    except AssertionError:
        Sweep.objects.active().update(status="stopped")
        broker.delete(*queue_keys())
        wait_for(lambda: queued() == 0 and not workers_busy(), timeout=60, every=0.2)


@pytest.fixture(scope="session")
def main_worker(process_env) -> Iterator[MainWorker]:
    worker = MainWorker(process_env)
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(main_worker) -> Iterator[MainWorker]:
    """A real Celery worker on both queues, against the test database and Redis."""
    main_worker.ensure()
    yield main_worker
    wait_until_idle()
    if main_worker.proc is not None and main_worker.proc.poll() is None:
        main_worker.consume(False)


@pytest.fixture
def start_worker(process_env) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start extra workers for one test; they are killed when it ends."""
    started: list[subprocess.Popen] = []
    names: list[str] = []
    drop_queued_tasks()

    def start(queues: str = "trials", concurrency: int = 4, name: str = "extra"):
        proc = start_process(worker_argv(queues, concurrency, name), process_env, f"{name}.log")
        started.append(proc)
        names.append(name)
        wait_for(lambda: ping_worker(name), timeout=60, every=0.5)
        WORKERS[name] = proc
        return proc

    yield start
    try:
        wait_until_idle()
    finally:
        for name, proc in zip(names, started, strict=True):
            WORKERS.pop(name, None)
            stop_process(proc, signal.SIGKILL)


@pytest.fixture(scope="session")
def asgi_server(process_env, server_port) -> Iterator[str]:
    """The real ASGI app under uvicorn; yields its base URL."""
    argv = [
        sys.executable, "-m", "uvicorn", "hbsite.asgi:application",
        "--host", "127.0.0.1", "--port", str(server_port), "--log-level", "warning",
    ]  # fmt: skip
    proc = start_process(argv, process_env, "server.log")
    url = f"http://127.0.0.1:{server_port}"

    def up() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", server_port)) == 0

    wait_for(up, timeout=60, every=0.2)
    yield url
    stop_process(proc)


@pytest.fixture
def cast(db):
    """The fixed cast for access tests: one team with an admin, a member and a viewer,
    plus an outsider in a team of their own."""
    from django.contrib.auth import get_user_model

    from scheduler.models import Membership, Team

    users = {}
    team = Team.objects.create(name="Vision")
    for role in ("admin", "member", "viewer"):
        user = get_user_model().objects.create_user(role, password=f"pw-{role}-123")
        Membership.objects.create(team=team, user=user, role=role)
        users[role] = user
    outsider = get_user_model().objects.create_user("outsider", password="pw-outsider-123")
    other = Team.objects.create(name="Elsewhere")
    Membership.objects.create(team=other, user=outsider, role="admin")
    users["outsider"] = outsider
    return type("Cast", (), {"team": team, "other_team": other, **users})


@pytest.fixture
def sweep(cast):
    """A 22-trial sweep whose bracket s=2 finished rung 0 and promoted three configs."""
    from scheduler.models import Sweep
    from tests.sweeps import finish_rung, started_sweep

    found = started_sweep(cast.team, cast.member)
    finish_rung(found, 2, 0)
    return Sweep.objects.get(pk=found.pk)


def login(client, user):
    """Sign a Django test client in as `user` and return it."""
    client.force_login(user)
    return client


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright (see tests/browsing.py for the page helpers)."""
    from playwright.sync_api import sync_playwright

    from tests.browsing import CHROMIUM, CHROMIUM_ARGS

    # Playwright's sync API keeps an event loop running in this thread, which makes Django
    # refuse ORM calls from the test itself; the test code is synchronous, so allow them.
    # https://docs.djangoproject.com/en/5.2/topics/async/#envvar-DJANGO_ALLOW_ASYNC_UNSAFE
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, asgi_server) -> Iterator[object]:
    """A fresh desktop-sized page on the test server; fails the test on a page error."""
    from tests.browsing import open_page

    context, page, errors = open_page(browser, asgi_server)
    yield page
    context.close()
    assert errors == [], errors
