"""The supervisor of one trial attempt: hold the command's whole process tree, kill it as a unit.

A supervisor is forked by the runner's spawner (scheduler.spawner), never started by the
runner itself. It:

- makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so that every descendant,
  even one that double-forks and calls setsid(), is re-parented to it and stays in view;
- watches a lifeline pipe from the runner: end of file means the runner is gone;
- runs a lease: the runner feeds the lifeline after each heartbeat the database accepted. If no
  feed comes for `lease` seconds (a frozen or cut-off runner), the tree is killed before
  reconcile can hand the trial to another runner (see scheduler.process_tree.lease_for);
- reports the command's exit status on a status pipe the moment the command ends, then kills
  whatever descendants are left: SIGTERM, then SIGKILL once the grace period is over, again
  and again until none is left. It exits only when its whole tree is gone, which closes the
  `alive` pipe the runner waits on.

While the command runs and after it ends, whether any descendant is left is known from the
kernel alone (a subreaper with no child has no descendant); psutil lists the descendants
only when they are to be signalled. This module imports no Django.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

PR_SET_CHILD_SUBREAPER = 36
TICK_SECONDS = 0.05
FEED, STOP = b"f", b"k"
LEASE = "lease"  # the status reason when the lease ran out


@dataclass(frozen=True)
class Options:
    """One attempt's supervision: its pipes' descriptors (in the supervisor), the grace on
    termination, the lease and the grace once the lease runs out (seconds)."""

    status_fd: int
    lifeline_fd: int
    alive_fd: int
    grace: float
    lease: float
    lease_grace: float


class Tree:
    """The supervisor's view of its descendants and of how it is told to end them."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.last_feed = time.monotonic()
        self.stop_at: float | None = None  # when the first SIGTERM went out
        self.grace = options.grace
        self.reason = ""
        self.termed: set[psutil.Process] = set()
        self.lifeline_open = True
        self.main: int | None = None  # the command's pid
        self.main_status: int | None = None
        # SIGCHLD wakes `listen` through this pipe: a child's end is seen at once, not a tick
        # later (https://docs.python.org/3/library/signal.html#signal.set_wakeup_fd).
        self.wake, wake_w = os.pipe()
        for fd in (self.wake, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def request_stop(self, reason: str = "", grace: float | None = None) -> None:
        if self.stop_at is None:
            self.stop_at, self.reason = time.monotonic(), reason
            self.grace = self.options.grace if grace is None else grace

    def listen(self, timeout: float) -> None:
        """Read the lifeline for up to `timeout` seconds: feeds, stop, or the runner's end;
        return early when a child ends."""
        life = self.options.lifeline_fd
        fds = [self.wake, life] if self.lifeline_open else [self.wake]
        ready = select.select(fds, [], [], timeout)[0]
        if self.wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake, 4096)
        if life not in ready:
            return
        data = os.read(life, 4096)
        if not data:
            self.lifeline_open = False
            self.request_stop()
        if FEED in data:
            self.last_feed = time.monotonic()
        if STOP in data:
            self.request_stop()

    def check_lease(self) -> None:
        if time.monotonic() - self.last_feed > self.options.lease:
            self.request_stop(LEASE, self.options.lease_grace)

    def descendants(self) -> list[psutil.Process]:
        # Imported only when a tree is to be signalled: the spawner, forked for every trial,
        # imports nothing that imports `threading` (see scheduler.spawner).
        import psutil

        alive = []
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def reap(self) -> bool:
        """Collect every ended child (orphans come to a subreaper), noting the command's end;
        return whether any descendant is left (one is while any child is)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.main:
                self.main_status = os.waitstatus_to_exitcode(status)

    def signal_all(self, procs: list[psutil.Process]) -> None:
        """SIGTERM what has not had one yet; SIGKILL everything once the grace is over."""
        import psutil

        assert self.stop_at is not None
        overdue = time.monotonic() >= self.stop_at + self.grace
        if self.main is not None and self.main_status is None:
            with contextlib.suppress(OSError):
                os.killpg(self.main, signal.SIGKILL if overdue else signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if overdue:
                    proc.kill()
                elif proc not in self.termed:
                    proc.terminate()
                    self.termed.add(proc)


def report(fd: int, status: int | None, reason: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, f"exit {status} {reason}".strip().encode() + b"\n")
        os.close(fd)


def runner_gone(lifeline_fd: int) -> bool:
    """Tell whether the lifeline is already at end of file (the runner died meanwhile)."""
    if not select.select([lifeline_fd], [], [], 0)[0]:
        return False
    data = os.read(lifeline_fd, 4096)
    return not data


# The signals Python ignores, which a command gets back at their default (as subprocess's
# `restore_signals` gives them back).
RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def start(argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """Start the command (`argv[0]` is the executable's path) in `cwd`, in a process group of
    its own, its stdin /dev/null, its stdout and stderr the supervisor's; return its pid.
    Raises OSError when it cannot start.

    posix_spawn (vfork and exec in the C library), not subprocess.Popen: the supervisor is a
    fork of the spawner, and each page of the spawner's memory that Popen's Python code
    touches is copied for it. The supervisor's own descriptors are all close-on-exec.
    """
    os.chdir(cwd)  # this process exists for this command only
    return os.posix_spawn(
        argv[0], argv, env,
        file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
        setpgroup=0, setsigdef=RESTORED_SIGNALS,
    )  # fmt: skip


def supervise(options: Options, argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """Run `argv` in `cwd` with `env` and hold its tree until all of it is gone; return 0.

    Standard output and error are the supervisor's own (the runner's pipes); the supervisor
    lets go of them once the command has started.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    tree = Tree(options)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: tree.request_stop())
    for fd in (options.status_fd, options.lifeline_fd, options.alive_fd):
        os.set_inheritable(fd, False)  # the command holds none of the supervisor's pipes
    if runner_gone(options.lifeline_fd):
        report(options.status_fd, None, "runner gone")
        return 0
    try:
        tree.main = start(argv, cwd, env)
    except OSError as exc:  # the trial's stderr tail says why; 127 as a shell would
        os.write(2, f"hbsite: could not start {argv[0]}: {exc}\n".encode())
        report(options.status_fd, 127, "")
        return 0
    # Let go of the output pipes: once the command and its tree are gone, the runner's
    # readers see end of file.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    reported = False
    while True:
        left = tree.reap()
        if tree.main_status is not None and not reported:
            report(options.status_fd, tree.main_status, tree.reason)
            reported = True
        if reported and not left:
            return 0
        if reported:
            tree.request_stop()  # the command ended: its leftovers go too
        tree.check_lease()
        if tree.stop_at is not None:
            tree.signal_all(tree.descendants() if left else [])
        tree.listen(TICK_SECONDS)
