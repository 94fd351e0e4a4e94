"""The runner backend of a runner on another machine: every report goes through the REST API.

The runner holds a runner token (`hbr_...`, HBSITE_RUNNER_TOKEN) and the server's base URL
(HBSITE_RUNNER_URL); it needs no database settings. It claims an attempt, heartbeats,
counts unreadable lines and finishes through the runner endpoints (`/api/runner/trials/<id>/
start|heartbeat|rejected|finish/`, scheduler.api.views_runner), and posts metric points to
the trial's metrics endpoint (`/api/trials/<id>/metrics/`) with the attempt's trial token,
the same fenced path a trial's own `hbclient.ApiReporter` takes.

A server that cannot be reached or answers 5xx (restarting, its database away) is tried
again, backing off from 0.1 s to 2 s, for HBSITE_DB_RETRY_SECONDS (a heartbeat: for one
heartbeat period); then `Unreachable` is raised.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from . import dbretry, metric_values, metrics
from .models import Trial
from .runner import Assignment, End, MayTakeNext, finish_plainly, worker_name

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30
POINTS_PER_REQUEST = 1000  # well under HBSITE_MAX_METRIC_BATCH's default of 5000
MAX_REASON_CHARS = 1000  # what the rejected endpoint takes of one reason


class Unreachable(OSError):
    """The server did not answer (or answered 5xx) within the retry budget."""


class Refused(Exception):
    """The server answered 4xx to something it should have taken: a runner or server bug,
    or a revoked token. The message holds the server's error."""


class RestBackend:
    """Claims and reports through the REST API of the hbsite at `url`, with `token`."""

    transient = (Unreachable,)

    def __init__(self, url: str, token: str) -> None:
        self.api_url = url.rstrip("/")
        self.token = token

    # --- the runner endpoints ---------------------------------------------------------

    def start(self, trial_id: int) -> Assignment | None:
        body = {
            "runner": settings.HBSITE_RUNNER_NAME,
            "worker": worker_name(),
            "data_dir": str(settings.HBSITE_DATA_DIR),
        }
        status, answer = self._runner_call(trial_id, "start", body, dbretry.retry_seconds())
        if status == 409:  # not queued any more: another runner has it, or it was stopped
            return None
        return Assignment(**answer)

    def heartbeat(self, a: Assignment, pid: int | None, stdout: str, stderr: str) -> bool:
        body = {**self._fence(a), "pid": pid, "stdout": stdout, "stderr": stderr}
        budget = settings.HBSITE_HEARTBEAT_SECONDS
        return not self._runner_call(a.trial, "heartbeat", body, budget)[1]["stop"]

    def reject(self, a: Assignment, reasons: list[str], count: int, budget: float) -> None:
        # The trial keeps only its first few reasons (Trial.MAX_REJECTIONS); all are counted.
        kept = [reason[:MAX_REASON_CHARS] for reason in reasons[: Trial.MAX_REJECTIONS]]
        body = {**self._fence(a), "reasons": kept, "count": count}
        self._runner_call(a.trial, "rejected", body, budget)

    def finish(
        self, a: Assignment, exit_code: int | None, error: str, stdout: str, stderr: str
    ) -> bool:
        body = {**self._fence(a), "exit_code": exit_code, "error": error[:10000],
                "stdout": stdout, "stderr": stderr}  # fmt: skip
        return self._recorded(a, body)

    def finish_and_take(
        self, a: Assignment, end: End, may_take_next: MayTakeNext, points: list[metrics.Point]
    ) -> tuple[bool, Assignment | None]:
        return finish_plainly(self, a, end, points)  # the next trial comes as a task

    def give_up(self, a: Assignment, why: str) -> bool:
        return self._recorded(a, {**self._fence(a), "lease_lost": True, "error": why})

    def _recorded(self, a: Assignment, body: dict[str, Any]) -> bool:
        answer = self._runner_call(a.trial, "finish", body, dbretry.retry_seconds())[1]
        return bool(answer["recorded"])

    # --- metrics, through the trial's own endpoint --------------------------------------

    def record(self, a: Assignment, points: list[metrics.Point], budget: float) -> bool:
        """Post the points in batches with the trial token; False once the attempt is over
        (409). Points of a batch the server refused (400) are counted there, not here."""
        for first in range(0, len(points), POINTS_PER_REQUEST):
            batch = [
                metric_values.wire_point(*p) for p in points[first : first + POINTS_PER_REQUEST]
            ]
            url = f"{self.api_url}/api/trials/{a.trial}/metrics/"
            status, answer = self._call(url, f"Trial {a.token}", {"points": batch}, budget)
            if status == 409:
                return False
            if status == 400:
                log.warning("trial %s: the server refused %s points: %s",
                            a.trial, len(batch), answer)  # fmt: skip
        return True

    # --- HTTP ---------------------------------------------------------------------------

    @staticmethod
    def _fence(a: Assignment) -> dict[str, Any]:
        return {"attempt": a.attempt, "token": a.token}

    def _runner_call(
        self, trial_id: int, action: str, body: dict[str, Any], budget: float
    ) -> tuple[int, Any]:
        url = f"{self.api_url}/api/runner/trials/{trial_id}/{action}/"
        status, answer = self._call(url, f"Bearer {self.token}", body, budget)
        if status >= 400 and not (action == "start" and status == 409):
            raise Refused(f"{action} of trial {trial_id}: HTTP {status}: {answer}")
        return status, answer

    def _call(
        self, url: str, authorization: str, body: dict[str, Any], budget: float
    ) -> tuple[int, Any]:
        """POST `body` as JSON; return (status, parsed answer) of a 2xx or 4xx answer.

        Refused connections, timeouts and 5xx answers are tried again within `budget`
        seconds (backing off as scheduler.dbretry does); then Unreachable is raised.
        """
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": authorization}
        waits = iter(dbretry.delays(budget))
        while True:
            request = urllib.request.Request(url, data=data, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as answer:
                    return answer.status, json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return exc.code, parsed(exc.read())
                why = f"HTTP {exc.code}"
            except OSError as exc:  # refused, reset, timed out (URLError is an OSError)
                why = str(exc)
            delay = next(waits, None)
            if delay is None:
                raise Unreachable(f"{url}: {why}")
            log.warning("hbsite at %s unavailable (%s); again in %.1f s", self.api_url, why, delay)
            time.sleep(delay)


def parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:500]
