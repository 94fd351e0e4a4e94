"""The whole system under supervisord: a process that dies is restarted, the others keep
running, and every directory a process needs is made by that process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import free_port, start_process, stop_process, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def status(env: dict[str, str]) -> dict[str, tuple[str, int | None]]:
    """Return {program: (state, pid)} as supervisorctl reports it."""
    conf = os.path.join(env["HBSITE_DATA_DIR"], "supervisor", "supervisord.conf")
    ctl = os.path.join(os.path.dirname(sys.executable), "supervisorctl")
    out = subprocess.run([ctl, "-c", conf, "status"], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else None
            found[parts[0]] = (parts[1], pid)
    return found


def all_running(env: dict[str, str]) -> dict[str, tuple[str, int | None]] | None:
    found = status(env)
    names = {"web", "scheduler", "runner", "notifier", "beat"}
    ok = names <= set(found) and all(found[n][0] == "RUNNING" for n in names)
    return found if ok else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_it_restarts_a_dead_process_and_stops_them_all_on_exit(process_env, tmp_path):
    port = free_port()
    env = {**process_env, "HBSITE_DATA_DIR": str(tmp_path / "fresh"), "HBSITE_PORT": str(port),
           "HBSITE_RUNNERS": "1"}  # fmt: skip
    proc = start_process([sys.executable, "-m", "hbsite.supervise"], env, "supervise.log")
    try:
        wait_for(lambda: all_running(env), timeout=90, every=0.5)
        # Beat made its schedule's folder inside a data dir that did not exist.
        wait_for(lambda: list((tmp_path / "fresh" / "beat").glob("celerybeat-schedule*")))
        for victim in ("beat", "runner"):
            before = status(env)
            os.kill(before[victim][1], signal.SIGKILL)
            after = wait_for(
                lambda v=victim, b=before: (s := all_running(env)) and s[v][1] != b[v][1] and s,
                timeout=60,
                every=0.5,
            )
            others = {n for n in after if n != victim}
            assert {n: after[n][1] for n in others} == {n: before[n][1] for n in others}
        pids = [pid for _, pid in all_running(env).values() if pid]
        assert len(pids) == 5  # web, scheduler, runner, notifier, beat
    finally:
        stop_process(proc)
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30, every=0.2)
