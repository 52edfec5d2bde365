"""Maximizing an acquisition function over a mixed unit space.

Random points plus perturbations of the best observed points are scored in one vectorized
pass; the best few start a joint L-BFGS-B run over the numeric coordinates (each start's
gradient involves only its own point, so one run optimizes them all at the cost of one call
per iteration). Discrete coordinates are relaxed during the run and snapped after; a last
coordinate pass tries every choice of each categorical param and the neighbouring grid points
of each discrete one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.optimize

from pipetune.distributions import CategoricalDistribution
from pipetune.samplers._encoding import UnitSpace

# (points (B, d), whether gradients are needed) -> (values (B,), gradients (B, d) or None)
Acquisition = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]

_N_RANDOM = 2048
_N_LOCAL = 256
_N_STARTS = 10
_LBFGS_MAX_ITERATIONS = 60
_LOCAL_SCALE = 0.05
_REPEAT_SCALE = 0.15  # neighbours of a repeated grid point: one to a few cells away


def maximize(acquisition: Acquisition, space: UnitSpace, incumbents: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """The best point found for ``acquisition``; ``incumbents`` (rows, best first) seed the
    local part of the search."""
    samples = [space.sample(rng, _N_RANDOM)]
    if len(incumbents):
        centres = incumbents[rng.integers(0, len(incumbents), _N_LOCAL)]
        samples.append(_perturb(space, centres, rng))
    candidates = np.vstack(samples)
    values, _ = acquisition(candidates, False)
    values = np.where(np.isfinite(values), values, -np.inf)
    order = np.argsort(-values)
    starts = candidates[order[:_N_STARTS]]
    numeric = ~space.categorical
    if numeric.any():
        starts = _refine(acquisition, starts, numeric, space)
    start_values, _ = acquisition(starts, False)
    best = starts[int(np.nanargmax(start_values))]
    return _coordinate_pass(acquisition, space, best)


def _perturb(space: UnitSpace, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    points = centres + _LOCAL_SCALE * rng.standard_normal(centres.shape) * ~space.categorical
    categorical = np.flatnonzero(space.categorical)
    if len(categorical):
        # Each categorical param switches to a random choice with probability 1 / dim.
        flip = rng.random((len(points), len(categorical))) < 1.0 / space.dim
        random_choice = np.floor(rng.random(flip.shape) * space.n_choices[categorical])
        points[:, categorical] = np.where(flip, random_choice, points[:, categorical])
    return space.snap(points)


def _refine(acquisition: Acquisition, starts: np.ndarray, numeric: np.ndarray,
            space: UnitSpace) -> np.ndarray:
    """Runs L-BFGS-B on all starts at once (the sum of their values) and returns, per start,
    the better of the start and its snapped optimum."""
    shape = (len(starts), int(numeric.sum()))

    def negative(flat: np.ndarray) -> tuple[float, np.ndarray]:
        points = starts.copy()
        points[:, numeric] = flat.reshape(shape)
        values, grads = acquisition(points, True)
        assert grads is not None  # asked for
        finite = np.isfinite(values)
        if not finite.all():  # a point the model cannot score: push nowhere
            values = np.where(finite, values, -1e10)
            grads = np.where(finite[:, None], grads, 0.0)
        return -float(values.sum()), -grads[:, numeric].ravel()

    result = scipy.optimize.minimize(
        negative, starts[:, numeric].ravel(), jac=True, method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (shape[0] * shape[1]),
        options={"maxiter": _LBFGS_MAX_ITERATIONS})
    moved = starts.copy()
    moved[:, numeric] = result.x.reshape(shape)
    moved = space.snap(moved)
    before, _ = acquisition(starts, False)
    after, _ = acquisition(moved, False)
    return np.where((after >= before)[:, None], moved, starts)


def _coordinate_pass(acquisition: Acquisition, space: UnitSpace, point: np.ndarray) -> np.ndarray:
    """One pass over the categorical and discrete axes, each set to its best value among
    all choices (categorical) or the neighbouring grid points (discrete)."""
    best = point.copy()
    best_value = acquisition(best[None, :], False)[0][0]
    discrete = space.discrete
    for j in range(space.dim):
        if space.categorical[j]:
            options = np.arange(space.n_choices[j], dtype=float)
        elif discrete[j]:
            # One grid step either way: nudge past the cell edge and snap.
            half = _cell_width(space, j, best[j])
            options = np.array([best[j] - half, best[j] + half])
        else:
            continue
        trials = np.repeat(best[None, :], len(options), axis=0)
        trials[:, j] = options
        trials = space.snap(trials)
        values, _ = acquisition(trials, False)
        k = int(np.nanargmax(values))
        if values[k] > best_value:
            best, best_value = trials[k], values[k]
    return best


def _cell_width(space: UnitSpace, j: int, u: float) -> float:
    """How far in unit coordinates the next grid point of discrete axis ``j`` lies from ``u``
    (at least): linear grids are uniform, log grids are widest at the low end."""
    axis = space.axes[j]
    d = axis.distribution
    assert not isinstance(d, CategoricalDistribution)  # a discrete axis is numeric
    step = d.step if d.step is not None else 1.0
    n_points = (d.high - d.low) / step + 1
    if not axis.log:
        return 1.0 / n_points
    value = np.exp(axis.low + u * (axis.high - axis.low))
    return float(np.log((value + 1.0) / value) / (axis.high - axis.low))


def ranked_candidates(acquisition: Acquisition, space: UnitSpace, centre: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Distinct snapped candidates, best acquisition first: random points of the space and
    perturbations of ``centre`` a few grid cells wide, for a sampler that must pass over
    points it has already run."""
    centres = np.repeat(centre[None, :], _N_LOCAL, axis=0)
    wide = centres + _REPEAT_SCALE * rng.standard_normal(centres.shape) * ~space.categorical
    candidates = np.unique(np.vstack([space.sample(rng, _N_RANDOM), _perturb(space, wide, rng)]),
                           axis=0)
    values, _ = acquisition(candidates, False)
    values = np.where(np.isfinite(values), values, -np.inf)
    return candidates[np.argsort(-values, kind="stable")]
