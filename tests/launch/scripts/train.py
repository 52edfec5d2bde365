"""A stand-in training script for the launcher tests (standard library only, starts fast).

Prints ``epoch=<e> loss=<value>`` per epoch and ``final_loss=<value>`` at the end; flags make
it fail, hang, spawn a child, ignore SIGTERM or record what it was given.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=1.0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0, help="seconds per epoch")
parser.add_argument("--values", help="comma-separated values printed as loss=<v> lines")
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--fail-once", metavar="MARKER", help="exit 3 once, creating MARKER")
parser.add_argument("--spawn-child", metavar="PIDFILE", help="start `sleep 60` and write its pid")
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--dump", metavar="FILE", help="write argv, env and times as JSON lines")
parser.add_argument("--quiet", action="store_true", help="print no metric at all")
args, unknown = parser.parse_known_args()

if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child too
if args.dump:
    with open(args.dump, "a") as out:
        shown = ("CUDA_VISIBLE_DEVICES", "PYTHONUNBUFFERED", "EXTRA")
        env = {k: v for k, v in os.environ.items() if k.startswith("PIPETUNE_") or k in shown}
        out.write(json.dumps({"argv": sys.argv[1:], "env": env, "start": time.time()}) + "\n")
if args.fail_once and not os.path.exists(args.fail_once):
    open(args.fail_once, "w").close()
    print("first attempt: failing on purpose", file=sys.stderr)
    sys.exit(3)
if args.spawn_child:
    child = subprocess.Popen(["sleep", "60"])
    with open(args.spawn_child + ".tmp", "w") as out:
        out.write(str(child.pid))
    os.replace(args.spawn_child + ".tmp", args.spawn_child)
print("starting", flush=True)
print("a line on stderr", file=sys.stderr, flush=True)
if args.values:
    for value in args.values.split(","):
        print(f"loss={value}")
loss = args.x
for epoch in range(args.epochs):
    time.sleep(args.sleep)
    loss = args.x * (args.epochs - epoch)
    if not args.quiet:
        print(f"epoch={epoch} loss={loss}")
if args.dump:
    with open(args.dump, "a") as out:
        out.write(json.dumps({"end": time.time(),
                              "trial": os.environ.get("PIPETUNE_TRIAL_NUMBER")}) + "\n")
if not args.quiet:
    print(f"final_loss={loss}")
sys.exit(args.exit)
