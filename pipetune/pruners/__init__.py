"""Pruners stop unpromising trials early from their intermediate values."""

from pipetune.pruners.base import BasePruner, NopPruner
from pipetune.pruners.hyperband import HyperbandPruner
from pipetune.pruners.median import MedianPruner
from pipetune.pruners.patient import PatientPruner
from pipetune.pruners.percentile import PercentilePruner
from pipetune.pruners.successive_halving import SuccessiveHalvingPruner

__all__ = [
    "BasePruner",
    "HyperbandPruner",
    "MedianPruner",
    "NopPruner",
    "PatientPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
]
