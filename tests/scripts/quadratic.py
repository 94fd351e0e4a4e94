"""A fast stand-in for training: loss = (x - 0.3)^2 + 1/steps, reported at every few steps.

It records how far it got in its checkpoint dir, so a resumed trial can say where it started.
--metric renames the loss; --diverge-above reports NaN (bare, as json.dumps writes it) for
x above a bound; --bad-line first prints a metric line whose value is not a number.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail-above", type=float, default=None)
parser.add_argument("--diverge-above", type=float, default=None)
parser.add_argument("--metric", default="loss")
parser.add_argument("--bad-line", action="store_true")
args = parser.parse_args()

ckpt = Path(os.environ["HBSITE_CHECKPOINT_DIR"]) / "progress.json"
start = json.loads(ckpt.read_text())["steps"] if ckpt.exists() else 0
if args.fail_above is not None and args.x > args.fail_above:
    print("diverged", file=sys.stderr)
    sys.exit(3)
time.sleep(args.sleep)
loss = (args.x - 0.3) ** 2 + 1 / args.steps
if args.diverge_above is not None and args.x > args.diverge_above:
    loss = float("nan")
if args.bad_line:
    print(json.dumps({"hbsite.metrics": {args.metric: "low"}, "step": 0}), flush=True)
line = {"hbsite.metrics": {args.metric: loss, "resumed_from": start}, "step": args.steps}
print(json.dumps(line), flush=True)
ckpt.write_text(json.dumps({"steps": args.steps}))
