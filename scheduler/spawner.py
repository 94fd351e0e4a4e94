"""Start trial supervisors by forking one small, ready process: the runner's spawner.

Starting each supervisor as a new interpreter cost every trial about 70 ms of CPU (the
interpreter, then its imports), more than the rest of a short trial's path together. A
runner process instead keeps one spawner: a single-threaded Python process with the
supervisor's code already imported (the technique of multiprocessing's forkserver). For
each attempt the runner sends its command, working directory, environment and times, with
its pipes' descriptors attached (SCM_RIGHTS); the spawner forks a child that becomes the
attempt's supervisor (scheduler.supervisor) in a session of its own, and answers with the
child's pid. Forking it takes about a millisecond.

The spawner reaps its children and ends when the runner's end of its socket closes (the
runner died or exited). Supervisors do not depend on it: each watches its lifeline to the
runner. A runner whose spawner died starts a new one for its next trial. This module imports
no Django.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence

from .supervisor import Options, supervise

BOOT = (
    "import os, sys; sys.path[:0] = sys.argv.pop(1).split(os.pathsep); "
    "from scheduler.spawner import serve; serve(int(sys.argv[1]))"
)
# The descriptors a request carries, in order: the command's stdout and stderr (write ends),
# the status pipe (write end), the lifeline (read end) and the alive pipe (write end).
FDS = 5
LENGTH = struct.Struct("!I")  # a request's JSON length; an answer's pid (0: fork failed)


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


_spawner: Spawner | None = None
_spawner_lock = threading.Lock()


def spawner() -> Spawner:
    """Return this process's spawner handle, made on first use."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = Spawner()
        return _spawner


# --- the spawner process -------------------------------------------------------------------


def serve(sock_fd: int) -> None:
    """Fork a supervisor for each request on the socket until the runner closes it."""
    sock = socket.socket(fileno=sock_fd)
    wake, wake_w = os.pipe()
    for fd in (wake, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready = select.select([sock, wake], [], [])[0]
        if wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 4096)
            reap()
        if sock not in ready:
            continue
        request = receive(sock)
        if request is None:
            return  # the runner is gone
        payload, fds = request
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            supervise_request(sock, (wake, wake_w), payload, fds)  # never returns
        for fd in fds:
            os.close(fd)
        sock.sendall(LENGTH.pack(max(pid, 0)))


def receive(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    """Read one request: its JSON payload and its descriptors; None at end of file."""
    data, fds, _flags, _address = socket.recv_fds(sock, 65536, FDS)
    if not data:
        return None
    size = LENGTH.size + LENGTH.unpack(data[: LENGTH.size])[0]
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data[LENGTH.size :], fds


def reap() -> None:
    """Collect every supervisor that has ended."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def supervise_request(
    sock: socket.socket, wake: tuple[int, int], payload: bytes, fds: list[int]
) -> None:
    """In the forked child: let go of the spawner's own descriptors and signal handling,
    become the attempt's supervisor in a session of its own, and exit with its status."""
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wake:
            os.close(fd)
        os.setsid()
        stdout_w, stderr_w, status_w, life_r, alive_w = fds
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        os.close(stdout_w)
        os.close(stderr_w)
        request = json.loads(payload)
        options = Options(
            status_fd=status_w, lifeline_fd=life_r, alive_fd=alive_w, grace=request["grace"],
            lease=request["lease"], lease_grace=request["lease_grace"],
        )  # fmt: skip
        code = supervise(options, request["argv"], request["cwd"], request["env"])
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
