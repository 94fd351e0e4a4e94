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
runner. A runner whose spawner died starts a new one for its next trial; the runner's handle
on it is scheduler.process_tree.Spawner.

This module is the spawner process's code: it imports no Django, and no `threading` (nor
psutil or subprocess, which import it): every fork of a process that imported `threading`
runs its after-fork handler, which cost each trial's supervisor ~0.4 ms of CPU and ~130
copied pages here.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import traceback

from .supervisor import Options, supervise

BOOT = (
    "import os, sys; sys.path[:0] = sys.argv.pop(1).split(os.pathsep); "
    "from scheduler.spawner import serve; serve(int(sys.argv[1]))"
)
# The descriptors a request carries, in order: the command's stdout and stderr (write ends),
# the status pipe (write end), the lifeline (read end) and the alive pipe (write end).
FDS = 5
LENGTH = struct.Struct("!I")  # a request's JSON length; an answer's pid (0: fork failed)


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
