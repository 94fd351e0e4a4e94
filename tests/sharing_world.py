"""A sweep in the cast's team with one trial and share links, for the access and sharing tests."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from scheduler import access, broadcast, sharing, sweeps
from scheduler.models import Config, Trial
from tests.sweeps import hyperband_yaml

SWEEP_YAML = hyperband_yaml(
    name="quadratic",
    max_iter=9,
    concurrency=2,
    matrix={"x": "uniform: [0, 1]", "opt": "values: [sgd, adam]"},
    cmd="python -c 'print({{ x }}, {{ opt }}, {{ num_steps }})'",
)


def make_sweep(team, owner):
    """Create a sweep without queueing its Celery task (no worker runs in these tests), its
    creation event published before the test goes on (none arrives late on a test's socket)."""
    with mock.patch("scheduler.queueing.request_step"):
        sweep = sweeps.create_sweep(SWEEP_YAML, team=team, owner=owner)
    broadcast.flush()
    return sweep


def add_trial(sweep, x: float, loss: float | None, status: str = "succeeded", rung: int = 0):
    config = Config.objects.create(
        sweep=sweep, bracket=1, index=sweep.configs.count(), params={"x": x, "opt": "adam"}
    )
    return Trial.objects.create(
        sweep=sweep, config=config, bracket=1, rung=rung, resource=3.0,
        status=status, metric_value=loss, attempt=1,
    )  # fmt: skip


def world(cast):
    """The cast's sweep (owned by member), a trial, a live link, a revoked link, a spare link."""
    sweep = make_sweep(cast.team, cast.member)
    trial = add_trial(sweep, 0.5, 0.25)
    live = sharing.create_link(sweep, cast.member)
    revoked = sharing.create_link(sweep, cast.member)
    sharing.revoke_link(revoked)
    spare = sharing.create_link(sweep, cast.member)
    return SimpleNamespace(
        sweep=sweep, trial=trial, live=live, revoked=revoked, spare=spare,
        tokens={"share": access.share_token(live), "revoked": access.share_token(revoked)},
    )  # fmt: skip


def client_as(cast, who: str) -> Client:
    """A browser client signed in as one of the cast ('anonymous' and link holders: nobody)."""
    client = Client()
    if hasattr(cast, who):
        client.force_login(getattr(cast, who))
    return client


def ws_headers(client: Client) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver")]
    session = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if session is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session.value}".encode()))
    return headers


class Socket(ApplicationCommunicator):
    """A websocket client for an ASGI app (channels.testing needs daphne, which we lack)."""

    def __init__(self, application, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        path, _, query = path.partition("?")
        scope = {
            "type": "websocket", "path": path, "query_string": query.encode(),
            "headers": headers, "subprotocols": [], "client": ("127.0.0.1", 5000),
        }  # fmt: skip
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5) -> tuple[bool, int | None]:
        await self.send_input({"type": "websocket.connect"})
        message = await self.receive_output(timeout)
        if message["type"] == "websocket.close":
            return False, message.get("code", 1000)
        return True, None

    async def disconnect(self, code: int = 1000) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(1)


def ws_connect(client: Client, path: str) -> tuple[bool, int | None]:
    """Open a websocket on the real ASGI app; return (accepted, close code)."""
    from hbsite.asgi import application

    async def go():
        comm = Socket(application, path, ws_headers(client))
        connected, code = await comm.connect(timeout=5)
        if connected:
            await comm.disconnect()
        return connected, code

    return async_to_sync(go)()
