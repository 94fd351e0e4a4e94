"""A client for hbsite's REST API, standard library only: sweeps from a script or a notebook.

    from hbclient import Client
    hb = Client("http://127.0.0.1:8000", "hbs_...")       # a token from your account page
    sweep = hb.create_sweep(file="hyperband.yml")         # or create_sweep(yaml_text)
    hb.wait(sweep["id"], progress=print)                  # a Progress each time it changes
    hb.best(sweep["id"])                                  # {"trial", "value", "params", ...}
    hb.export(sweep["id"], "csv")                         # the trials as CSV bytes

Every answer is the API's JSON as Python dicts and lists (README.md, "REST API"). An error
answer raises ApiError with the API's sentence; invalid sweep YAML raises SweepYamlError
with every problem's line and column; a server that cannot be reached raises
ServerUnreachable.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The statuses of a sweep that is still going, and of a trial that has ended.
ACTIVE = ("created", "running")
TRIAL_ENDED = ("succeeded", "failed", "stopped", "lost")
EXPORT_FORMATS = ("csv", "json", "best-yaml", "yaml")


class ClientError(Exception):
    """Anything that went wrong talking to hbsite."""


class ServerUnreachable(ClientError):
    """No answer from the server (refused, timed out, name not resolved)."""


class ApiError(ClientError):
    """The API answered with an error: `status` (HTTP), `message` (its `error` sentence) and
    `body` (the whole JSON error body, or {} when the answer was not JSON)."""

    def __init__(self, status: int, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.message, self.body = status, message, body


@dataclass(frozen=True)
class YamlIssue:
    """One problem in sweep YAML, at a 1-based line and column."""

    line: int
    column: int
    message: str

    def format(self, source: str = "<yaml>") -> str:
        """Return `SOURCE:LINE:COL: message`, as `hbsite sweep validate` prints it."""
        return f"{source}:{self.line}:{self.column}: {self.message}"


class SweepYamlError(ApiError):
    """The API refused sweep YAML: `issues` holds every problem with its line and column."""

    def __init__(self, status: int, body: dict[str, Any], source: str) -> None:
        self.issues = [
            YamlIssue(int(e.get("line") or 0), int(e.get("column") or 0), str(e.get("message")))
            for e in body.get("errors", [])
        ]
        self.source = source
        super().__init__(status, str(body.get("error", "invalid sweep")), body)
        self.args = ("\n".join([f"HTTP {status}: {self.message}", *self.lines()]),)

    def lines(self) -> list[str]:
        """Return each issue as `SOURCE:LINE:COL: message`."""
        return [issue.format(self.source) for issue in self.issues]


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands: its status, trials ended of those planned, trials per status,
    and the best trial so far (None before one ranks); `sweep` is the whole detail."""

    status: str
    done: int
    planned: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    sweep: dict[str, Any]

    @classmethod
    def of(cls, sweep: dict[str, Any]) -> Progress:
        totals = sweep.get("totals") or {}
        counts = {str(k): int(v) for k, v in (totals.get("counts") or {}).items()}
        done = sum(n for status, n in counts.items() if status in TRIAL_ENDED)
        planned = int(totals.get("planned_trials") or sweep.get("planned_trials") or 0)
        return cls(str(sweep["status"]), done, planned, counts, sweep.get("best"), sweep)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def __str__(self) -> str:
        best = "" if self.best is None else f", best {self.best['value']}"
        return f"sweep {self.sweep['id']} {self.status}: {self.done}/{self.planned} trials{best}"


class Client:
    """hbsite's REST API at `url` (e.g. "http://127.0.0.1:8000") with an API token
    (`hbs_...`, from the account page; default: the HBSITE_TOKEN environment variable).

    `timeout` is each request's, in seconds. Methods take and return sweep and trial ids
    (ints) and the API's JSON; see each method for the endpoint it calls.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token or os.environ.get("HBSITE_TOKEN", "")
        if not self.token:
            raise ClientError("no API token: pass one or set HBSITE_TOKEN")
        self.timeout = timeout

    # Sweeps

    def create_sweep(
        self,
        yaml: str | None = None,
        *,
        file: str | os.PathLike[str] | None = None,
        name: str | None = None,
        team: int | None = None,
    ) -> dict[str, Any]:
        """Create and start a sweep from YAML text or a file (POST /api/sweeps/); return its
        detail. `team` defaults to your personal team. Raises SweepYamlError when invalid."""
        text, source = read_yaml(yaml, file)
        body: dict[str, Any] = {"yaml": text}
        if name is not None:
            body["name"] = name
        if team is not None:
            body["team"] = team
        return self._json("POST", "/api/sweeps/", body, source=source)

    def preview_plan(
        self, yaml: str | None = None, *, file: str | os.PathLike[str] | None = None
    ) -> dict[str, Any]:
        """Validate YAML text or a file and return its plan without creating a sweep
        (POST /api/plan/): `algorithm`, `plan`, `table` (text), `warnings`."""
        text, source = read_yaml(yaml, file)
        return self._json("POST", "/api/plan/", {"yaml": text}, source=source)

    def sweeps(self, status: str | None = None) -> list[dict[str, Any]]:
        """Return the sweeps of your teams, newest first, optionally of one status."""
        return self._pages("/api/sweeps/", {"status": status})

    def sweep(self, sweep_id: int) -> dict[str, Any]:
        """Return a sweep's detail: status, plan, counts per bracket and rung, best trial."""
        return self._json("GET", f"/api/sweeps/{sweep_id}/")

    def status(self, sweep_id: int) -> str:
        """Return a sweep's status: created, running, succeeded, failed, stopped, ..."""
        return str(self.sweep(sweep_id)["status"])

    def progress(self, sweep_id: int) -> Progress:
        """Return where a sweep stands (see Progress)."""
        return Progress.of(self.sweep(sweep_id))

    def plan(self, sweep_id: int) -> dict[str, Any]:
        """Return a sweep's bracket plan: `algorithm`, `plan`, `table` (text), `warnings`."""
        return self._json("GET", f"/api/sweeps/{sweep_id}/plan/")

    def trials(
        self,
        sweep_id: int,
        status: str | None = None,
        bracket: int | None = None,
        rung: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return a sweep's trials (every page), optionally filtered."""
        query = {"sweep": sweep_id, "status": status, "bracket": bracket, "rung": rung}
        return self._pages("/api/trials/", query)

    def best(self, sweep_id: int) -> dict[str, Any] | None:
        """Return the best trial so far (`trial`, `value`, `params`, `bracket`, `rung`,
        `resource`), or None while no trial ranks."""
        return self.sweep(sweep_id).get("best")

    def stop(self, sweep_id: int) -> dict[str, Any]:
        """Stop an active sweep and its unfinished trials (POST .../stop/); return the
        sweep. Raises ApiError (409) when it has already ended."""
        return self._json("POST", f"/api/sweeps/{sweep_id}/stop/")

    def wait(
        self,
        sweep_id: int,
        progress: Callable[[Progress], object] | None = None,
        poll: float = 2.0,
        timeout: float | None = None,
    ) -> Progress:
        """Poll a sweep every `poll` seconds until it ends and return its last Progress.

        `progress` is called with the first Progress and with each one that differs in
        status, trials done or best value. Raises TimeoutError after `timeout` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[object, ...] | None = None
        while True:
            now = self.progress(sweep_id)
            key = (
                now.status,
                now.done,
                now.counts,
                None if now.best is None else now.best["value"],
            )
            if progress is not None and key != seen:
                progress(now)
            seen = key
            if not now.active:
                return now
            if deadline is not None and time.monotonic() + poll > deadline:
                raise TimeoutError(f"sweep {sweep_id} still {now.status} after {timeout} s")
            time.sleep(poll)

    # Exports

    def export(self, sweep_id: int, format: str = "csv") -> bytes:
        """Return an export (GET .../export/?format=): the trials as `csv` or `json`, the
        best config as `best-yaml`, or the sweep's `yaml`."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"unknown format {format!r}; use one of {', '.join(EXPORT_FORMATS)}")
        query = urllib.parse.urlencode({"format": format})
        return self._request("GET", f"/api/sweeps/{sweep_id}/export/?{query}")

    def download(self, sweep_id: int, path: str | os.PathLike[str], format: str = "csv") -> Path:
        """Write an export (see `export`) to `path` and return it."""
        target = Path(path)
        target.write_bytes(self.export(sweep_id, format))
        return target

    # HTTP

    def _pages(self, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """GET every page of a paginated list and return the results together."""
        given = {k: v for k, v in query.items() if v is not None}
        url: str | None = f"{self.url}{path}?{urllib.parse.urlencode(given)}"
        found: list[dict[str, Any]] = []
        while url:
            page = self._json("GET", url)
            found += page["results"]
            url = page.get("next")
        return found

    def _json(
        self, method: str, path: str, body: Any = None, source: str = "<yaml>"
    ) -> dict[str, Any]:
        """Send a request (a JSON body when given) and return the JSON object answered."""
        data = None if body is None else json.dumps(body).encode()
        answer = json.loads(self._request(method, path, data, source=source))
        if not isinstance(answer, dict):
            raise ClientError(f"{method} {path}: expected a JSON object, got {answer!r:.100}")
        return answer

    def _request(
        self, method: str, path: str, data: bytes | None = None, source: str = "<yaml>"
    ) -> bytes:
        """Send one request (`path` below the base URL, or a whole URL) and return the
        answer's body; raise ApiError, SweepYamlError or ServerUnreachable."""
        url = path if path.startswith(("http://", "https://")) else f"{self.url}{path}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json, */*"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise error_of(exc, source) from None
        except OSError as exc:  # URLError, refused, reset, timed out
            raise ServerUnreachable(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def error_of(exc: urllib.error.HTTPError, source: str) -> ApiError:
    """Return the exception for an error answer, carrying the API's error body."""
    raw = exc.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = raw.decode("utf-8", "replace").strip()[:200] or str(exc.reason)
        return ApiError(exc.code, text, {})
    if body.get("errors") and isinstance(body["errors"], list):
        return SweepYamlError(exc.code, body, source)
    return ApiError(exc.code, str(body.get("error", exc.reason)), body)


def read_yaml(yaml: str | None, file: str | os.PathLike[str] | None) -> tuple[str, str]:
    """Return (YAML text, its name for error lines) from exactly one of text or a file."""
    if (yaml is None) == (file is None):
        raise ValueError("pass either YAML text or file=, not both")
    if file is not None:
        return Path(file).read_text(encoding="utf-8"), os.fspath(file)
    assert yaml is not None
    return yaml, "<yaml>"
