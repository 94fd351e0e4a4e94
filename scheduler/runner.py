"""Run one trial attempt as a child process: start it, stream its metrics, watch it end.

The same code runs on every runner; a `Backend` is how it speaks to hbsite: the local one
(scheduler.runner_db) calls the fenced functions of scheduler.trials and scheduler.metrics
on the database, the REST one (scheduler.runner_rest) reaches the same functions through the
runner endpoints of the API, for a runner on another machine with no database credentials.

A metric line on stdout is one JSON object with the key "hbsite.metrics", for example
`{"hbsite.metrics": {"loss": 0.31, "accuracy": 0.92}, "step": 27}` (see hbclient.report).
A value that is not finite is `NaN`, `Infinity` or `-Infinity`, bare (as Python's json.dumps
writes them) or as JSON strings (see metric_values). A line or value that cannot be read is
counted on the trial with its reason (metrics.reject), never dropped unseen.

Each attempt of a trial is fenced by its attempt number and token: heartbeats, metric points and the
finish count only while the trial is still running that attempt (see scheduler.trials).
One heartbeat thread per runner process beats for all its trials, so nothing a trial does
(a child holding its output pipe open, a flood of output) can stall it. A rejected heartbeat
means the attempt is over (stopped, or lost and handed to another runner): its process tree
is killed at once. The tree itself is held by a supervisor (scheduler.supervisor) that
kills it when the trial ends, when this runner dies, and when heartbeats stop being accepted
for longer than its lease, which ends before reconcile may start another attempt.

What a runner resolves on its own machine: the checkpoint dir (under its HBSITE_DATA_DIR,
reported when it claims the attempt), `run.workdir` (against its HBSITE_WORKDIR_BASE) and
the sweep's folder (under its data directory).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from django.conf import settings

from . import dbretry, metrics
from .process_tree import Supervised
from .supervisor import LEASE

log = logging.getLogger(__name__)

METRICS_KEY = "hbsite.metrics"
POLL_SECONDS = 0.2
READER_JOIN_SECONDS = 0.5  # how long the finish waits for output still in the pipes
MAX_LINE_CHARS = 1024 * 1024  # a longer stdout line is read in pieces (and is no metric line)
# Never handed on to a trial's process: the runner's own credential.
PRIVATE_ENV = ("HBSITE_RUNNER_TOKEN",)
# Metric points stored per transaction (about 0.15 s of the trial row's lock on a 2-core
# machine); fewer per transaction cost more per point (stdout benchmark: 5,000 ~95,000
# points/s, 20,000 ~115,000).
FLUSH_POINTS = 20_000
# How an attempt ended: its exit code (None: unknown), error text, stdout and stderr tails.
End = tuple[int | None, str, str, str]
# Asked as an attempt ends: may this thread take the sweep's next trial itself?
MayTakeNext = Callable[[], bool]
# At most this many of an attempt's last points are stored by its finish itself (under the
# sweep's lock, see scheduler.handoff); more are stored before it, as while it runs.
FINISH_POINTS = 100


def worker_name() -> str:
    """Return this runner thread's identity: host, process id and thread id."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def sweep_dir(sweep_id: int, data_dir: Path | str | None = None) -> Path:
    """Return a sweep's folder under `data_dir` (default: this machine's HBSITE_DATA_DIR)."""
    return Path(data_dir or settings.HBSITE_DATA_DIR) / "sweeps" / str(sweep_id)


@dataclass(frozen=True)
class Assignment:
    """One claimed attempt of a trial: all a runner needs to run it (JSON-ready).

    `token` is the attempt's trial token (HBSITE_TRIAL_TOKEN); with `attempt` it fences
    everything the runner reports. `checkpoint_dir` is a path on the runner's machine;
    `workdir` is `run.workdir` as written ("" for the sweep's folder); `timeout` is seconds.
    """

    trial: int
    number: int
    sweep: int
    bracket: int
    rung: int
    attempt: int
    token: str
    params: dict[str, Any]
    resource: int | float | None
    resource_name: str | None
    resume: bool
    command: str
    checkpoint_dir: str
    workdir: str
    timeout: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    """How a runner claims attempts and reports on them (local database or REST API).

    Every report is fenced by the attempt: False means the attempt is over (stopped,
    finished, or handed to another runner) and changed nothing. `transient` lists the errors
    that mean "the other side is away for now" (the points are kept and sent again).
    """

    transient: tuple[type[BaseException], ...]
    api_url: str

    def start(self, trial_id: int) -> Assignment | None:
        """Claim a queued trial; None when it is not this runner's to run."""

    def heartbeat(self, a: Assignment, pid: int | None, stdout: str, stderr: str) -> bool:
        """Keep the attempt's lease, saving its output tails; False: stop it now. Tried
        for at most one heartbeat period; raises when the other side stays away."""

    def record(self, a: Assignment, points: list[metrics.Point], budget: float) -> bool:
        """Store metric points through the fenced metrics.record path."""

    def reject(self, a: Assignment, reasons: list[str], count: int, budget: float) -> None:
        """Count lines or points that could not be read (metrics.reject)."""

    def finish(
        self, a: Assignment, exit_code: int | None, error: str, stdout: str, stderr: str
    ) -> bool:
        """Store how the attempt's process ended (trials.finish)."""

    def finish_and_take(
        self, a: Assignment, end: End, may_take_next: MayTakeNext, points: list[metrics.Point]
    ) -> tuple[bool, Assignment | None]:
        """Store the attempt's last `points` and how it ended (`end`: exit code, error,
        stdout and stderr tails); when `may_take_next()` says so, also claim the next trial
        of the sweep for this runner (scheduler.handoff). Returns (recorded, the next
        attempt or None)."""

    def give_up(self, a: Assignment, why: str) -> bool:
        """Requeue an attempt whose tree was killed for want of heartbeats (trials.give_up)."""


def working_dir(a: Assignment) -> Path:
    """Return the attempt's working dir on this machine: run.workdir (relative to
    HBSITE_WORKDIR_BASE: the source checkout, else the data directory) or the sweep's own
    folder under this machine's data directory."""
    if a.workdir:
        return Path(settings.HBSITE_WORKDIR_BASE) / a.workdir
    return sweep_dir(a.sweep)


def trial_env(a: Assignment, api_url: str) -> dict[str, str]:
    """Build the environment of the trial contract on top of the worker's own (without
    the runner's own token)."""
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    # `python` in a command is the interpreter that runs hbsite, with its packages.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(
        HBSITE_TRIAL_ID=str(a.trial),
        HBSITE_TRIAL_NUMBER=str(a.number),
        HBSITE_SWEEP_ID=str(a.sweep),
        HBSITE_BRACKET=str(a.bracket),
        HBSITE_RUNG=str(a.rung),
        HBSITE_PARAMS=json.dumps(a.params),
        HBSITE_CHECKPOINT_DIR=a.checkpoint_dir,
        HBSITE_RESUME="1" if a.resume else "0",
        HBSITE_API_URL=api_url,
        HBSITE_TRIAL_TOKEN=a.token,
        HBSITE_ATTEMPT=str(a.attempt),
        PYTHONUNBUFFERED="1",
    )
    if a.resource_name is not None:
        env["HBSITE_RESOURCE_NAME"] = a.resource_name
        env["HBSITE_RESOURCE"] = json.dumps(a.resource)
    return env


class Tail:
    """The last `limit` bytes of a stream, kept as text."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.lines: collections.deque[str] = collections.deque()

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line)
        while self.size > self.limit and len(self.lines) > 1:
            self.size -= len(self.lines.popleft())

    def text(self) -> str:
        return "".join(self.lines)[-self.limit :]


class Output:
    """Read a child's stdout and stderr on threads: tails, plus metric points from stdout."""

    def __init__(self, tree: Supervised, default_step: float | None) -> None:
        limit = settings.HBSITE_OUTPUT_TAIL_BYTES
        self.stdout, self.stderr = Tail(limit), Tail(limit)
        self.default_step = default_step
        self.pending: list[metrics.Point] = []
        self.rejected: list[str] = []
        self.lines = 0
        self.lock = threading.Lock()
        # Readable once FLUSH_POINTS points wait (see `backlog`): the supervising thread's
        # wait ends then, so it stores them while the readers go on.
        self.wake, self._wake_w = os.pipe()
        os.set_blocking(self.wake, False)
        self._woken = self._closed = False
        self.threads = [
            threading.Thread(target=self._read, args=args, daemon=True)
            for args in ((tree.stdout, self.stdout, True), (tree.stderr, self.stderr, False))
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: Any, tail: Tail, parse: bool) -> None:
        for line in iter(lambda: stream.readline(MAX_LINE_CHARS), ""):
            with self.lock:
                tail.add(line)
                if parse:
                    self._parse(line)

    def _parse(self, line: str) -> None:
        self.lines += 1
        if METRICS_KEY not in line:
            return
        where = f"stdout line {self.lines}"
        try:
            data = read_json(line)
            values = data[METRICS_KEY]
            step = data.get("step", self.default_step)
            items = values.items()
        # A hostile line (100,000 nested brackets, a 400-digit number) is a bad line, never
        # the end of this reader.
        except (
            ValueError,
            RecursionError,
            OverflowError,
            KeyError,
            TypeError,
            AttributeError,
        ) as exc:
            self.rejected.append(f"{where}: not a metric line ({type(exc).__name__})")
            return
        for name, value in items:
            try:
                self.pending.append(metrics.make_point(name, step, value, where=where))
            except metrics.MetricError as exc:
                self.rejected.append(str(exc))
        if len(self.pending) >= FLUSH_POINTS and not (self._woken or self._closed):
            self._woken = True
            os.write(self._wake_w, b"!")

    def tails(self) -> tuple[str, str]:
        """Return the stdout and stderr tails so far (saved with each heartbeat)."""
        with self.lock:
            return self.stdout.text(), self.stderr.text()

    def take(self) -> tuple[list[metrics.Point], list[str]]:
        """Return the points read since the last call, and the reasons of what was not."""
        with self.lock:
            points, self.pending = self.pending, []
            rejected, self.rejected = self.rejected, []
            self._woken = False
        return points, rejected

    def backlog(self) -> int:
        """Return how many points wait to be stored."""
        return len(self.pending)

    def put_back(self, points: list[metrics.Point]) -> None:
        """Return points that could not be stored yet, ahead of any read since."""
        with self.lock:
            self.pending[:0] = points

    def close(self) -> None:
        """Close the wake pipe (a reader still running no longer writes to it)."""
        with self.lock:
            self._closed = True
            os.close(self.wake)
            os.close(self._wake_w)

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` seconds in all for the pipes to close."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def read_json(line: str) -> Any:
    """Parse one line of JSON as `json.loads` does, with orjson where it can (RFC 8259 JSON,
    about six times faster); what only `json` reads (NaN, Infinity, a number past a float's
    range, a lone surrogate, a deeper nesting) or no one does goes through `json`, which
    raises its own errors. One difference stays: orjson reads an integer past 64 bits as the
    float `metrics.make_point` would turn it into."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


@dataclass
class Attempt:
    """One attempt of a trial as this runner runs it: its assignment, backend and tree."""

    assignment: Assignment
    backend: Backend
    tree: Supervised
    output: Output
    fenced: threading.Event = field(default_factory=threading.Event)

    def cut_off(self) -> None:
        """The attempt is no longer current: kill its tree at once."""
        self.fenced.set()
        self.tree.stop()

    def flush(self, budget: float | None = None, hold_back: int = 0) -> list[metrics.Point]:
        """Store the metric points read so far, and count on the trial what could not be read;
        fence the attempt when its points are refused. Return the points held back instead:
        all of them when they are no more than `hold_back` (for the finish to store).

        A backend that stays away for `budget` seconds (default: HBSITE_DB_RETRY_SECONDS)
        keeps the points for the next flush and raises one of its `transient` errors.
        """
        points, rejected = self.output.take()
        seconds = dbretry.retry_seconds() if budget is None else budget
        if rejected:
            self.backend.reject(self.assignment, rejected, len(rejected), seconds)
        if len(points) <= hold_back:
            return points
        # One transaction per FLUSH_POINTS points: the trial row's lock is held only that
        # long, so a flood of output never holds off the heartbeats (which update that row).
        for start in range(0, len(points), FLUSH_POINTS):
            chunk = points[start : start + FLUSH_POINTS]
            try:
                accepted = self.backend.record(self.assignment, chunk, seconds)
            except self.backend.transient:
                self.output.put_back(points[start:])
                raise
            if not accepted:
                self.cut_off()
                break
        return []


class Heartbeats:
    """The runner process's one heartbeat thread, beating for every attempt it runs."""

    def __init__(self) -> None:
        self.attempts: dict[int, Attempt] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="hbsite-heartbeat", daemon=True)
        self.thread.start()

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts[attempt.assignment.trial] = attempt

    def remove(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.pop(attempt.assignment.trial, None)

    def _loop(self) -> None:
        while True:
            time.sleep(settings.HBSITE_HEARTBEAT_SECONDS)
            with self.lock:
                attempts = list(self.attempts.values())
            for attempt in attempts:
                with self.lock:
                    current = self.attempts.get(attempt.assignment.trial) is attempt
                if current:  # not ended while the others beat
                    self._beat(attempt)

    def _beat(self, attempt: Attempt) -> None:
        a = attempt.assignment
        try:
            # Tried again within one heartbeat period; the lease keeps running meanwhile, so
            # a backend that stays away ends the attempt.
            accepted = attempt.backend.heartbeat(a, attempt.tree.pid, *attempt.output.tails())
        except Exception:
            log.exception("heartbeat of trial %s failed", a.trial)
            return
        if accepted:
            attempt.tree.feed()
        elif not attempt.fenced.is_set():
            log.warning("trial %s attempt %s is over; killing its processes", a.trial, a.attempt)
            attempt.cut_off()


_heartbeats: Heartbeats | None = None
_heartbeats_lock = threading.Lock()


def heartbeats() -> Heartbeats:
    """Return this process's heartbeat thread, started on first use."""
    global _heartbeats
    with _heartbeats_lock:
        if _heartbeats is None:
            _heartbeats = Heartbeats()
        return _heartbeats


def grace_seconds() -> float:
    return settings.HBSITE_TERMINATE_GRACE_SECONDS


def spawn(a: Assignment, api_url: str) -> Supervised:
    """Start the attempt's command under a supervisor that holds its whole process tree."""
    workdir = working_dir(a)
    workdir.mkdir(parents=True, exist_ok=True)
    Path(a.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    return Supervised(
        ["/bin/sh", "-c", a.command],
        cwd=str(workdir),
        env=trial_env(a, api_url),
        grace=grace_seconds(),
        lost_after=settings.HBSITE_LOST_AFTER_SECONDS,
    )


def finish_plainly(
    backend: Backend, a: Assignment, end: End, points: list[metrics.Point]
) -> tuple[bool, None]:
    """Store an attempt's last points, then how it ended, each on its own, taking no next
    trial (the `advance` task takes the step); (False, None) when they were refused."""
    if points and not backend.record(a, points, dbretry.retry_seconds()):
        return False, None
    return backend.finish(a, *end), None


def never() -> bool:
    return False


def run(trial_id: int, backend: Backend, may_take_next: MayTakeNext = never) -> None:
    """Run a queued trial to its end through `backend`; do nothing if another runner has it.

    While `may_take_next()` says so when an attempt ends (no other trial waits for this
    runner), the next trial its finish claimed is run right after it, by this thread.
    """
    a = backend.start(trial_id)
    while a is not None:
        a = run_attempt(a, backend, may_take_next)


def run_attempt(a: Assignment, backend: Backend, may_take_next: MayTakeNext) -> Assignment | None:
    """Run one claimed attempt to its end; return the next attempt its finish claimed."""
    try:
        tree = spawn(a, backend.api_url)
    except OSError as exc:
        backend.finish(a, None, f"could not start: {exc}", "", "")
        return None
    output = Output(tree, default_step=a.resource)
    attempt = Attempt(a, backend, tree, output)
    heartbeats().add(attempt)
    try:
        error = supervise(attempt)
    except Exception as exc:
        # A runner bug must not leave the trial "running" until reconcile.
        log.exception("runner failed while supervising trial %s", a.trial)
        tree.stop()
        tree.wait(grace_seconds() + 5)
        error = f"runner error: {exc}"
    finally:
        heartbeats().remove(attempt)
    try:
        return conclude(attempt, error, may_take_next)
    finally:
        output.close()


def conclude(attempt: Attempt, error: str, may_take_next: MayTakeNext = never) -> Assignment | None:
    """Record how the attempt ended (if it is still the current one), then let its tree go;
    return the next attempt the finish claimed for this runner, if any.

    A backend that stays away longer than HBSITE_DB_RETRY_SECONDS raises its error here; the
    trial then stays running without heartbeats until reconcile requeues it.
    """
    tree, output, a = attempt.tree, attempt.output, attempt.assignment
    output.join(READER_JOIN_SECONDS)
    following = None
    if tree.reason == LEASE and not attempt.fenced.is_set():
        attempt.flush()
        done = attempt.backend.give_up(a, "stopped heartbeating")
    else:
        last = attempt.flush(hold_back=FINISH_POINTS)
        stdout, stderr = output.tails()
        end: End = (tree.returncode, error, stdout, stderr)
        done, following = attempt.backend.finish_and_take(a, end, may_take_next, last)
    if not done:
        log.warning("trial %s attempt %s was fenced off; it changed nothing", a.trial, a.attempt)
    tree.close(grace_seconds() + 5)
    return following


def flood(attempt: Attempt) -> bool:
    """Whether FLUSH_POINTS points or more of a current attempt wait to be stored."""
    return attempt.output.backlog() >= FLUSH_POINTS and not attempt.fenced.is_set()


def supervise(attempt: Attempt) -> str:
    """Flush metrics and watch the time until the command ends; return an error text or ''."""
    timeout = attempt.assignment.timeout
    started = time.monotonic()
    next_flush, error = 0.0, ""
    # A trial that prints faster than its points are stored is flushed back to back: the
    # database stores one chunk while the readers parse the next.
    while not attempt.tree.wait(0 if flood(attempt) else POLL_SECONDS, wake=attempt.output.wake):
        now = time.monotonic()
        if flood(attempt) or now >= next_flush:
            next_flush = now + settings.HBSITE_HEARTBEAT_SECONDS
            try:
                attempt.flush(budget=settings.HBSITE_HEARTBEAT_SECONDS)
            except attempt.backend.transient:
                log.warning("metrics of trial %s wait for the backend", attempt.assignment.trial)
        if attempt.fenced.is_set() and not error:
            error = "stopped"
        if timeout is not None and not error and now - started > timeout:
            attempt.tree.stop()
            error = f"timed out after {timeout:g} s"
    if attempt.fenced.is_set() and not error:  # fenced while the last wait ran
        error = "stopped"
    if attempt.tree.returncode is None and not error:
        error = "the trial's supervisor ended without an exit status"
    return error
