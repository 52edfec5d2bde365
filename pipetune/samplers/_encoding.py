"""A search space as points of the unit cube, for samplers that model all params jointly.

Numeric params map linearly onto [0, 1] in their transformed coordinates (log space for log
domains; discrete ones padded by half a cell, so every grid point owns an equal share);
categorical params keep their choice index, which models compare for equality only.
``snap`` moves discrete coordinates to their nearest grid point, so a model scores the point
the trial will really run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipetune.distributions import CategoricalDistribution, Distribution, FloatDistribution
from pipetune.samplers.tpe.parzen import Axis


@dataclass(frozen=True)
class UnitSpace:
    """The axes of a search space and, per axis, whether it is categorical (its number of
    choices) or discrete (ints and stepped floats)."""

    axes: tuple[Axis, ...]

    @classmethod
    def of(cls, space: Mapping[str, Distribution]) -> UnitSpace:
        return cls(tuple(Axis.of(name, d) for name, d in space.items()))

    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def categorical(self) -> np.ndarray:
        return np.array([a.categorical for a in self.axes], dtype=bool)

    @property
    def n_choices(self) -> np.ndarray:
        return np.array([a.n_choices for a in self.axes], dtype=int)

    @property
    def discrete(self) -> np.ndarray:
        return np.array([not a.categorical and _is_discrete(a) for a in self.axes], dtype=bool)

    def encode(self, params: Mapping[str, Any]) -> np.ndarray | None:
        """One trial's params as a point; None when a param is missing or outside its domain."""
        row = np.empty(self.dim)
        for j, axis in enumerate(self.axes):
            if axis.name not in params:
                return None
            value = params[axis.name]
            d = axis.distribution
            if isinstance(d, CategoricalDistribution):
                index = d.index_of(value)
                if index is None:
                    return None
                row[j] = index
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not d.low <= value <= d.high:
                return None
            coordinate = math.log(value) if axis.log else float(value)
            row[j] = (coordinate - axis.low) / (axis.high - axis.low)
        return row

    def decode(self, point: np.ndarray) -> dict[str, Any]:
        """A point -> external values, each the nearest one its domain holds."""
        out: dict[str, Any] = {}
        for axis, u in zip(self.axes, point):
            if isinstance(axis.distribution, CategoricalDistribution):
                out[axis.name] = axis.distribution.choices[int(round(u))]
            else:
                out[axis.name] = axis.decode(axis.low + float(np.clip(u, 0, 1))
                                             * (axis.high - axis.low))
        return out

    def snap(self, points: np.ndarray) -> np.ndarray:
        """``points`` (rows) clipped to the cube with discrete coordinates moved onto their
        grid and categorical ones rounded to a choice index."""
        out = np.array(points, dtype=float, copy=True)
        for j, axis in enumerate(self.axes):
            d = axis.distribution
            if isinstance(d, CategoricalDistribution):
                out[:, j] = np.clip(np.round(out[:, j]), 0, axis.n_choices - 1)
                continue
            u = np.clip(out[:, j], 0.0, 1.0)
            if _is_discrete(axis):
                value = axis.low + u * (axis.high - axis.low)
                if axis.log:
                    value = np.exp(value)
                step = d.step if d.step is not None else 1.0
                value = np.clip(d.low + np.round((value - d.low) / step) * step, d.low, d.high)
                coordinate = np.log(value) if axis.log else value
                u = (coordinate - axis.low) / (axis.high - axis.low)
            out[:, j] = u
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points of a scrambled Sobol sequence (more even than uniform draws, so fewer
        of them cover the cube), snapped."""
        # scipy.stats takes a third of a second to import: only a GP that samples pays it.
        from scipy.stats import qmc

        sobol = qmc.Sobol(self.dim, scramble=True, seed=rng)
        points = sobol.random_base2(max(0, math.ceil(math.log2(max(n, 1)))))[:n]
        points[:, self.categorical] *= self.n_choices[self.categorical]
        points[:, self.categorical] = np.floor(points[:, self.categorical])
        return self.snap(points)


def _is_discrete(axis: Axis) -> bool:
    return not (isinstance(axis.distribution, FloatDistribution) and axis.distribution.step is None)
