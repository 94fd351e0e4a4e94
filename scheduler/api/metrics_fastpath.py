"""The fast path of a trial posting metrics: `POST /api/trials/<id>/metrics/` with
`Authorization: Trial <token>` and a JSON body, answered before Django handles the request,
with the posts that wait meanwhile stored together in one transaction (group commit).

Through Django (middleware, DRF, the ORM compiling each query) one post cost 6-12 ms of CPU,
so the web process took 100-140 single-point posts/s whatever the number of clients
(issue 13's `make benchmark`, benchmarks/test_metric_ingest.py). Here a post is parsed and
checked on the event loop (the same `metric_points` the view uses) and queued; one writer
thread stores everything queued in one `metrics.record_many` transaction while the next posts
queue up, so the database's work (one UPDATE per trial, one INSERT, one commit) is shared by
every post of a batch. A post is answered 201 only once its transaction has committed.

The fast path takes only what it is sure of. Everything else goes to Django's view, with the
body already read, and is answered there as before: another kind of authentication, a body
that is not plain JSON or fails a check, a host Django would refuse, an unknown token, a trial
that is not running that attempt (409 and the rejection counted), a database error (retried
for HBSITE_WEB_DB_RETRY_SECONDS, then 503).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import close_old_connections
from django.db import connection as django_connection
from django.http.request import split_domain_port, validate_host
from prometheus_client import Counter

from scheduler import metrics, queueing
from scheduler.models import Trial, TrialStatus, hash_secret

from . import serializers as s
from .parsers import metrics_body_limit

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = re.compile(r"/api/trials/([1-9][0-9]{0,17})/metrics/")
CONNECT_TIMEOUT = 5  # seconds
IDLE_CHECK_SECONDS = 1.0
APPLICATION_NAME = "hbsite-metrics-writer"  # in pg_stat_activity
KNOWN_TRIALS = 4096  # running attempts whose trial row is kept (least recently posted go)
# Headers Django would answer with more than once, and Accept values DRF answers in JSON.
SINGLE_HEADERS = frozenset({b"authorization", b"content-type", b"content-length", b"host"})
JSON_ACCEPTED = frozenset({b"", b"*/*", b"application/json"})
# The headers of the view's 201 (DRF's and Django's security middleware's).
RESPONSE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"vary", b"Accept"),
    (b"allow", b"GET, POST, HEAD, OPTIONS"),
    (b"x-frame-options", b"DENY"),
]

POSTS = Counter(
    "hbsite_fast_metric_posts",
    "Metric posts that reached the fast path, by outcome: stored there, or handed to Django",
    ["outcome"],
)
STORED, HANDED_ON = POSTS.labels("stored"), POSTS.labels("django")


class Post:
    """What the fast path reads of a request before it decides to take it."""

    __slots__ = ("trial_id", "secret", "length", "host", "json", "plain", "proxied_https")

    def __init__(self, trial_id: int) -> None:
        self.trial_id = trial_id
        self.secret = b""
        self.length = -1
        self.host = b""
        self.json = False
        self.plain = True  # no query string, no header that matters given twice, JSON accepted
        self.proxied_https = False  # SECURE_PROXY_SSL_HEADER says the client's request is HTTPS

    @classmethod
    def of(cls, scope: Scope) -> Post | None:
        """Return the post a request is, or None when it is not one for the fast path."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        match = PATH.fullmatch(path)
        if match is None:
            return None
        post = cls(int(match.group(1)))
        post.plain = not scope.get("query_string")  # `?format=` picks DRF's renderer
        proxy_header, proxy_https = proxy_ssl_header()
        seen = set()
        for name, value in scope["headers"]:
            if name in seen and name in SINGLE_HEADERS:
                post.plain = False  # Django joins repeated headers with commas
            seen.add(name)
            if name == b"authorization":
                parts = value.split()
                if len(parts) == 2 and parts[0].lower() == b"trial":
                    post.secret = parts[1]
            elif name == b"content-type":
                post.json = utf8_json(value)
            elif name == b"content-length" and value.isdigit():
                post.length = int(value)
            elif name == b"host":
                post.host = value
            elif name == b"accept" and value.strip() not in JSON_ACCEPTED:
                post.plain = False  # DRF's content negotiation answers it
            elif name == b"cookie":
                post.plain = False  # the session middleware may answer with a cookie
            if name == proxy_header:
                post.proxied_https = value == proxy_https
        return post

    def secure(self, scheme: str) -> bool:
        """Whether Django's `request.is_secure()` would be true."""
        return scheme == "https" or self.proxied_https

    def takeable(self, scheme: str) -> bool:
        """Whether Django would let this request reach the view as it is and answer it in
        JSON: a trial token, a JSON body of a known size within the limit, a host it allows,
        no HTTPS redirect."""
        if not (self.plain and self.secret and self.json):
            return False
        if not 0 < self.length <= metrics_body_limit():
            return False
        if settings.SECURE_SSL_REDIRECT and not self.secure(scheme):
            return False
        return allowed_host(self.host)


def proxy_ssl_header() -> tuple[bytes | None, bytes]:
    """SECURE_PROXY_SSL_HEADER as an ASGI header name and value, or (None, b"")."""
    if not settings.SECURE_PROXY_SSL_HEADER:
        return None, b""
    meta_name, value = settings.SECURE_PROXY_SSL_HEADER
    return meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode(), value.encode()


def security_headers(secure: bool) -> list[tuple[bytes, bytes]]:
    """The headers Django's SecurityMiddleware adds to an answer, as set."""
    headers = []
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append((b"strict-transport-security", hsts.encode()))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        policy = policy if isinstance(policy, str) else ",".join(policy)
        headers.append((b"referrer-policy", policy.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append((b"cross-origin-opener-policy",
                        settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))  # fmt: skip
    return headers


def utf8_json(content_type: bytes) -> bool:
    """Whether a Content-Type is JSON in UTF-8 (no charset, or utf-8), as orjson reads it;
    Django's view decodes a body in any other charset it names."""
    media_type, *params = content_type.lower().split(b";")
    if media_type.strip() != b"application/json":
        return False
    for param in params:
        key, _, value = param.partition(b"=")
        if key.strip() == b"charset" and value.strip().strip(b'"') not in (b"utf-8", b"utf8"):
            return False
    return True


def allowed_host(host: bytes) -> bool:
    """Whether Django's `HttpRequest.get_host` would accept this Host header."""
    if settings.USE_X_FORWARDED_HOST or not host:
        return False  # Django's own reading decides
    return host_in(host, tuple(settings.ALLOWED_HOSTS), settings.DEBUG)


@functools.lru_cache(maxsize=64)
def host_in(host: bytes, allowed: tuple[str, ...], debug: bool) -> bool:
    """`allowed_host` for these settings, remembered: a server sees few Host headers."""
    try:
        domain, _ = split_domain_port(host.decode("ascii"))
    except UnicodeDecodeError:
        return False
    if debug and not allowed:
        allowed = (".localhost", "127.0.0.1", "[::1]")
    return bool(domain) and validate_host(domain, list(allowed))


def load_running(trial_id: int, token_hash: str) -> Trial | None:
    """Return the trial running the attempt of this token hash (its sweep's YAML loaded), or
    None. Runs on the writer's thread."""
    rows = Trial.objects.select_related("sweep").only(
        "attempt", "token_hash", "resource", "status", "sweep_id", "last_metrics", "sweep__yaml"
    )
    try:
        return rows.filter(pk=trial_id, token_hash=token_hash, status=TrialStatus.RUNNING).first()
    finally:
        close_old_connections()


def record_many(posts: list[tuple[Trial, list[metrics.Point]]]) -> list[bool]:
    """`metrics.record_many` on the writer's thread, its connection back to the pool after."""
    try:
        return metrics.record_many(posts)
    finally:
        close_old_connections()


Queued = tuple[Trial, list[metrics.Point], "asyncio.Future[bool]"]


class Writer:
    """Stores the queued posts of one event loop, one batch at a time: every post queued
    while a batch is stored goes in the next one.

    A batch of fewer than metrics.COPY_FROM points is one statement on the writer's own
    connection, awaited on the event loop: no thread, and one round trip to the database.
    A larger batch (COPY), and loading a trial, run on the writer's thread with Django's
    connection.

    A batch that fails is left to Django's view, post by post. The statement runs in
    autocommit, so it stored all or nothing; only a connection lost after the database ran
    it and before its answer arrived would have the view store the points again, as a
    client's retry of any post would then.
    """

    YIELDS = 3  # turns of the event loop a batch waits for posts already received

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = concurrent.futures.ThreadPoolExecutor(1, "metrics-writer")
        self.connection: psycopg.AsyncConnection[Any] | None = None
        self.used_at = 0.0  # the loop's time the connection last answered
        self.queued: list[Queued] = []
        self.draining = False

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """Run `work(*args)` on the writer's thread."""
        return await self.loop.run_in_executor(self.thread, work, *args)

    async def store(self, trial: Trial, points: list[metrics.Point]) -> bool:
        """Queue the points of one post; True once they are committed, False when the trial
        no longer runs that attempt. Raises what storing them raised (nothing stored)."""
        done: asyncio.Future[bool] = self.loop.create_future()
        self.queued.append((trial, points, done))
        if not self.draining:
            self.draining = True
            self.loop.create_task(self.drain())
        return await done

    async def drain(self) -> None:
        try:
            while self.queued:
                # Posts whose bytes have arrived reach the queue in a few turns of the loop;
                # waiting for them makes the batches fuller at no cost to a lone post.
                for _ in range(self.YIELDS):
                    await asyncio.sleep(0)
                batch, self.queued = self.queued, []
                try:
                    stored = await self.write([(trial, points) for trial, points, _ in batch])
                except Exception as exc:
                    for *_, done in batch:
                        done.set_exception(exc)
                else:
                    for ok, (*_, done) in zip(stored, batch, strict=True):
                        done.set_result(ok)
        finally:
            self.draining = False

    async def write(self, posts: list[tuple[Trial, list[metrics.Point]]]) -> list[bool]:
        """Store a batch (as metrics.record_many does); whether each post's points were."""
        if sum(len(points) for _, points in posts) >= metrics.COPY_FROM:
            return await self.run(record_many, posts)  # COPY, in a transaction
        batch = metrics.PostBatch.of(posts)
        if not batch.merged:
            return batch.stored(set())
        connection = await self.checked_connection()
        try:
            cursor = await connection.execute(*batch.statement())
            running = {(trial_id, attempt, token_hash) async for trial_id, attempt, token_hash
                       in cursor}  # fmt: skip
        except Exception:
            await self.disconnect()
            raise
        self.used_at = self.loop.time()
        for sweep_id in batch.steps_wanted(running):
            await self.run(queueing.send, queueing.ADVANCE, sweep_id)
        return batch.stored(running)

    async def checked_connection(self) -> psycopg.AsyncConnection[Any]:
        """Return the writer's connection, opening one if there is none. One that sat idle
        for IDLE_CHECK_SECONDS is checked first (an empty query, as Django's pool checks
        its connections): a database restart or a terminated backend since then is found
        before a batch is sent, and the batch goes on a new connection."""
        if self.connection is not None and self.loop.time() - self.used_at > IDLE_CHECK_SECONDS:
            try:
                await self.connection.execute("")
            except psycopg.Error:
                await self.disconnect()
        return self.connection or await self.connect()

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """Open the writer's connection: Django's settings, autocommit, the same `%s`
        parameters (client-side binding) as Django's cursors."""
        params = {key: value for key, value in django_connection.get_connection_params().items()
                  if key not in ("cursor_factory", "context", "prepare_threshold")}  # fmt: skip
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        params["application_name"] = APPLICATION_NAME
        self.connection = await psycopg.AsyncConnection.connect(
            **params, autocommit=True, cursor_factory=psycopg.AsyncClientCursor
        )
        self.used_at = self.loop.time()
        return self.connection

    async def disconnect(self) -> None:
        """Drop a connection that failed: the next batch opens another."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


class FastMetricsPost:
    """ASGI middleware: takes the metric posts it can store itself, hands the rest to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.writer: Writer | None = None
        self.trials: collections.OrderedDict[tuple[int, str], Trial] = collections.OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        post, scheme = Post.of(scope), scope.get("scheme", "http")
        if post is None or not post.takeable(scheme):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client left before sending its body
        if not await self.take(post, scheme, body, send):
            HANDED_ON.inc()
            await self.app(scope, replay(body, receive), send)

    async def take(self, post: Post, scheme: str, body: bytes, send: Send) -> bool:
        """Store and answer the post; False (nothing stored, nothing sent) to leave it to Django."""
        try:
            token_hash = hash_secret(post.secret.decode("ascii"))
            data = orjson.loads(body)
        except (UnicodeDecodeError, orjson.JSONDecodeError):
            return False
        writer = self.writer_here()
        key = (post.trial_id, token_hash)
        trial = self.trials.get(key)
        if trial is None:
            try:
                trial = await writer.run(load_running, post.trial_id, token_hash)
            except Exception:
                return False
            if trial is None:
                return False
        self.remember(key, trial)
        try:
            points = s.metric_points(data, trial.resource)
        except Exception:
            return False  # the view answers it, and counts what it refuses
        if not points:
            return False
        try:
            stored = await writer.store(trial, points)
        except Exception:
            return False
        if not stored:
            self.trials.pop(key, None)
            return False
        STORED.inc()
        answer = orjson.dumps({"trial": post.trial_id, "stored": len(points)})
        headers = [*RESPONSE_HEADERS, *security_headers(post.secure(scheme))]
        headers.append((b"content-length", b"%d" % len(answer)))
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return True

    def writer_here(self) -> Writer:
        """The writer of the running event loop (a server runs one; tests may run several)."""
        if self.writer is None or self.writer.loop is not asyncio.get_running_loop():
            self.writer = Writer()
        return self.writer

    def remember(self, key: tuple[int, str], trial: Trial) -> None:
        """Keep the trial of a running attempt, as the most recently posted."""
        self.trials[key] = trial
        self.trials.move_to_end(key)
        while len(self.trials) > KNOWN_TRIALS:
            self.trials.popitem(last=False)


async def read_body(receive: Receive) -> bytes | None:
    """Read a request's whole body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """Return a `receive` that gives the body already read, then what `receive` gives."""
    given = False

    async def again() -> dict[str, Any]:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again
