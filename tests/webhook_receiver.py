"""A real HTTP server on 127.0.0.1 for the webhook tests: it records every request and
answers with the status codes it is told to, in order (200 once they run out)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.answers.pop(0) if self.answers else 200


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            request = Received(self.path, dict(self.headers.items()), body)
            status = receiver.next_status(request)
            text = b"ok" if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args) -> None:
            pass

    return Handler


class serving:
    """`with serving(Receiver(answers=[500, 200])) as receiver:` runs the server on a free
    port in a thread (receiver.url is its URL) and stops it on leaving."""

    def __init__(self, receiver: Receiver, path: str = "/hook") -> None:
        self.receiver, self.path = receiver, path
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))

    def __enter__(self) -> Receiver:
        host, port = self.server.server_address[:2]
        self.receiver.url = f"http://{host}:{port}{self.path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.receiver

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
