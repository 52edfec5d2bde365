"""Exhaustive search over a grid of given values, shared safely by parallel workers."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._attrs import FIXED_PARAMS_ATTR, GRID_ID_ATTR
from pipetune.datatypes import FrozenTrial
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    contains_external,
)
from pipetune.errors import (
    InvalidArgumentError,
    InvalidDistributionError,
    SearchSpaceExhaustedError,
)
from pipetune.samplers.base import BaseSampler

if TYPE_CHECKING:
    from pipetune.view import StudyView


class GridSampler(BaseSampler):
    """Visits every combination of ``search_space`` values once, in a shuffled order.

    Trials claim grid points through the storage's atomic ``claim_key``, so threads, processes
    and machines sharing a study never evaluate a point twice; once every point is taken the
    study stops. A point whose trial failed is not retried (enqueue it to run it again).
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        if not isinstance(search_space, Mapping) or not search_space:
            raise InvalidArgumentError(
                "GridSampler needs a non-empty dict of param name -> list of values. "
                f"Got {search_space!r}."
            )
        self._names = sorted(search_space)
        self._axes: list[CategoricalDistribution] = []
        for name in self._names:
            try:  # reuse the categorical checks: non-empty, unique, JSON scalars
                self._axes.append(CategoricalDistribution(tuple(search_space[name])))
            except (InvalidDistributionError, TypeError) as error:  # TypeError: not iterable
                raise InvalidArgumentError(
                    f"GridSampler: the values of {name!r} are not a valid grid axis: {error}"
                ) from None
        self._values = [axis.choices for axis in self._axes]
        self._sizes = [len(v) for v in self._values]
        self.grid_size = math.prod(self._sizes)
        self._order = np.random.default_rng(seed).permutation(self.grid_size)
        space = json.dumps([self._names, [list(v) for v in self._values]])
        self._space_key = hashlib.sha1(space.encode()).hexdigest()[:12]

    def point(self, grid_id: int) -> dict[str, Any]:
        """The params at one grid index (mixed-radix decoding, so the grid is never built)."""
        params = {}
        for name, values, size in zip(reversed(self._names), reversed(self._values),
                                      reversed(self._sizes)):
            grid_id, digit = divmod(grid_id, size)
            params[name] = values[digit]
        return params

    def _grid_id_of(self, params: Mapping[str, Any]) -> int | None:
        grid_id = 0
        for name, axis, size in zip(self._names, self._axes, self._sizes):
            index = axis.index_of(params[name]) if name in params else None
            if index is None:
                return None
            grid_id = grid_id * size + index
        return grid_id

    def _claim(self, view: StudyView, grid_id: int, trial: FrozenTrial) -> bool:
        return view.claim_key(f"grid:{self._space_key}:{grid_id}", trial.trial_id)

    def _visited(self, trials: Sequence[FrozenTrial]) -> np.ndarray:
        visited = np.zeros(self.grid_size, dtype=bool)
        for t in trials:
            grid = t.system_attrs.get(GRID_ID_ATTR)
            if grid is not None and grid[0] == self._space_key:
                visited[grid[1]] = True
        return visited

    def before_trial(self, view: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        fixed = trial.system_attrs.get(FIXED_PARAMS_ATTR) or {}
        grid_id = self._grid_id_of(fixed)
        if grid_id is not None:  # an enqueued grid point: run it, and mark the point taken
            self._claim(view, grid_id, trial)
            return {GRID_ID_ATTR: [self._space_key, grid_id]}
        visited = self._visited(view.trials)[self._order]
        start = trial.number % self.grid_size
        # Walk the shuffled order from this trial's position: with unique trial numbers,
        # parallel workers usually claim different points on the first try.
        for position in np.concatenate([np.arange(start, self.grid_size), np.arange(start)]):
            if visited[position]:
                continue
            grid_id = int(self._order[position])
            if self._claim(view, grid_id, trial):
                return {GRID_ID_ATTR: [self._space_key, grid_id]}
        raise SearchSpaceExhaustedError(
            f"Every one of the {self.grid_size} grid points is already taken by another trial."
        )

    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        if name not in self._names:
            raise InvalidArgumentError(
                f"Param {name!r} is not in the GridSampler's search space {self._names}: add it "
                "to the grid, or suggest only params the grid defines."
            )
        grid = trial.system_attrs[GRID_ID_ATTR]
        value = self.point(grid[1])[name]
        if not contains_external(distribution, value):
            raise InvalidArgumentError(
                f"The grid value {value!r} of {name!r} lies outside the suggested domain "
                f"{distribution!r}: widen the suggestion or change the grid."
            )
        return value

    def is_exhausted(self, view: StudyView) -> bool:
        return bool(self._visited(view.trials).all())
