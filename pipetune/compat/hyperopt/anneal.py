"""Hyperopt's ``hyperopt.anneal.suggest``. Hyperopt's annealing: served by pipetune's
``CmaEsSampler`` (``TPESampler`` for choices).

See ``pipetune.compat.hyperopt._algorithms`` for how ``fmin`` maps it and its options.
"""

from __future__ import annotations

from pipetune.compat.hyperopt._algorithms import Suggest

suggest = Suggest("anneal")

__all__ = ["suggest"]
