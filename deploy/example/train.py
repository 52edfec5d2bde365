"""The training code a worker image carries: ``pipetune worker --objective train:objective``
imports ``objective`` from this file (the worker's working folder, /app in the image).

Replace this folder with your own (``docker build --target worker --build-arg
TRAINING_CODE=path/to/your/code``); its ``requirements.txt`` is installed into the image.
This stand-in trains nothing: it scores a quadratic so that a deployment can be tried in
seconds.
"""

from __future__ import annotations

import time


def objective(trial):
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 4)
    loss = 1.0
    for epoch in range(5):
        time.sleep(0.05)  # one "epoch" of work
        loss = abs(lr - 0.01) * 10 + 0.1 * layers + 1.0 / (epoch + 1)
        trial.report(loss, step=epoch)
    return loss
