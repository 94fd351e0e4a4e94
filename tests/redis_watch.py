"""Which Redis keys given processes write, seen through Redis's MONITOR; and the session's
own cleanup, which deletes the keys under one prefix and nothing else.

MONITOR reports every command with the client's address ("[13 127.0.0.1:41234] "LPUSH" ...")
and a script's commands as "[13 lua]" right after its EVAL. A client is one of ours when its
address is the local end of a TCP connection that one of the watched processes holds to Redis
(read from /proc, so Linux only); keys of every other client are left out.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from pathlib import Path

import redis

LINE = re.compile(rb"^\S+ \[(\d+) ([^\]]*)\] (.*)$", re.DOTALL)
ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"', re.DOTALL)
ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
ESCAPED = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}


def delete_keys_under(client: redis.Redis, prefix: str) -> int:
    """Delete every key whose name starts with `prefix` (SCAN, then UNLINK); return how many."""
    if not prefix:
        raise ValueError("refusing to delete every key: the prefix is empty")
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=500):
        batch.append(key)
        if len(batch) == 500:
            deleted += client.unlink(*batch)
            batch = []
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def monitor_args(text: bytes) -> list[bytes]:
    """Split one MONITOR command ("SET" "a b" "\\x00") into its arguments, unescaped."""

    def unescape(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return ESCAPED.get(code, code)

    return [ESCAPE.sub(unescape, arg) for arg in ARG.findall(text)]


def redis_client_ports(pids: list[int], redis_port: int) -> set[int]:
    """Return the local ports of the TCP connections to `redis_port` that `pids` hold."""
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == redis_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class RedisWrites:
    """Record, while open, the keys (and pub/sub channels) that `pids` write in Redis."""

    def __init__(self, url: str, pids: list[int]) -> None:
        self.client = redis.Redis.from_url(url)
        self.port = self.client.connection_pool.connection_kwargs.get("port", 6379)
        self.pids = pids
        self.lines: list[bytes] = []
        self.ports: set[int] = set()
        self.ports_lock = threading.Lock()
        self.marker = f"redis-watch-done-{uuid.uuid4().hex}".encode()
        self.closing = threading.Event()

    def __enter__(self) -> RedisWrites:
        self.monitor = self.client.connection_pool.make_connection()
        self.monitor.send_command("MONITOR")
        assert self.monitor.read_response() in (b"OK", "OK")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.reader.start()
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self.closing.set()
        self.client.echo(self.marker)  # the reader stops once it has read up to here
        self.reader.join(timeout=30)
        self.sampler.join(timeout=5)
        self.monitor.disconnect()

    def sample(self) -> None:
        """Note the watched processes' connections now (a background thread does it often)."""
        seen = redis_client_ports(self.pids, self.port)
        with self.ports_lock:
            self.ports |= seen

    def _sample(self) -> None:
        while not self.closing.is_set():
            self.sample()
            time.sleep(0.05)

    def _read(self) -> None:
        while True:
            line = self.monitor.read_response()
            if self.marker in line:
                return
            self.lines.append(line)

    def written(self) -> set[str]:
        """Return the names our clients wrote: keys of write commands, channels published to."""
        flags = {name.lower(): info["flags"] for name, info in self.client.command().items()}
        names: set[str] = set()
        ours = False
        for line in self.lines:
            match = LINE.match(line)
            if match is None:
                continue
            client, args = match.group(2), monitor_args(match.group(3))
            if client != b"lua":  # a script's commands follow its EVAL from the same client
                ours = client.rsplit(b":", 1)[-1].isdigit() and (
                    int(client.rsplit(b":", 1)[1]) in self.ports
                )
            if not ours or not args:
                continue
            command = args[0].decode().lower()
            if command == "publish":
                names.add(args[1].decode(errors="backslashreplace"))
            elif "write" in flags.get(command, []):
                names |= {key.decode(errors="backslashreplace") for key in self._keys(args)}
        return names

    def _keys(self, args: list[bytes]) -> list[bytes]:
        connection = self.client.connection_pool.get_connection()
        try:
            connection.send_command("COMMAND", "GETKEYS", *args)
            return list(connection.read_response())
        except redis.ResponseError:
            return []
        finally:
            self.client.connection_pool.release(connection)
