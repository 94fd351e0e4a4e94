"""The runner's spawner forks each trial's supervisor; trials outlive a spawner that dies.

These run the real spawner and supervisors (no database): the command's output and exit
status reach the runner, the command holds none of the supervisor's pipes, a killed spawner
is replaced for the next trial while the trial it started runs on, and a stopped tree dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from scheduler.process_tree import Supervised, import_path, spawner
from scheduler.spawner import BOOT
from tests.conftest import wait_for


def start(command: str, grace: float = 2.0) -> Supervised:
    return Supervised(["/bin/sh", "-c", command], "/tmp", dict(os.environ), grace, 60.0)


def finish(tree: Supervised) -> None:
    while not tree.wait(0.2):
        pass
    tree.close(10)


def test_the_spawner_process_imports_nothing_that_imports_threading():
    # It forks for every trial: a process that imported `threading` runs its after-fork
    # handler in each child (~0.4 ms of CPU and ~130 copied pages per trial here).
    modules = "print(sorted(set(sys.modules) & {'threading', 'psutil', 'subprocess', 'django'}))"
    boot = BOOT.replace("serve(int(sys.argv[1]))", modules)
    argv = [sys.executable, "-I", "-S", "-c", boot, import_path(), "0"]
    found = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "scheduler.spawner import serve" in BOOT and found.stdout.strip() == "[]"


def test_output_and_exit_status_reach_the_runner():
    tree = start("echo out; echo err >&2; exit 3")
    finish(tree)
    assert (tree.returncode, tree.stdout.read(), tree.stderr.read()) == (3, "out\n", "err\n")


def test_the_command_holds_only_its_standard_streams():
    tree = start("ls /proc/$$/fd")
    finish(tree)
    assert tree.stdout.read().split() == ["0", "1", "2"]


def test_the_command_starts_in_its_dir_own_group_and_default_signals(tmp_path):
    # Python ignores SIGPIPE and SIGXFSZ; a trial's command gets them back at their default
    # (as subprocess's restore_signals gives them), in a process group of its own.
    command = "pwd; cut -d' ' -f5 /proc/$$/stat; echo $$; grep SigIgn /proc/self/status"
    tree = Supervised(["/bin/sh", "-c", command], str(tmp_path), dict(os.environ), 2.0, 60.0)
    finish(tree)
    where, group, pid, ignored = tree.stdout.read().splitlines()
    assert where == str(tmp_path) and group.strip() == pid
    mask = int(ignored.split()[1], 16)
    for restored in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not mask & (1 << (restored - 1)), ignored


def test_a_command_that_cannot_start_says_why_and_exits_127(tmp_path):
    tree = Supervised(["/bin/sh", "-c", "true"], str(tmp_path / "gone"), {}, 2.0, 60.0)
    finish(tree)
    assert tree.returncode == 127
    assert "could not start /bin/sh" in tree.stderr.read()


def test_a_trial_outlives_a_killed_spawner_and_the_next_one_starts_anew(tmp_path):
    go = tmp_path / "go"
    first = start(f"while [ ! -e {go} ]; do sleep 0.05; done; echo done")
    old = spawner().proc
    assert old is not None
    os.kill(old.pid, signal.SIGKILL)
    wait_for(lambda: old.poll() is not None, timeout=10)
    second = start("echo again")
    finish(second)
    assert second.stdout.read() == "again\n" and spawner().proc is not old
    assert not first.wait(0.3)  # still running, under the dead spawner's supervisor
    go.touch()
    finish(first)
    assert (first.returncode, first.stdout.read()) == (0, "done\n")


def test_a_stopped_tree_dies_with_its_leftovers(tmp_path):
    pids = tmp_path / "pids"
    # Both the shell and its background child ignore SIGTERM: only SIGKILL ends them.
    tree = start(f"trap '' TERM; sleep 60 & echo $! > {pids}; while :; do sleep 0.1; done", 0.5)
    wait_for(lambda: pids.exists() and pids.read_text().strip(), timeout=10)
    child = int(pids.read_text())
    started = time.monotonic()
    tree.stop()
    finish(tree)
    assert tree.returncode == -signal.SIGKILL  # it ignored SIGTERM, so the grace ran out
    assert time.monotonic() - started >= 0.5
    assert not alive(child)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
