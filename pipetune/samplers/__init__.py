"""Samplers propose params for each trial from the study's history."""

from pipetune.samplers.auto import AutoSampler
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.cmaes import CmaEsSampler
from pipetune.samplers.gp import GPSampler
from pipetune.samplers.grid import GridSampler
from pipetune.samplers.qmc import QMCSampler
from pipetune.samplers.random import RandomSampler
from pipetune.samplers.tpe import TPESampler

__all__ = ["AutoSampler", "BaseSampler", "CmaEsSampler", "GPSampler", "GridSampler", "QMCSampler", "RandomSampler", "TPESampler"]
