"""Hold a trial's whole process tree and kill it as a unit, whatever ends the trial.

A runner never starts a trial's command itself. It starts this module as a small supervisor
process (`python -I -S -c BOOT ... -- /bin/sh -c CMD`) which:

- makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so that every descendant,
  even one that double-forks and calls setsid(), is re-parented to it and stays in view;
- asks for SIGTERM when the runner thread that started it dies (PR_SET_PDEATHSIG) and watches
  a lifeline pipe from the runner: end of file means the runner is gone;
- runs a lease: the runner feeds the lifeline after each heartbeat the database accepted. If no
  feed comes for `lease` seconds (a frozen or cut-off runner), the tree is killed before
  reconcile can hand the trial to another runner (see `lease_for`);
- reports the command's exit status on a status pipe the moment the command ends, then kills
  whatever descendants are left: SIGTERM, then SIGKILL once the grace period is over, again
  and again until none is left. It exits only when its whole tree is gone.

The runner side is `Supervised`. This module imports no Django; the supervisor needs only
the standard library and psutil.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
TICK_SECONDS = 0.05
FEED, STOP = b"f", b"k"
LEASE = "lease"  # the status reason when the lease ran out
# The supervisor starts without the site module (-S): reading site-packages' .pth files (an
# editable install's finder imports pathlib, re, ...) would double its start-up time. It
# needs only the standard library, this package and psutil, whose folders it is given.
# psutil is imported once the command has started (it takes a third of the start-up).
BOOT = (
    "import os, sys; sys.path[:0] = sys.argv.pop(1).split(os.pathsep); "
    "from scheduler.process_tree import main; sys.exit(main())"
)


def lease_for(lost_after: float, grace: float) -> tuple[float, float]:
    """Return (lease, grace on lease expiry) in seconds for a lost-after limit in seconds.

    Reconcile requeues a trial once its last heartbeat is `lost_after` old. The supervisor
    is fed just after that heartbeat commits, so its tree is dead by lease + lease grace =
    0.8 * lost_after (plus a tick) after it, before any new attempt can be claimed.
    """
    return 0.6 * lost_after, min(grace, 0.2 * lost_after)


# --- the runner's side ---------------------------------------------------------------------


def import_path() -> str:
    """Return the folders the supervisor imports from: this package's and psutil's."""
    import psutil

    paths = (__file__, psutil.__file__)
    return os.pathsep.join(os.path.dirname(os.path.dirname(os.path.abspath(p))) for p in paths)


class Supervised:
    """A trial command started under a supervisor; stdout and stderr are text pipes.

    `wait(timeout)` tells when the command itself has ended; `returncode` is then its
    exit status (negative: killed by that signal; None: the supervisor vanished without
    saying). `reason` is `LEASE` when the supervisor killed the tree for want of feeds.
    """

    def __init__(
        self, argv: Sequence[str], cwd: str, env: dict[str, str], grace: float, lost_after: float
    ) -> None:
        status_r, status_w = os.pipe()
        life_r, self._life = os.pipe()
        lease_seconds, lease_grace = lease_for(lost_after, grace)
        options = [
            f"--status-fd={status_w}", f"--lifeline-fd={life_r}", f"--parent={os.getpid()}",
            f"--grace={grace}", f"--lease={lease_seconds}", f"--lease-grace={lease_grace}",
        ]  # fmt: skip
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BOOT, import_path(), *options, "--", *argv],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                bufsize=1,
                start_new_session=True,
                pass_fds=(status_w, life_r),
            )
        except BaseException:
            for fd in (status_r, self._life):
                os.close(fd)
            raise
        finally:
            os.close(status_w)
            os.close(life_r)
        os.set_blocking(self._life, False)
        # Guards the lifeline against a heartbeat thread writing to it while (or after) the
        # runner closes it: a closed descriptor's number is soon another trial's lifeline.
        self._life_lock = threading.Lock()
        self._status, self._buffer = status_r, b""
        self.ended = False
        self.returncode: int | None = None
        self.reason = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the command to end; True once it has."""
        if not self.ended and select.select([self._status], [], [], timeout)[0]:
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
        if not self._send(STOP) and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def _send(self, byte: bytes) -> bool:
        with self._life_lock:
            if self._life < 0:  # closed: the tree is gone
                return False
            try:
                return os.write(self._life, byte) == 1
            except OSError:  # full (a stuck supervisor) or closed (a gone one)
                return False

    def close(self, timeout: float) -> None:
        """Wait for the supervisor to see its tree gone; kill it and its session if it hangs."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(self.proc.pid)
            self.proc.wait()
        with self._life_lock:
            for fd in (self._status, self._life):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._status = self._life = -1


def kill_session(sid: int) -> None:
    """SIGKILL every process of a session (the last resort when a supervisor hangs)."""
    import psutil

    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) == sid:
                proc.kill()


# --- the supervisor process ----------------------------------------------------------------


class Tree:
    """The supervisor's view of its descendants and of how it is told to end them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.me: psutil.Process | None = None  # once the command has started
        self.last_feed = time.monotonic()
        self.stop_at: float | None = None  # when the first SIGTERM went out
        self.grace = args.grace
        self.reason = ""
        self.termed: set[psutil.Process] = set()
        self.lifeline_open = True
        self.main: subprocess.Popen[bytes] | None = None
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
            self.grace = self.args.grace if grace is None else grace

    def listen(self, timeout: float) -> None:
        """Read the lifeline for up to `timeout` seconds: feeds, stop, or the runner's end;
        return early when a child ends."""
        fds = [self.wake, self.args.lifeline_fd] if self.lifeline_open else [self.wake]
        ready = select.select(fds, [], [], timeout)[0]
        if self.wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wake, 4096)
        if self.args.lifeline_fd not in ready:
            return
        data = os.read(self.args.lifeline_fd, 4096)
        if not data:
            self.lifeline_open = False
            self.request_stop()
        if FEED in data:
            self.last_feed = time.monotonic()
        if STOP in data:
            self.request_stop()

    def check_lease(self) -> None:
        if time.monotonic() - self.last_feed > self.args.lease:
            self.request_stop(LEASE, self.args.lease_grace)

    def descendants(self) -> list[psutil.Process]:
        import psutil

        if self.me is None:
            self.me = psutil.Process()
        alive = []
        for proc in self.me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def reap(self) -> None:
        """Collect every ended child (orphans come to a subreaper); note the command's end."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.main is not None and pid == self.main.pid:
                self.main_status = os.waitstatus_to_exitcode(status)
                self.main.returncode = self.main_status

    def signal_all(self, procs: list[psutil.Process]) -> None:
        """SIGTERM what has not had one yet; SIGKILL everything once the grace is over."""
        import psutil

        assert self.stop_at is not None
        overdue = time.monotonic() >= self.stop_at + self.grace
        if self.main is not None and self.main_status is None:
            with contextlib.suppress(OSError):
                os.killpg(self.main.pid, signal.SIGKILL if overdue else signal.SIGTERM)
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


def supervise(args: argparse.Namespace, command: list[str]) -> int:
    """Run `command` and hold its tree until all of it is gone; return 0."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    tree = Tree(args)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: tree.request_stop())
    if os.getppid() != args.parent:  # the runner died before pdeathsig was armed
        report(args.status_fd, None, "runner gone")
        return 0
    tree.main = subprocess.Popen(command, stdin=subprocess.DEVNULL, process_group=0)
    # Let go of the output pipes: once the command and its tree are gone, the runner's
    # readers see end of file.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    reported = False
    while True:
        tree.reap()
        if tree.main_status is not None and not reported:
            report(args.status_fd, tree.main_status, tree.reason)
            reported = True
        procs = tree.descendants()
        if reported and not procs:
            return 0
        if reported:
            tree.request_stop()  # the command ended: its leftovers go too
        tree.check_lease()
        if tree.stop_at is not None:
            tree.signal_all(procs)
        tree.listen(TICK_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a command and hold its process tree.")
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--grace", type=float, required=True)
    parser.add_argument("--lease", type=float, required=True)
    parser.add_argument("--lease-grace", type=float, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    return supervise(args, args.command)


if __name__ == "__main__":
    sys.exit(main())
