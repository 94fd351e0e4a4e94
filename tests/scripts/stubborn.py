"""A trial that is hard to end, for the tests that its whole process tree dies with it.

--ignore-term: the main process ignores SIGTERM. --detach: leave a grandchild that double
forks, calls setsid() and ignores SIGTERM. --hold-stdout: leave a child that keeps stdout open
and ignores SIGTERM. --run: exit 0 after that many seconds (default: never; with
--first-attempt-only, only attempt 1 runs forever). Every process writes its pid to
pids-<attempt>.txt in the checkpoint dir; --exit-file gets the time the main process exits.
It reports `attempt` and `loss` (1, or --low-loss after --low-after seconds) every 0.2 s, and
`older_alive`: how many processes of earlier attempts were alive when it started.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--detach", action="store_true")
parser.add_argument("--hold-stdout", action="store_true")
parser.add_argument("--run", type=float, default=None)
parser.add_argument("--first-attempt-only", action="store_true")
parser.add_argument("--exit-file", default=None)
parser.add_argument("--low-after", type=float, default=None)
parser.add_argument("--low-loss", type=float, default=0.0)
args, _ = parser.parse_known_args()  # the sweep adds --x and --steps

CHECKPOINTS = Path(os.environ["HBSITE_CHECKPOINT_DIR"])
ATTEMPT = int(os.environ["HBSITE_ATTEMPT"])
SLEEPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


def note_pid(pid: int) -> None:
    with open(CHECKPOINTS / f"pids-{ATTEMPT}.txt", "a") as out:
        out.write(f"{pid}\n")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def older_alive() -> int:
    pids = []
    for n in range(1, ATTEMPT):
        path = CHECKPOINTS / f"pids-{n}.txt"
        pids += [int(p) for p in path.read_text().split()] if path.exists() else []
    return sum(alive(pid) for pid in pids)


def detach() -> None:
    """Leave a daemon: fork, setsid, fork again; the middle process exits at once."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            note_pid(os.getpid())
            os.execv(sys.executable, [sys.executable, "-c", SLEEPER])
        os._exit(0)
    os.wait()


def report(**values: float) -> None:
    print(json.dumps({"hbsite.metrics": values, "step": 1}), flush=True)


note_pid(os.getpid())
older = older_alive()
if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if args.detach:
    detach()
if args.hold_stdout:
    note_pid(subprocess.Popen([sys.executable, "-c", SLEEPER]).pid)
forever = args.run is None or (args.first_attempt_only and ATTEMPT == 1)
started = time.monotonic()
while forever or time.monotonic() - started < args.run:
    low = args.low_after is not None and time.monotonic() - started > args.low_after
    report(attempt=ATTEMPT, loss=args.low_loss if low else 1.0, older_alive=older)
    time.sleep(0.2)
if args.exit_file:
    Path(args.exit_file).write_text(repr(time.time()))
