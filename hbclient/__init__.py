"""What a training script needs from hbsite, with no Django and no third-party imports.

    import hbclient
    lr = hbclient.params()["learning_rate"]
    steps = hbclient.resource()            # this rung's resource (e.g. num_steps)
    ckpt = hbclient.checkpoint_dir()       # shared across rungs when `resume: true`
    hbclient.report(step=10, loss=0.31)    # one metric line on stdout

`hbclient.Client` (hbclient/client.py) drives hbsite's REST API from a script or a notebook:
create a sweep, follow it, fetch its trials, best trial and exports.

`report` prints `{"hbsite.metrics": {...}, "step": N}`; the runner records it. A script run
outside a runner's stdout (or one that prefers HTTP) can use `ApiReporter`, which batches
points and posts them to the trial's metrics endpoint with the per-trial token.

A diverged value (NaN, +inf, -inf) is sent as the JSON string "NaN", "Infinity" or
"-Infinity", the one form hbsite reads on both paths: it is stored, ranked last (NaN) or by
the metric's direction (infinities), and drawn as a gap on the charts.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hbclient.client import (
    ApiError,
    Client,
    ClientError,
    Progress,
    ServerUnreachable,
    SweepYamlError,
    YamlIssue,
)

__all__ = [
    "ApiError", "ApiReporter", "Client", "ClientError", "Progress", "ServerUnreachable",
    "SweepYamlError", "YamlIssue", "checkpoint_dir", "params", "report", "resource", "wire",
]  # fmt: skip

METRICS_KEY = "hbsite.metrics"


# What hbsite reads for a float JSON has no number for (see scheduler.metric_values).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def wire(value: Any) -> Any:
    """Return a metric value as hbsite reads it: non-finite floats as their JSON string."""
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE[repr(value)]
    return value


def params() -> dict[str, Any]:
    """Return this trial's hyperparameters."""
    value = json.loads(os.environ.get("HBSITE_PARAMS", "{}"))
    assert isinstance(value, dict)
    return value


def resource() -> int | float | None:
    """Return the resource this trial runs to (absolute, e.g. total epochs)."""
    raw = os.environ.get("HBSITE_RESOURCE")
    value = json.loads(raw) if raw else None
    assert value is None or isinstance(value, (int, float))
    return value


def checkpoint_dir() -> Path:
    """Return (and create) the directory to save and resume checkpoints in."""
    path = Path(os.environ.get("HBSITE_CHECKPOINT_DIR", "checkpoints"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def report(step: float | None = None, **values: float) -> None:
    """Print one metric line that the runner records as metric points."""
    line: dict[str, Any] = {METRICS_KEY: {name: wire(v) for name, v in values.items()}}
    if step is not None:
        line["step"] = step
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


class ApiReporter:
    """Send metric points over HTTP in batches, with the trial's token."""

    def __init__(
        self,
        every: float = 1.0,
        url: str | None = None,
        token: str | None = None,
        retry_seconds: float = 120.0,
    ):
        self.retry_seconds = retry_seconds
        self.url = (url or os.environ["HBSITE_API_URL"]).rstrip("/")
        self.token = token or os.environ["HBSITE_TRIAL_TOKEN"]
        self.trial = os.environ.get("HBSITE_TRIAL_ID", "")
        self.every = every
        self.points: list[dict[str, Any]] = []
        self.last_sent = time.monotonic()

    def report(self, step: float | None = None, **values: float) -> None:
        """Buffer points; send them when the batch is older than `every` seconds."""
        for name, value in values.items():
            point: dict[str, Any] = {"name": name, "value": wire(value)}
            if step is not None:
                point["step"] = step
            self.points.append(point)
        if time.monotonic() - self.last_sent >= self.every:
            self.flush()

    def flush(self) -> None:
        """Send every buffered point now.

        A server that cannot be reached or answers 5xx (restarting, its database away) is
        tried again, after 0.2 s doubling to at most 5 s, for up to `retry_seconds`; then the
        last error is raised. A 4xx answer (a bad point, an attempt that is over) raises
        urllib.error.HTTPError at once.
        """
        if not self.points:
            return
        body = json.dumps({"points": self.points}).encode()
        deadline, delay = time.monotonic() + self.retry_seconds, 0.2
        while True:
            try:
                self._post(body)
                break
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or time.monotonic() + delay > deadline:
                    raise
            except OSError:  # refused, reset, timed out (URLError is an OSError)
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        self.points, self.last_sent = [], time.monotonic()

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/trials/{self.trial}/metrics/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Trial {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> ApiReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
