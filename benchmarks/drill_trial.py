"""The fault drills' trial: prints and posts numbered metric points and leaves a daemon behind.

    python benchmarks/drill_trial.py --marker=M --x=0.4 --steps=3 --points=4 --sleep=0.4

Each of `--points` steps prints `tick` (stdout, stored by the runner) and posts `posted`
(HTTP, hbclient.ApiReporter); both values are attempt * 1000 + step, so the drills can tell
which attempt a stored point came from. Every acknowledged post is appended to the file
HBSITE_DRILL_ACKS as "trial attempt step", and every start to HBSITE_DRILL_STARTS as
"trial attempt pid". A daemon (`sh -c 'sleep 300' MARKER`, in a session of its own) must be
killed with the trial's tree; the drills look for the marker in /proc afterwards. The last
step reports loss = (x - 0.3)^2 + 1/steps, which promotion ranks by.
"""

import argparse
import os
import subprocess
import time

import hbclient

parser = argparse.ArgumentParser()
parser.add_argument("--marker", required=True)
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--points", type=int, default=4)
parser.add_argument("--sleep", type=float, default=0.4)
args = parser.parse_args()

trial, attempt = os.environ["HBSITE_TRIAL_ID"], int(os.environ["HBSITE_ATTEMPT"])


def append(variable: str, line: str) -> None:
    with open(os.environ[variable], "a", encoding="utf-8") as log:
        log.write(line + "\n")


append("HBSITE_DRILL_STARTS", f"{trial} {attempt} {os.getpid()}")
subprocess.Popen(
    ["/bin/sh", "-c", "sleep 300; :", args.marker],
    start_new_session=True,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
api = hbclient.ApiReporter(every=0)
for step in range(1, args.points + 1):
    time.sleep(args.sleep)
    value = attempt * 1000 + step
    hbclient.report(step=step, tick=value)
    api.report(step=step, posted=value)  # every=0: posted (with retries) before it returns
    append("HBSITE_DRILL_ACKS", f"{trial} {attempt} {step}")
hbclient.report(step=args.steps, loss=(args.x - 0.3) ** 2 + 1 / args.steps)
