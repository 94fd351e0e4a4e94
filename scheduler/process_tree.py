"""Hold a trial's whole process tree and kill it as a unit, whatever ends the trial.

A runner never starts a trial's command itself: its spawner (scheduler.spawner) forks a
supervisor (scheduler.supervisor) that starts the command and holds its whole tree, even a
daemon that double-forks into its own session, and kills what is left of it when the command
ends, when the runner says so or dies, and when the runner's heartbeats stop being accepted
for longer than the lease. This module is the runner's side of it: `Supervised` and the
pipes it speaks through (output, status, lifeline, alive).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence

from .spawner import BOOT, LENGTH
from .supervisor import FEED, STOP


def lease_for(lost_after: float, grace: float) -> tuple[float, float]:
    """Return (lease, grace on lease expiry) in seconds for a lost-after limit in seconds.

    Reconcile requeues a trial once its last heartbeat is `lost_after` old. The supervisor
    is fed just after that heartbeat commits, so its tree is dead by lease + lease grace =
    0.8 * lost_after (plus a tick) after it, before any new attempt can be claimed.
    """
    return 0.6 * lost_after, min(grace, 0.2 * lost_after)


def import_path() -> str:
    """Return the folders the spawner imports from: this package's and psutil's."""
    import psutil

    paths = (__file__, psutil.__file__)
    return os.pathsep.join(os.path.dirname(os.path.dirname(os.path.abspath(p))) for p in paths)


# --- the runner's side ---------------------------------------------------------------------


class Spawner:
    """The runner's handle on its spawner process, started on first use, again if it died.

    `spawn` is safe to call from many threads; requests go one at a time.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None

    def spawn(
        self, argv: Sequence[str], cwd: str, env: dict[str, str], fds: Sequence[int],
        times: dict[str, float],
    ) -> int:  # fmt: skip
        """Fork a supervisor for `argv` holding `fds` (see FDS) with `times` (grace, lease,
        lease_grace, in seconds); return its pid. Raises OSError when no supervisor could
        be started."""
        payload = json.dumps({"argv": list(argv), "cwd": cwd, "env": env, **times}).encode()
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            assert self.sock is not None
            try:
                self._send(LENGTH.pack(len(payload)) + payload, fds)
            except OSError:
                # It died since the last request, having received nothing: start a new one.
                self._start()
                self._send(LENGTH.pack(len(payload)) + payload, fds)
            # Never sent twice from here on: a fork that happened must not happen again.
            answer = self._receive(LENGTH.size)
        pid = LENGTH.unpack(answer)[0]
        if pid == 0:
            raise OSError("the spawner could not fork a supervisor")
        return pid

    def _send(self, message: bytes, fds: Sequence[int]) -> None:
        assert self.sock is not None
        sent = socket.send_fds(self.sock, [message], list(fds))
        self.sock.sendall(message[sent:])

    def _receive(self, size: int) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                self._discard()
                raise OSError("the spawner ended before it answered")
            data += chunk
        return data

    def _start(self) -> None:
        self._discard()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BOOT, import_path(), str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.sock = mine

    def _discard(self) -> None:
        if self.sock is not None:
            self.sock.close()  # a live spawner sees end of file and ends
            self.sock = None
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


_spawner = Spawner()  # its process starts with the first spawn


def spawner() -> Spawner:
    """Return this process's spawner handle."""
    return _spawner


class Supervised:
    """A trial command started under a supervisor; `stdout` and `stderr` are text streams.

    `wait(timeout)` tells when the command itself has ended; `returncode` is then its
    exit status (negative: killed by that signal; None: the supervisor vanished without
    saying). `reason` is `LEASE` when the supervisor killed the tree for want of feeds.
    `pid` is the supervisor's, which leads a session holding the command's tree.
    Raises OSError when the supervisor cannot be started.
    """

    def __init__(
        self, argv: Sequence[str], cwd: str, env: dict[str, str], grace: float, lost_after: float
    ) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        life_r, self._life = os.pipe()
        alive_r, alive_w = os.pipe()
        lease_seconds, lease_grace = lease_for(lost_after, grace)
        times = {"grace": grace, "lease": lease_seconds, "lease_grace": lease_grace}
        try:
            self.pid = spawner().spawn(
                argv, cwd, env, [out_w, err_w, status_w, life_r, alive_w], times
            )
        except BaseException:
            for fd in (out_r, err_r, status_r, self._life, alive_r):
                os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w, status_w, life_r, alive_w):
                os.close(fd)
        self.stdout = open(out_r, encoding="utf-8", errors="replace")  # noqa: SIM115
        self.stderr = open(err_r, encoding="utf-8", errors="replace")  # noqa: SIM115
        os.set_blocking(self._life, False)
        # Guards the lifeline against a heartbeat thread writing to it while (or after) the
        # runner closes it: a closed descriptor's number is soon another trial's lifeline.
        self._life_lock = threading.Lock()
        self._status, self._buffer, self._alive = status_r, b"", alive_r
        self.ended = False
        self.returncode: int | None = None
        self.reason = ""

    def wait(self, timeout: float, wake: int | None = None) -> bool:
        """Wait up to `timeout` seconds for the command to end; True once it has. A readable
        `wake` descriptor (non-blocking; what it holds is read) ends the wait early."""
        if self.ended:
            return True
        watched = [self._status] if wake is None else [self._status, wake]
        ready = select.select(watched, [], [], timeout)[0]
        if wake is not None and wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 512)
        if self._status in ready:
            chunk = os.read(self._status, 512)
            self._buffer += chunk
            if b"\n" in self._buffer or not chunk:
                self._read_status()
        return self.ended

    def _read_status(self) -> None:
        words = self._buffer.split(b"\n", 1)[0].decode(errors="replace").split()
        if len(words) >= 2 and words[0] == "exit" and words[1].lstrip("-").isdigit():
            self.returncode = int(words[1])
            self.reason = " ".join(words[2:])
        self.ended = True

    def feed(self) -> None:
        """Extend the lease (after a heartbeat the database accepted)."""
        self._send(FEED)

    def stop(self) -> None:
        """Have the supervisor kill the whole tree (SIGTERM, SIGKILL after the grace)."""
        if not self._send(STOP) and not self._gone(0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def _send(self, byte: bytes) -> bool:
        with self._life_lock:
            if self._life < 0:  # closed: the tree is gone
                return False
            try:
                return os.write(self._life, byte) == 1
            except OSError:  # full (a stuck supervisor) or closed (a gone one)
                return False

    def _gone(self, timeout: float | None) -> bool:
        """Tell whether the supervisor has exited (its end of the alive pipe closed),
        waiting up to `timeout` seconds (None: for as long as it takes)."""
        if self._alive < 0:
            return True
        if not select.select([self._alive], [], [], timeout)[0]:
            return False
        return not os.read(self._alive, 1)

    def close(self, timeout: float) -> None:
        """Wait for the supervisor to see its tree gone; kill it and its session if it hangs."""
        if not self._gone(timeout):
            kill_session(self.pid)
            self._gone(None)
        with self._life_lock:
            for fd in (self._status, self._life, self._alive):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._status = self._life = self._alive = -1


def kill_session(sid: int) -> None:
    """SIGKILL every process of a session (the last resort when a supervisor hangs)."""
    import psutil

    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) == sid:
                proc.kill()
