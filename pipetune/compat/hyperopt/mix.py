"""Hyperopt's ``hyperopt.mix.suggest``. A mixture of algorithms (``p_suggest=[(p, algo), ...]``):
served by ``MixtureSampler``.

See ``pipetune.compat.hyperopt._algorithms`` for how ``fmin`` maps it and its options.
"""

from __future__ import annotations

from pipetune.compat.hyperopt._algorithms import Suggest

suggest = Suggest("mix")

__all__ = ["suggest"]
