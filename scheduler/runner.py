"""Run one trial as a child process: render its command, stream its metrics, watch it end.

A metric line on stdout is one JSON object with the key "hbsite.metrics", for example
`{"hbsite.metrics": {"loss": 0.31, "accuracy": 0.92}, "step": 27}` (see hbclient.report).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from . import command, metrics, stored, trials
from .models import Trial

log = logging.getLogger(__name__)

METRICS_KEY = "hbsite.metrics"
POLL_SECONDS = 0.2
TERMINATE_GRACE_SECONDS = 5.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def sweep_dir(sweep_id: int) -> Path:
    return Path(settings.HBSITE_DATA_DIR) / "sweeps" / str(sweep_id)


def checkpoint_dir(trial: Trial, resume: bool) -> Path:
    """Resume shares one directory per config across rungs; otherwise each trial gets its own."""
    base = sweep_dir(trial.sweep_id)
    return base / "configs" / str(trial.config_id) if resume else base / "trials" / str(trial.pk)


def template_values(trial: Trial) -> dict[str, Any]:
    """Collect what `{{ name }}` may stand for: declarations, inputs, params, the resource."""
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
    trial.command = command.render(spec.run.cmd, template_values(trial))
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

    def __init__(self, proc: subprocess.Popen[str], default_step: float | None) -> None:
        limit = settings.HBSITE_OUTPUT_TAIL_BYTES
        self.stdout, self.stderr = Tail(limit), Tail(limit)
        self.default_step = default_step
        self.pending: list[metrics.Point] = []
        self.bad_lines = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._read, args=args, daemon=True)
            for args in ((proc.stdout, self.stdout, True), (proc.stderr, self.stderr, False))
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: Any, tail: Tail, parse: bool) -> None:
        for line in stream:
            with self.lock:
                tail.add(line)
                if parse:
                    self._parse(line)

    def _parse(self, line: str) -> None:
        if METRICS_KEY not in line:
            return
        try:
            data = json.loads(line)
            values = data[METRICS_KEY]
            step = data.get("step", self.default_step)
            self.pending.extend(metrics.make_point(k, step, v) for k, v in values.items())
        except (ValueError, KeyError, TypeError, AttributeError, metrics.MetricError):
            self.bad_lines += 1

    def tails(self) -> tuple[str, str]:
        """Return the stdout and stderr tails so far (saved with each heartbeat)."""
        with self.lock:
            return self.stdout.text(), self.stderr.text()

    def take(self) -> list[metrics.Point]:
        with self.lock:
            points, self.pending = self.pending, []
        return points

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=5)


def spawn(trial: Trial, token: str) -> subprocess.Popen[str]:
    """Start the trial's command in its own process group, killed if this runner dies."""
    workdir = working_dir(trial)
    workdir.mkdir(parents=True, exist_ok=True)
    Path(trial.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    # setpriv's pdeath signal kills the shell if the worker is killed outright; its children
    # then die on a closed pipe, and reconcile requeues the trial.
    argv = ["setpriv", "--pdeathsig", "KILL", "--", "/bin/sh", "-c", trial.command]
    return subprocess.Popen(
        argv,
        cwd=workdir,
        env=trial_env(trial, token),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )


def terminate(proc: subprocess.Popen[str]) -> None:
    """Stop a child's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, TERMINATE_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(trial_id: int) -> None:
    """Run a queued trial to its end; do nothing if another runner has it."""
    claim = trials.claim(trial_id, worker_name(), prepare)
    if claim is None:
        return
    trial = Trial.objects.select_related("sweep", "config").get(pk=trial_id)
    try:
        proc = spawn(trial, claim.token)
    except OSError as exc:
        trials.finish(trial_id, None, f"could not start: {exc}", "", "")
        return
    output = Output(proc, default_step=resource_value(trial))
    try:
        error = supervise(trial, proc, output)
    except Exception as exc:
        # A runner bug or a lost database must not leave the trial "running" until reconcile.
        log.exception("runner failed while supervising trial %s", trial_id)
        terminate(proc)
        error = f"runner error: {exc}"
    output.join()
    metrics.record(trial, output.take())
    trials.finish(trial_id, proc.returncode, error, output.stdout.text(), output.stderr.text())


def supervise(trial: Trial, proc: subprocess.Popen[str], output: Output) -> str:
    """Heartbeat and flush metrics until the process ends; return an error text or ''."""
    timeout = stored.spec_of(trial.sweep).run.timeout
    started = time.monotonic()
    next_beat = 0.0
    while not exited(proc, POLL_SECONDS):
        now = time.monotonic()
        if now >= next_beat:
            next_beat = now + settings.HBSITE_HEARTBEAT_SECONDS
            metrics.record(trial, output.take())
            if not trials.heartbeat(trial.pk, proc.pid, *output.tails()):
                terminate(proc)
                return "stopped"
        if timeout is not None and now - started > timeout:
            terminate(proc)
            return f"timed out after {timeout:g} s"
    return ""


def exited(proc: subprocess.Popen[str], wait: float) -> bool:
    """Wait up to `wait` seconds for the process to end; True once it has."""
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return False
    return True
