"""Run the whole system under supervisord: web, scheduler, runner, notifier and beat.

supervisord restarts any process that dies and leaves the others running. It stops each
program's whole process group, and its own exit (Ctrl-C, SIGTERM) stops them all.

    hbsite run                            # migrate, the demo sweep, then this
    python -m hbsite.supervise            # only this
    python -m hbsite.supervise --print    # print the generated configuration and exit

The configuration is generated into the data directory's `supervisor/` folder (created
here, with supervisord's log), from the environment: HBSITE_HOST, HBSITE_PORT,
HBSITE_RUNNERS. The programs run in HBSITE_WORKDIR_BASE.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

CELERY = [sys.executable, "-m", "celery", "-A", "hbsite"]
MAX_SOCKET_PATH = 100
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WORKER_FLAGS = ["--pool", "threads", "--without-gossip", "--without-mingle", "-l", "INFO"]


def programs(env: dict[str, str]) -> dict[str, list[str]]:
    """Return each program's argv: the processes of the README's Processes table."""
    host, port = env.get("HBSITE_HOST", "127.0.0.1"), env.get("HBSITE_PORT", "8000")
    uvicorn = [sys.executable, "-m", "uvicorn", "hbsite.asgi:application"]
    return {
        "web": [*uvicorn, "--host", host, "--port", port],
        "scheduler": worker_argv("scheduler", "2", "scheduler@%h"),
        "runner": runner_argv(env.get("HBSITE_RUNNERS", "4"), "runner@%h"),
        "notifier": worker_argv("webhooks", "4", "notifier@%h"),
        "beat": [*CELERY, "beat", "-l", "INFO"],
    }  # fmt: skip


def socket_path(state_dir: Path) -> Path:
    """Return supervisord's control socket: in `state_dir`, or in the temporary directory
    under a name derived from `state_dir` when that path is too long for a Unix socket
    (108 bytes on Linux, 104 on macOS)."""
    path = state_dir / "supervisor.sock"
    if len(os.fsencode(path)) < MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"hbsite-supervisor-{digest}.sock"


def worker_argv(queues: str, concurrency: str, name: str) -> list[str]:
    """Return a Celery worker's argv: on `queues` (comma-separated), `concurrency` threads,
    named `name` (Celery expands `%h` to the host name)."""
    return [*CELERY, "worker", "-Q", queues, "-c", concurrency, "-n", name, *WORKER_FLAGS]


def runner_argv(concurrency: str, name: str) -> list[str]:
    """Return a runner's argv: a Celery worker on the `trials` queue."""
    return worker_argv("trials", concurrency, name)


def config(state_dir: Path, env: dict[str, str], workdir: Path) -> str:
    """Return supervisord's configuration; its socket, pid and log live in `state_dir`,
    the programs run in `workdir`."""
    sections = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={state_dir / 'supervisord.log'}",
        f"pidfile={state_dir / 'supervisord.pid'}",
        f"childlogdir={state_dir}",
        "",
        "[unix_http_server]",
        f"file={socket_path(state_dir)}",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{socket_path(state_dir)}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
    ]
    for name, argv in programs(env).items():
        sections += [
            "",
            f"[program:{name}]",
            # supervisord expands %(name)s in values, so a literal % is written %%.
            f"command={shlex.join(argv).replace('%', '%%')}",
            f"directory={workdir}",
            "autorestart=true",
            "startsecs=1",
            "startretries=1000",
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=20",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
        ]
    return "\n".join(sections) + "\n"


def folders() -> tuple[Path, Path]:
    """Return (and create) the folder for supervisord's files, inside the data directory,
    and the programs' working directory."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")
    from django.conf import settings

    path = Path(settings.HBSITE_DATA_DIR) / "supervisor"
    path.mkdir(parents=True, exist_ok=True)
    workdir = Path(settings.HBSITE_WORKDIR_BASE)
    workdir.mkdir(parents=True, exist_ok=True)
    return path, workdir


def main(argv: list[str], replace: bool = True) -> int:
    """Write the configuration and run supervisord: in place of this process (`replace`), or
    as its child until it ends, passing on SIGINT, SIGTERM and SIGHUP; return its exit code."""
    folder, workdir = folders()
    text = config(folder, dict(os.environ), workdir)
    if "--print" in argv:
        sys.stdout.write(text)
        return 0
    path = folder / "supervisord.conf"
    path.write_text(text, encoding="utf-8")
    supervisord = str(Path(sys.executable).parent / "supervisord")
    if replace:
        exec_replacing(supervisord, [supervisord, "-c", str(path)])
    return run_child([supervisord, "-c", str(path)])


def run_child(argv: list[str]) -> int:
    """Run `argv` until it exits, passing this process's SIGINT, SIGTERM and SIGHUP on to it
    (a Ctrl-C reaches both already; this one then just waits). Return its exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    proc = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exec_replacing(program: str, argv: list[str]) -> None:
    """Replace this process with `program`, writing out what is still buffered first (exec
    would drop it: e.g. the demo's sign-in hint when stdout is a file or a pipe)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(program, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
