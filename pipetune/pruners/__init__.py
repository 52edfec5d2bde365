"""Pruners stop unpromising trials early from their intermediate values."""

from collections.abc import Callable

from pipetune.pruners.base import BasePruner, NopPruner
from pipetune.pruners.hyperband import HyperbandPruner
from pipetune.pruners.median import MedianPruner
from pipetune.pruners.patient import PatientPruner
from pipetune.pruners.percentile import PercentilePruner
from pipetune.pruners.successive_halving import SuccessiveHalvingPruner
from pipetune.pruners.threshold import ThresholdPruner
from pipetune.pruners.wilcoxon import WilcoxonPruner

# The name each pruner goes by where it is chosen by name (the YAML of ``pipetune tune``,
# ``pipetune optimize --pruner``): the one table of them. Each is called with the pruner's own
# arguments (``patient``: the pruner it wraps first).
PRUNERS: dict[str, Callable[..., BasePruner]] = {
    "none": NopPruner,
    "median": MedianPruner,
    "percentile": PercentilePruner,
    "asha": SuccessiveHalvingPruner,
    "hyperband": HyperbandPruner,
    "patient": PatientPruner,
    "threshold": ThresholdPruner,
    "wilcoxon": WilcoxonPruner,
}

__all__ = [
    "PRUNERS",
    "BasePruner",
    "HyperbandPruner",
    "MedianPruner",
    "NopPruner",
    "PatientPruner",
    "PercentilePruner",
    "SuccessiveHalvingPruner",
    "ThresholdPruner",
    "WilcoxonPruner",
]
