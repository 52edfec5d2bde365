"""Mutations: how NSGAIISampler and NSGAIIISampler perturb a child's numeric param.

A mutation sees one numeric param in the sampler's continuous coordinates (see
``crossovers.py``) with its ``[low, high]`` bounds and returns the perturbed value. Without
one (the default), a mutated param is drawn anew, uniformly, by the sampler's independent
sampler; categorical params are always mutated that way.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING

import numpy as np

from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.view import StudyView

__all__ = ["BaseMutation", "PolynomialMutation"]


class BaseMutation(abc.ABC):
    """Perturbs one numeric param of a child."""

    def __str__(self) -> str:
        return type(self).__name__

    @abc.abstractmethod
    def mutation(self, param: float, rng: np.random.RandomState, view: StudyView,
                 search_space_bounds: np.ndarray) -> float:
        """The mutated value of ``param``; ``search_space_bounds`` is its ``[low, high]``."""


class PolynomialMutation(BaseMutation):
    """Polynomial mutation (Deb & Goyal 1996, "A combined genetic adaptive search (GeneAS)
    for engineering design"; the bounded form of Deb et al. 2002's NSGA-II): the value moves
    by a polynomially distributed fraction of the range, scaled down near a bound so the
    result stays inside. Larger ``eta`` keeps the mutated value closer to the original."""

    def __init__(self, eta: float = 20.0) -> None:
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (
                math.isfinite(eta) and eta >= 0):
            raise InvalidArgumentError(
                f"The 'eta' argument of PolynomialMutation must be a finite number >= 0. "
                f"Got {eta!r}.")
        self._eta = float(eta)

    def mutation(self, param: float, rng: np.random.RandomState, view: StudyView,
                 search_space_bounds: np.ndarray) -> float:
        low, high = float(search_space_bounds[0]), float(search_space_bounds[1])
        width = high - low
        if width <= 0:
            return param
        u = float(rng.rand())
        power = self._eta + 1.0
        if u < 0.5:  # move down; room below the value limits how far
            room = 1.0 - (param - low) / width
            delta = (2 * u + (1 - 2 * u) * room ** power) ** (1 / power) - 1.0
        else:  # move up
            room = 1.0 - (high - param) / width
            delta = 1.0 - (2 * (1 - u) + 2 * (u - 0.5) * room ** power) ** (1 / power)
        return param + delta * width
