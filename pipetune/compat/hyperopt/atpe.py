"""Hyperopt's ``hyperopt.atpe.suggest``. Adaptive TPE: served by pipetune's ``TPESampler``
(multivariate).

See ``pipetune.compat.hyperopt._algorithms`` for how ``fmin`` maps it and its options.
"""

from __future__ import annotations

from pipetune.compat.hyperopt._algorithms import Suggest

suggest = Suggest("atpe")

__all__ = ["suggest"]
