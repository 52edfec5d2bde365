"""Pruners stop unpromising trials early from their intermediate values."""

from pipetune.pruners.base import BasePruner, NopPruner

__all__ = ["BasePruner", "NopPruner"]
