"""Samplers propose params for each trial from the study's history."""

from collections.abc import Callable

from pipetune.samplers import nsgaii
from pipetune.samplers.auto import AutoSampler
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.brute_force import BruteForceSampler
from pipetune.samplers.cmaes import CmaEsSampler
from pipetune.samplers.gp import GPSampler
from pipetune.samplers.grid import GridSampler
from pipetune.samplers.nsgaii import NSGAIISampler
from pipetune.samplers.nsgaiii import NSGAIIISampler
from pipetune.samplers.partial_fixed import PartialFixedSampler
from pipetune.samplers.qmc import QMCSampler
from pipetune.samplers.random import RandomSampler
from pipetune.samplers.tpe import TPESampler

# The name each sampler goes by where it is chosen by name (the YAML of ``pipetune tune``,
# ``pipetune optimize --sampler``): the one table of them. Each is called with the sampler's
# own keyword options.
SAMPLERS: dict[str, Callable[..., BaseSampler]] = {
    "tpe": TPESampler,
    "random": RandomSampler,
    "qmc": QMCSampler,
    "grid": GridSampler,
    "gp": GPSampler,
    "cmaes": CmaEsSampler,
    "auto": AutoSampler,
    "nsgaii": NSGAIISampler,
    "nsgaiii": NSGAIIISampler,
    "brute_force": BruteForceSampler,
}

__all__ = ["SAMPLERS", "AutoSampler", "BaseSampler", "BruteForceSampler", "CmaEsSampler",
           "GPSampler", "GridSampler", "NSGAIIISampler", "NSGAIISampler", "PartialFixedSampler",
           "QMCSampler", "RandomSampler", "TPESampler", "nsgaii"]
