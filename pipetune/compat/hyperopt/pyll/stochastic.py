"""Hyperopt's ``hyperopt.pyll.stochastic.sample``: one value of a space from its priors."""

from __future__ import annotations

from pipetune.compat.hyperopt._space import sample

__all__ = ["sample"]
