"""Posting metrics to the real server as a trial, over one keep-alive connection.

The requests are written and the responses read on a plain socket: `http.client` parses every
response's headers with the email package, ~0.3 ms of the benchmark's own CPU per post on this
2-core machine, which the server under test would then not have. Each response is still read
whole (status line, headers, Content-Length body) and its status checked.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse


class Client:
    """One keep-alive HTTP/1.1 connection posting metrics as a trial."""

    def __init__(self, base: str, trial_id: int, token: str) -> None:
        url = urllib.parse.urlsplit(base)
        assert url.hostname is not None and url.port is not None, base
        self.sock = socket.create_connection((url.hostname, url.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = (
            f"POST /api/trials/{trial_id}/metrics/ HTTP/1.1\r\n"
            f"Host: {url.hostname}:{url.port}\r\n"
            f"Authorization: Trial {token}\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.buffer = b""

    def post(self, body: dict) -> float:
        """POST one body; return its latency in seconds (fails on any status but 201)."""
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.sock.sendall(self.head + str(len(data)).encode() + b"\r\n\r\n" + data)
        status = self.response()
        assert status == 201, status
        return time.perf_counter() - started

    def response(self) -> int:
        """Read one whole response; return its status code."""
        while b"\r\n\r\n" not in self.buffer:
            self.receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise AssertionError("chunked responses are not expected here")
        while len(self.buffer) < length:
            self.receive()
        self.buffer = self.buffer[length:]
        return status

    def receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk
