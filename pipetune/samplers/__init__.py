"""Samplers propose params for each trial from the study's history.

Each sampler's module is imported on first use (PEP 562): a process that only runs trials (a
Spark or Ray task, a ``pipetune worker`` whose study samples elsewhere) does not pay for the
SciPy of the model-based samplers it never builds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pipetune.samplers.base import BaseSampler

if TYPE_CHECKING:
    from pipetune.samplers import nsgaii
    from pipetune.samplers.auto import AutoSampler
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

# Public name -> the module defining it (a module's own name: the module itself).
_MODULES = {
    "AutoSampler": "pipetune.samplers.auto",
    "BruteForceSampler": "pipetune.samplers.brute_force",
    "CmaEsSampler": "pipetune.samplers.cmaes",
    "GPSampler": "pipetune.samplers.gp",
    "GridSampler": "pipetune.samplers.grid",
    "NSGAIISampler": "pipetune.samplers.nsgaii",
    "NSGAIIISampler": "pipetune.samplers.nsgaiii",
    "PartialFixedSampler": "pipetune.samplers.partial_fixed",
    "QMCSampler": "pipetune.samplers.qmc",
    "RandomSampler": "pipetune.samplers.random",
    "TPESampler": "pipetune.samplers.tpe",
    "nsgaii": "pipetune.samplers.nsgaii",
}

# The name each sampler goes by where it is chosen by name (the YAML of ``pipetune tune``,
# ``pipetune optimize --sampler``): the one table of them, name -> class name.
_BY_NAME = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "qmc": "QMCSampler",
    "grid": "GridSampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "auto": "AutoSampler",
    "nsgaii": "NSGAIISampler",
    "nsgaiii": "NSGAIIISampler",
    "brute_force": "BruteForceSampler",
}


def __getattr__(name: str) -> Any:
    module_name = _MODULES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pipetune.samplers' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULES))


class _SamplersByName(Mapping[str, Callable[..., BaseSampler]]):
    """``SAMPLERS``: each sampler class by the name it goes by, imported when looked up."""

    def __getitem__(self, name: str) -> Callable[..., BaseSampler]:
        sampler: Callable[..., BaseSampler] = __getattr__(_BY_NAME[name])
        return sampler

    def __iter__(self) -> Iterator[str]:
        return iter(_BY_NAME)

    def __len__(self) -> int:
        return len(_BY_NAME)


SAMPLERS: Mapping[str, Callable[..., BaseSampler]] = _SamplersByName()

__all__ = ["SAMPLERS", "AutoSampler", "BaseSampler", "BruteForceSampler", "CmaEsSampler",
           "GPSampler", "GridSampler", "NSGAIIISampler", "NSGAIISampler", "PartialFixedSampler",
           "QMCSampler", "RandomSampler", "TPESampler", "nsgaii"]
