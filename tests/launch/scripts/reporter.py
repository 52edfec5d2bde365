"""A stand-in training script that reports through ``pipetune.report`` instead of printing."""

import sys
import time

from pipetune import report

epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 3
sleep = float(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 0.0
x = float(sys.argv[sys.argv.index("--x") + 1])
for epoch in range(epochs):
    time.sleep(sleep)
    report(step=epoch, loss=x * (epochs - epoch))
report(loss=x / 10)
print("reported")
