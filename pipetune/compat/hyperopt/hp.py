"""Hyperopt's ``hp``: the functions that build the labelled nodes of a search space.

``hp.choice`` / ``hp.pchoice`` choose among sub-spaces; the others are numeric hyperparameters
(see ``pipetune.compat.hyperopt._space`` for how each becomes a pipetune domain).
"""

from __future__ import annotations

from pipetune.compat.hyperopt._space import (
    choice,
    lognormal,
    loguniform,
    normal,
    pchoice,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
    uniformint,
)

__all__ = ["choice", "lognormal", "loguniform", "normal", "pchoice", "qlognormal", "qloguniform",
           "qnormal", "quniform", "randint", "uniform", "uniformint"]
