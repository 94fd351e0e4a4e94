"""Posting metrics to the real server as a trial, over one keep-alive connection."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse


class Client:
    """One keep-alive HTTP connection posting metrics as a trial."""

    def __init__(self, base: str, trial_id: int, token: str) -> None:
        self.url = urllib.parse.urlsplit(base)
        self.path = f"/api/trials/{trial_id}/metrics/"
        self.headers = {"Content-Type": "application/json", "Authorization": f"Trial {token}"}
        self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)

    def post(self, body: dict) -> float:
        """POST one body; return its latency in seconds (fails on any status but 201)."""
        started = time.perf_counter()
        self.conn.request("POST", self.path, json.dumps(body), self.headers)
        response = self.conn.getresponse()
        response.read()
        assert response.status == 201, response.status
        return time.perf_counter() - started
