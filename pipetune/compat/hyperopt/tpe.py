"""Hyperopt's ``hyperopt.tpe.suggest``. Tree-structured Parzen estimators: served by pipetune's
``TPESampler``.

See ``pipetune.compat.hyperopt._algorithms`` for how ``fmin`` maps it and its options.
"""

from __future__ import annotations

from pipetune.compat.hyperopt._algorithms import Suggest

suggest = Suggest("tpe")

__all__ = ["suggest"]
