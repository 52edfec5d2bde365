"""Hyperopt's ``hyperopt.rand.suggest``. Random search from the space's priors: served by
``PriorSampler`` (a ``RandomSampler``).

See ``pipetune.compat.hyperopt._algorithms`` for how ``fmin`` maps it and its options.
"""

from __future__ import annotations

from pipetune.compat.hyperopt._algorithms import Suggest

suggest = Suggest("rand")

__all__ = ["suggest"]
