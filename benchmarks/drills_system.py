"""The fault drills' system: hbsite under supervisord, on a private Redis, and its faults.

Everything here is the bench's own: a redis-server on a free port (so restarting it touches
nobody else), supervisord with web, scheduler, runner and beat (`python -m hbsite.supervise`),
and the test database, whose connections alone are cut. The shared PostgreSQL and Redis are
never restarted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import ROOT, free_port, start_process, stop_process, wait_for

PROGRAMS = ("web", "scheduler", "runner", "beat")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    """A redis-server of the bench's own, without persistence: a restart loses every key."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hbsite-drills-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]  # fmt: skip
        self.proc = start_process(argv, dict(os.environ), "drills-redis.log")
        wait_for(lambda: port_open(self.port), timeout=30, every=0.05)

    def kill(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)
            self.proc = None


class System:
    """hbsite's four processes under supervisord, which restarts any that dies."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.env, self.proc = env, None
        self.conf = data_dir / "supervisor" / "supervisord.conf"
        self.web_port = int(env["HBSITE_PORT"])

    def start(self) -> None:
        argv = [sys.executable, "-m", "hbsite.supervise"]
        self.proc = start_process(argv, self.env, "drills-system.log")
        wait_for(lambda: port_open(self.web_port), timeout=120, every=0.2)
        wait_for(lambda: all(self.pid(name) for name in PROGRAMS), timeout=120, every=0.5)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def pid(self, program: str) -> int:
        """Return the program's pid as supervisord knows it (0 while it is not running)."""
        ctl = str(Path(sys.executable).parent / "supervisorctl")
        out = subprocess.run(
            [ctl, "-c", str(self.conf), "pid", program],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        text = out.stdout.strip()
        return int(text) if text.isdigit() else 0

    def signal(self, program: str, sig: int) -> int:
        """Send `sig` to the program's main process; return its pid."""
        pid = self.pid(program)
        assert pid, f"{program} is not running"
        os.kill(pid, sig)
        return pid

    def kill(self, program: str) -> None:
        """kill -9 the program, then wait until supervisord has started it again."""
        old = self.signal(program, signal.SIGKILL)
        wait_for(lambda: self.pid(program) not in (0, old), timeout=60, every=0.2)


def marker_processes(marker: str) -> list[int]:
    """Return the pids whose command line holds `marker` (scanning /proc)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def leftovers(marker: str, settle: float) -> int:
    """Count the marker's processes still alive `settle` seconds from now at the latest."""
    deadline = time.monotonic() + settle
    while marker_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(marker_processes(marker))
