"""Run one trial as a child process: render its command, stream its metrics, watch it end.

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
is killed at once. The tree itself is held by a supervisor (scheduler.process_tree) that
kills it when the trial ends, when this runner dies, and when heartbeats stop being accepted
for longer than its lease, which ends before reconcile may start another attempt.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from . import command, dbretry, metrics, stored, trials
from .models import Trial
from .process_tree import LEASE, Supervised

log = logging.getLogger(__name__)

METRICS_KEY = "hbsite.metrics"
POLL_SECONDS = 0.2
READER_JOIN_SECONDS = 0.5  # how long the finish waits for output still in the pipes
MAX_LINE_CHARS = 1024 * 1024  # a longer stdout line is read in pieces (and is no metric line)
FLUSH_POINTS = 5000  # metric points stored per transaction


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def sweep_dir(sweep_id: int) -> Path:
    return Path(settings.HBSITE_DATA_DIR) / "sweeps" / str(sweep_id)


def checkpoint_dir(trial: Trial, resume: bool) -> Path:
    """Resume shares one directory per config across rungs; otherwise each trial gets its own."""
    base = sweep_dir(trial.sweep_id)
    return base / "configs" / str(trial.config_id) if resume else base / "trials" / str(trial.pk)


def template_values(trial: Trial) -> dict[str, Any]:
    """Collect what `{{ name }}` may stand for: declarations, inputs, params, the resource.

    Where a name is defined twice, the matrix value beats a declaration or input, and the
    rung's resource beats both (see spec_templates.check_names).
    """
    spec = stored.spec_of(trial.sweep)
    values: dict[str, Any] = {**spec.params, **trial.config.params}
    if spec.hyperband is not None:
        values[spec.hyperband.resource.name] = resource_value(trial)
    return values


def resource_value(trial: Trial) -> int | float | None:
    spec = stored.spec_of(trial.sweep)
    if trial.resource is None or spec.hyperband is None:
        return None
    return int(trial.resource) if spec.hyperband.resource.type == "int" else trial.resource


def prepare(trial: Trial) -> None:
    """Fill in the trial's command and checkpoint dir as it is claimed."""
    spec = stored.spec_of(trial.sweep)
    resume = bool(spec.hyperband and spec.hyperband.resume)
    trial.command = command.render(spec.run.parts or spec.run.cmd, template_values(trial))
    trial.checkpoint_dir = str(checkpoint_dir(trial, resume))


def working_dir(trial: Trial) -> Path:
    """Return the trial's working dir: run.workdir (relative to HBSITE_WORKDIR_BASE: the
    source checkout, else the data directory) or the sweep's own folder."""
    spec = stored.spec_of(trial.sweep)
    if spec.run.workdir:
        return Path(settings.HBSITE_WORKDIR_BASE) / spec.run.workdir
    return sweep_dir(trial.sweep_id)


def trial_env(trial: Trial, token: str) -> dict[str, str]:
    """Build the environment of the trial contract on top of the worker's own."""
    spec = stored.spec_of(trial.sweep)
    env = dict(os.environ)
    # `python` in a command is the interpreter that runs hbsite, with its packages.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(
        HBSITE_TRIAL_ID=str(trial.pk),
        HBSITE_SWEEP_ID=str(trial.sweep_id),
        HBSITE_BRACKET=str(trial.bracket),
        HBSITE_RUNG=str(trial.rung),
        HBSITE_PARAMS=json.dumps(trial.config.params),
        HBSITE_CHECKPOINT_DIR=trial.checkpoint_dir,
        HBSITE_RESUME="1" if spec.hyperband and spec.hyperband.resume else "0",
        HBSITE_API_URL=settings.HBSITE_API_URL,
        HBSITE_TRIAL_TOKEN=token,
        HBSITE_ATTEMPT=str(trial.attempt),
        PYTHONUNBUFFERED="1",
    )
    if spec.hyperband is not None:
        env["HBSITE_RESOURCE_NAME"] = spec.hyperband.resource.name
        env["HBSITE_RESOURCE"] = json.dumps(resource_value(trial))
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
        limit, proc = settings.HBSITE_OUTPUT_TAIL_BYTES, tree.proc
        self.stdout, self.stderr = Tail(limit), Tail(limit)
        self.default_step = default_step
        self.pending: list[metrics.Point] = []
        self.rejected: list[str] = []
        self.lines = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._read, args=args, daemon=True)
            for args in ((proc.stdout, self.stdout, True), (proc.stderr, self.stderr, False))
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
            data = json.loads(line)
            values = data[METRICS_KEY]
            step = data.get("step", self.default_step)
            items = list(values.items())
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

    def tails(self) -> tuple[str, str]:
        """Return the stdout and stderr tails so far (saved with each heartbeat)."""
        with self.lock:
            return self.stdout.text(), self.stderr.text()

    def take(self) -> tuple[list[metrics.Point], list[str]]:
        """Return the points read since the last call, and the reasons of what was not."""
        with self.lock:
            points, self.pending = self.pending, []
            rejected, self.rejected = self.rejected, []
        return points, rejected

    def put_back(self, points: list[metrics.Point]) -> None:
        """Return points that could not be stored yet, ahead of any read since."""
        with self.lock:
            self.pending[:0] = points

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` seconds in all for the pipes to close."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


@dataclass
class Attempt:
    """One attempt of a trial as this runner runs it: its fence and its process tree."""

    trial: Trial
    fence: trials.Fence
    tree: Supervised
    output: Output
    fenced: threading.Event = field(default_factory=threading.Event)

    def cut_off(self) -> None:
        """The attempt is no longer current: kill its tree at once."""
        self.fenced.set()
        self.tree.stop()

    def flush(self, budget: float | None = None) -> None:
        """Store the metric points read so far, and count on the trial what could not be read;
        fence the attempt when its points are refused.

        A database that stays away for `budget` seconds (default: HBSITE_DB_RETRY_SECONDS)
        keeps the points for the next flush and raises its error.
        """
        points, rejected = self.output.take()
        seconds = dbretry.retry_seconds() if budget is None else budget
        if rejected:
            dbretry.call_within(seconds, metrics.reject, self.trial.pk, rejected, len(rejected))
        # One transaction per FLUSH_POINTS points: the trial row's lock is held only that
        # long, so a flood of output never holds off the heartbeats (which update that row).
        for start in range(0, len(points), FLUSH_POINTS):
            chunk = points[start : start + FLUSH_POINTS]
            try:
                accepted = dbretry.call_within(seconds, metrics.record, self.trial, chunk)
            except dbretry.TRANSIENT:
                self.output.put_back(points[start:])
                raise
            if not accepted:
                self.cut_off()
                return


class Heartbeats:
    """The runner process's one heartbeat thread, beating for every attempt it runs."""

    def __init__(self) -> None:
        self.attempts: dict[int, Attempt] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="hbsite-heartbeat", daemon=True)
        self.thread.start()

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts[attempt.trial.pk] = attempt

    def remove(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.pop(attempt.trial.pk, None)

    def _loop(self) -> None:
        while True:
            time.sleep(settings.HBSITE_HEARTBEAT_SECONDS)
            with self.lock:
                attempts = list(self.attempts.values())
            for attempt in attempts:
                with self.lock:
                    current = self.attempts.get(attempt.trial.pk) is attempt
                if current:  # not ended while the others beat
                    self._beat(attempt)

    def _beat(self, attempt: Attempt) -> None:
        tails = attempt.output.tails()
        try:
            # Tried again within one heartbeat period; the lease keeps running meanwhile, so
            # a database that stays away ends the attempt.
            accepted = dbretry.call_within(
                settings.HBSITE_HEARTBEAT_SECONDS,
                trials.heartbeat, attempt.fence, attempt.tree.pid, *tails,
            )  # fmt: skip
        except Exception:
            log.exception("heartbeat of trial %s failed", attempt.trial.pk)
            dbretry.drop_connection()
            return
        if accepted:
            attempt.tree.feed()
        elif not attempt.fenced.is_set():
            log.warning("trial %s attempt %s is over; killing its processes",
                        attempt.fence.trial_id, attempt.fence.attempt)  # fmt: skip
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


def spawn(trial: Trial, token: str) -> Supervised:
    """Start the trial's command under a supervisor that holds its whole process tree."""
    workdir = working_dir(trial)
    workdir.mkdir(parents=True, exist_ok=True)
    Path(trial.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    return Supervised(
        ["/bin/sh", "-c", trial.command],
        cwd=str(workdir),
        env=trial_env(trial, token),
        grace=grace_seconds(),
        lost_after=settings.HBSITE_LOST_AFTER_SECONDS,
    )


def run(trial_id: int) -> None:
    """Run a queued trial to its end; do nothing if another runner has it."""
    claim = dbretry.call(trials.claim, trial_id, worker_name(), prepare)
    if claim is None:
        return
    trial = claim.trial  # with its sweep and config, as the claim read them
    try:
        tree = spawn(trial, claim.token)
    except OSError as exc:
        dbretry.call(trials.finish, claim.fence, None, f"could not start: {exc}", "", "")
        return
    output = Output(tree, default_step=resource_value(trial))
    attempt = Attempt(trial, claim.fence, tree, output)
    heartbeats().add(attempt)
    try:
        error = supervise(attempt)
    except Exception as exc:
        # A runner bug must not leave the trial "running" until reconcile.
        log.exception("runner failed while supervising trial %s", trial_id)
        tree.stop()
        tree.wait(grace_seconds() + 5)
        error = f"runner error: {exc}"
    finally:
        heartbeats().remove(attempt)
    conclude(attempt, error)


def conclude(attempt: Attempt, error: str) -> None:
    """Record how the attempt ended (if it is still the current one), then let its tree go.

    A database that stays away longer than HBSITE_DB_RETRY_SECONDS raises its error here; the
    trial then stays running without heartbeats until reconcile requeues it.
    """
    tree, output, fence = attempt.tree, attempt.output, attempt.fence
    output.join(READER_JOIN_SECONDS)
    attempt.flush()
    stdout, stderr = output.tails()
    if tree.reason == LEASE and not attempt.fenced.is_set():
        done = dbretry.call(trials.give_up, fence, "stopped heartbeating")
    else:
        done = dbretry.call(trials.finish, fence, tree.returncode, error, stdout, stderr)
    if not done:
        log.warning("trial %s attempt %s was fenced off; it changed nothing",
                    fence.trial_id, fence.attempt)  # fmt: skip
    tree.close(grace_seconds() + 5)


def supervise(attempt: Attempt) -> str:
    """Flush metrics and watch the time until the command ends; return an error text or ''."""
    timeout = stored.spec_of(attempt.trial.sweep).run.timeout
    started = time.monotonic()
    next_flush, error = 0.0, ""
    while not attempt.tree.wait(POLL_SECONDS):
        now = time.monotonic()
        if now >= next_flush:
            next_flush = now + settings.HBSITE_HEARTBEAT_SECONDS
            try:
                attempt.flush(budget=settings.HBSITE_HEARTBEAT_SECONDS)
            except dbretry.TRANSIENT:
                log.warning("metrics of trial %s wait for the database", attempt.trial.pk)
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
