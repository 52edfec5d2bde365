"""The tree-structured Parzen estimator (Bergstra et al. 2011), multivariate by default.

Trials are ranked and split into a good set (the best ``gamma(n)``) and the rest; a Parzen
estimator is fit to each, l(x) and g(x); candidates drawn from l are scored by l(x) / g(x),
which orders them like expected improvement, and the best is proposed. Params that appear
together are modelled jointly: the space is cut into groups of params that always co-occur, so
a conditional space (a ``model`` choice with per-model params) gets one joint model per branch
(Watanabe 2023, "Tree-structured Parzen estimator: understanding its algorithm components").

On a finite space (ints, stepped floats, categoricals) a configuration already run is not
proposed again while one is left: see ``_best_unrun``.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._constraints import (
    ConstraintsFunc,
    check_constraints_func,
    record_constraints,
)
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers._seen import RunConfigurations, is_finite
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.random import RandomSampler
from pipetune.samplers.tpe.observations import Observations
from pipetune.samplers.tpe.parzen import Axis, ParzenEstimator

# Avoiding repeats on a finite space: batches of candidates drawn from l(x) before looking
# beyond them; grids up to _SCORED_GRID_LIMIT configurations are then scored whole, larger ones
# through _UNIFORM_DRAWS configurations drawn uniformly.
_CANDIDATE_ROUNDS = 4
_SCORED_GRID_LIMIT = 1024
_UNIFORM_DRAWS = 256
# ... and the kernels on ints and stepped floats are at least this many steps wide. A kernel
# narrower than a step puts nearly all its mass on the configuration observed, which is not
# proposed again; the good configurations' neighbours would then come from the prior alone,
# and the proposals would be little better than random ones. At half a step a kernel keeps 68%
# on its own value and gives 16% to each neighbour (measured on the recorded grids of
# benchmarks/early_stopping.py: 0.5 did better than 0 and 1).
_AVOIDING_KERNEL_STEPS = 0.5


def default_gamma(n: int) -> int:
    """Size of the good set: 10% of the trials, at most 25."""
    return min(int(math.ceil(0.1 * n)), 25)


class TPESampler(BaseSampler):
    """Tree-structured Parzen estimator sampler.

    Args:
        seed: makes a study reproducible, also when resumed in another process: every random
            draw derives from (seed, trial number) and the stored history.
        n_startup_trials: trials sampled at random before the model is used.
        n_ei_candidates: candidates drawn from l(x) per proposal.
        multivariate: model params that occur together jointly (else one at a time).
        group: split the space into groups of co-occurring params (conditional spaces).
        constant_liar: count other RUNNING trials as bad ones, so parallel workers spread out.
            None (default) turns it on whenever other trials are running (n_jobs > 1 or several
            workers); True / False force it.
        prior_weight: weight of the broad prior kernel against one observation.
        gamma: function of the number of trials giving the size of the good set.
        bandwidth_factor: numeric kernel width, as a fraction of the domain at n = 1 trial.
        min_bandwidth_fraction: the narrowest numeric kernel, as a fraction of the domain.

    Optuna's keywords, keyword-only:

    Args:
        consider_magic_clip: False drops the floor on kernel widths (``min_bandwidth_fraction``
            becomes 0).
        weights: a function of the number ``n`` of trials in the good (or bad) set returning
            their ``n`` weights, oldest trial first (e.g. lower weights for old trials); by
            default all weigh the same.
        warn_independent_sampling: warn when, past the start-up, a param is sampled on its
            own rather than jointly (it is missing from trials, or its domain changed).
        constraints_func: maps a finished trial to its constraint values (each <= 0 when
            satisfied), recorded on the trial; infeasible trials then rank after every
            feasible one. ``Trial.set_constraint`` does the same from inside the objective.
        consider_prior: accepted for Optuna's sake; the prior kernel is always used (as in
            Optuna since 4.3), so False only warns.
        consider_endpoints: accepted for Optuna's sake; kernel widths here follow Scott's rule
            rather than the distances to neighbouring observations, so True only warns.
    """

    def __init__(self, seed: int | None = None, n_startup_trials: int = 10,
                 n_ei_candidates: int = 24, multivariate: bool | None = True,
                 group: bool = True, constant_liar: bool | None = None,
                 prior_weight: float | None = 1.0,
                 gamma: Callable[[int], int] | None = default_gamma,
                 bandwidth_factor: float = 0.05, min_bandwidth_fraction: float = 0.01, *,
                 consider_magic_clip: bool | None = None,
                 weights: Callable[[int], Sequence[float]] | None = None,
                 warn_independent_sampling: bool | None = None,
                 constraints_func: ConstraintsFunc | None = None,
                 consider_prior: bool | None = None,
                 consider_endpoints: bool | None = None) -> None:
        prior_weight = 1.0 if prior_weight is None else prior_weight
        gamma = default_gamma if gamma is None else gamma
        for name, flag, expected in (("consider_prior", consider_prior, True),
                                     ("consider_endpoints", consider_endpoints, False)):
            if flag is not None and bool(flag) != expected:
                warnings.warn(
                    f"TPESampler({name}={flag!r}) has no effect: "
                    + ("the prior kernel is always used." if expected else
                       "kernel widths follow Scott's rule, not the distances to neighbouring "
                       "observations."), stacklevel=2)
        if consider_magic_clip is False:
            min_bandwidth_fraction = 0.0
        if weights is not None and not callable(weights):
            raise InvalidArgumentError(
                "The 'weights' argument of TPESampler must be a function of the number of "
                f"trials returning one weight per trial. Got {weights!r}.")
        for name, value, minimum in (("n_startup_trials", n_startup_trials, 0),
                                     ("n_ei_candidates", n_ei_candidates, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidArgumentError(
                    f"The {name!r} argument of TPESampler must be an int >= {minimum}. "
                    f"Got {value!r}.")
        if not prior_weight > 0:
            raise InvalidArgumentError(
                f"The 'prior_weight' argument of TPESampler must be > 0. Got {prior_weight!r}.")
        if not callable(gamma):
            raise InvalidArgumentError(
                f"The 'gamma' argument of TPESampler must be a function of the number of trials. "
                f"Got {gamma!r}.")
        self._randomness = TrialRandomness(seed)
        self._random = RandomSampler(seed=self._randomness.seed)
        self._n_startup_trials = n_startup_trials
        self._n_ei_candidates = n_ei_candidates
        self._multivariate = multivariate is not False
        self._weights = weights
        self._warn_independent_sampling = bool(warn_independent_sampling)
        self._constraints_func = check_constraints_func("TPESampler", constraints_func)
        self._group = group
        self._constant_liar = constant_liar
        self._prior_weight = float(prior_weight)
        self._gamma = gamma
        self._bandwidth_factor = bandwidth_factor
        self._min_bandwidth_fraction = min_bandwidth_fraction
        self._observations: dict[int, Observations] = {}
        self._run_configurations = RunConfigurations()
        self._lock = threading.Lock()

    # -- the history -------------------------------------------------------------------------

    def _observed(self, view) -> Observations:
        with self._lock:
            observations = self._observations.get(view.history_key)
            if observations is None:
                observations = self._observations[view.history_key] = Observations(view.directions)
        observations.update(view.finished_log)
        return observations

    def _use_liar(self, view, trial: FrozenTrial) -> list[FrozenTrial]:
        if self._constant_liar is False:
            return []
        return [t for t in view.unfinished
                if t.state == TrialState.RUNNING and t.trial_id != trial.trial_id]

    # -- the sampler interface ---------------------------------------------------------------

    def infer_relative_search_space(self, view, trial: FrozenTrial) -> dict[str, Distribution]:
        if not self._multivariate:
            return {}
        observed = self._observed(view)
        # Sorted: storages return params in different orders, and the axis order decides which
        # random draw goes to which param, so a seeded study must not depend on it.
        return {name: d for name, d in sorted(observed.distributions.items()) if not d.single()}

    def sample_relative(self, view, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        observed = self._observed(view)
        if not search_space or observed.n < self._n_startup_trials:
            return {}
        rng = self._randomness.for_trial(trial, "tpe")
        n_rows = observed.n  # other threads may add rows meanwhile: this suggestion uses these
        groups = self._groups(observed, search_space, n_rows) if self._group \
            else [list(search_space)]
        liars = self._use_liar(view, trial)
        run = self._configurations_to_avoid(view, trial, search_space, groups)
        params: dict[str, Any] = {}
        for names in groups:
            axes = [Axis.of(name, search_space[name]) for name in names]
            params.update(self._sample_group(observed, n_rows, liars, axes, rng, avoid=run))
        return params

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        observed = self._observed(view)
        if observed.n < self._n_startup_trials:
            return self._random.sample_independent(view, trial, name, distribution)
        if self._warn_independent_sampling and self._multivariate:
            warnings.warn(
                f"TPESampler samples {name!r} of trial {trial.number} on its own, not jointly "
                "with the other params: earlier trials lack it, or had it over another domain.",
                stacklevel=3)
        rng = self._randomness.for_trial(trial, f"tpe:{name}")
        liars = self._use_liar(view, trial)
        return self._sample_group(observed, observed.n, liars, [Axis.of(name, distribution)],
                                  rng)[name]

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        self._randomness.forget(trial)
        self._random.after_trial(view, trial, state, values)
        return record_constraints(self._constraints_func, trial, state)

    # -- the model -----------------------------------------------------------------------------

    def _configurations_to_avoid(self, view, trial: FrozenTrial, space: dict[str, Distribution],
                                 groups: list[list[str]]) -> set[tuple] | None:
        """The configurations of ``space`` that COMPLETE, PRUNED or RUNNING trials ran, as
        tuples in the order of ``groups[0]``, when the proposal should avoid them: the space is
        finite, one group covers it (so a proposal is a whole configuration) and not every
        configuration has been run. None when repeats are allowed."""
        if len(groups) != 1 or not is_finite(space):
            return None
        run = self._run_configurations.of(view, groups[0], exclude_trial_id=trial.trial_id)
        grid_size = math.prod(Axis.of(name, space[name]).grid_size or 0 for name in groups[0])
        if len(run) >= grid_size:
            return None  # the whole grid has been run: repeats are all that is left
        return run

    def _groups(self, observed: Observations, space: dict[str, Distribution],
                n_rows: int) -> list[list[str]]:
        """The coarsest partition of the space such that every trial's params are a union of
        parts: params that always occur together form one part."""
        present = {name: ~np.isnan(observed.column(name, d, n_rows)) for name, d in space.items()}
        parts: dict[bytes, list[str]] = {}
        for name, mask in present.items():
            parts.setdefault(mask.tobytes(), []).append(name)
        return list(parts.values())

    def _sample_group(self, observed: Observations, n_rows: int, liars: list[FrozenTrial],
                      axes: list[Axis], rng: np.random.Generator,
                      avoid: set[tuple] | None = None) -> dict[str, Any]:
        """The best of ``n_ei_candidates`` drawn from l(x) for the params ``axes``, by
        l(x) / g(x); with ``avoid`` (configurations in the order of ``axes``), the best one not
        in it while one is left (see ``_best_unrun``)."""
        columns = np.column_stack([
            _coordinates(observed.column(a.name, a.distribution, n_rows), a) for a in axes])
        ranked = observed.rank(self._gamma, n_rows)
        below_rows = ranked.order[:ranked.n_below]
        above_rows = ranked.order[ranked.n_below:]
        below_rows = below_rows[~np.isnan(columns[below_rows]).any(axis=1)]
        above_rows = above_rows[~np.isnan(columns[above_rows]).any(axis=1)]
        below, above = columns[below_rows], columns[above_rows]
        numbers = np.array(observed.numbers[:n_rows], dtype=float)
        above_numbers = numbers[above_rows]
        if liars:
            lies = np.array([[_liar_coordinate(t, a) for a in axes] for t in liars])
            kept = ~np.isnan(lies).any(axis=1)
            above = np.vstack([above, lies[kept]])
            above_numbers = np.concatenate(
                [above_numbers, np.array([t.number for t in liars], dtype=float)[kept]])
        estimator_args = dict(prior_weight=self._prior_weight,
                              bandwidth_factor=self._bandwidth_factor,
                              min_bandwidth_fraction=self._min_bandwidth_fraction,
                              min_cells=0.0 if avoid is None else _AVOIDING_KERNEL_STEPS)
        good = ParzenEstimator(axes, below, weights=self._observation_weights(numbers[below_rows]),
                               **estimator_args)
        bad = ParzenEstimator(axes, above, weights=self._observation_weights(above_numbers),
                              **estimator_args)
        candidates = good.sample(rng, self._n_ei_candidates)
        score = good.log_pdf(candidates) - bad.log_pdf(candidates)
        if avoid is not None:
            return self._best_unrun(axes, good, bad, candidates, score, avoid, rng)
        return _decode(axes, candidates[int(np.argmax(score))])

    def _best_unrun(self, axes: list[Axis], good: ParzenEstimator, bad: ParzenEstimator,
                    candidates: np.ndarray, score: np.ndarray, avoid: set[tuple],
                    rng: np.random.Generator) -> dict[str, Any]:
        """The best-scoring candidate whose configuration is not in ``avoid``.

        A deterministic training run repeated tells nothing new, and under a pruner a repeat of
        a configuration that passed the rungs passes them again, so on a grid TPE that has
        converged would spend its budget on copies. Rejecting run configurations among draws
        from l(x) samples l restricted to the unrun ones; when a few batches hold none (l has
        all its mass on run configurations), the unrun configurations of the grid are scored
        by l(x) / g(x) directly: all of them on a small grid, a uniform sample of them on a
        large one. Only if that finds none either is the best candidate repeated."""
        best_repeat = _decode(axes, candidates[int(np.argmax(score))])
        for round_number in range(_CANDIDATE_ROUNDS):
            if round_number:
                candidates = good.sample(rng, self._n_ei_candidates)
                score = good.log_pdf(candidates) - bad.log_pdf(candidates)
            for index in np.argsort(-score, kind="stable"):
                params = _decode(axes, candidates[index])
                if tuple(params[axis.name] for axis in axes) not in avoid:
                    return params
        point = _best_unrun_grid_point(axes, good, bad, avoid, rng)
        return best_repeat if point is None else _decode(axes, point)

    def _observation_weights(self, numbers: np.ndarray) -> np.ndarray | None:
        """The ``weights`` function's weights for the trials numbered ``numbers``, given
        oldest first; None (equal weights) without one."""
        if self._weights is None:
            return None
        given = np.asarray(self._weights(len(numbers)), dtype=float)
        if given.shape != (len(numbers),) or not np.all(np.isfinite(given)) \
                or np.any(given < 0):
            raise InvalidArgumentError(
                f"TPESampler's weights function must return {len(numbers)} finite numbers "
                f">= 0 for {len(numbers)} trials. Got {given!r}.")
        weights = np.empty(len(numbers))
        weights[np.argsort(numbers, kind="stable")] = given
        return weights


def _decode(axes: list[Axis], point: np.ndarray) -> dict[str, Any]:
    return {axis.name: axis.decode(coordinate) for axis, coordinate in zip(axes, point)}


def _best_unrun_grid_point(axes: list[Axis], good: ParzenEstimator, bad: ParzenEstimator,
                           avoid: set[tuple], rng: np.random.Generator) -> np.ndarray | None:
    """The grid point of a finite space scoring best by l(x) / g(x) among those whose
    configuration is not in ``avoid``: over the whole grid when it has at most
    ``_SCORED_GRID_LIMIT`` points, else over ``_UNIFORM_DRAWS`` uniform draws; None when
    every point looked at was run."""
    sizes = [axis.grid_size or 0 for axis in axes]
    if math.prod(sizes) <= _SCORED_GRID_LIMIT:
        # Every grid point, in a random order so that ties between equal scores go by chance.
        order = rng.permutation(math.prod(sizes))
        indices = np.column_stack(np.unravel_index(order, sizes))
    else:
        indices = np.column_stack([rng.integers(size, size=_UNIFORM_DRAWS) for size in sizes])
    run = {tuple(axis.grid_index(value) for axis, value in zip(axes, configuration))
           for configuration in avoid}
    unrun = [row for row in indices.tolist() if tuple(row) not in run]
    if not unrun:
        return None
    points = np.column_stack([axis.grid_coordinates(column)
                              for axis, column in zip(axes, np.array(unrun).T)])
    score = good.log_pdf(points) - bad.log_pdf(points)
    return points[int(np.argmax(score))]


def _coordinates(internal: np.ndarray, axis: Axis) -> np.ndarray:
    if axis.categorical:
        return internal
    with np.errstate(invalid="ignore", divide="ignore"):
        return axis.encode(internal)


def _liar_coordinate(trial: FrozenTrial, axis: Axis) -> float:
    if axis.name not in trial.params:
        return math.nan
    value = trial.params[axis.name]
    d = axis.distribution
    if isinstance(d, CategoricalDistribution):
        index = d.index_of(value)
        return math.nan if index is None else float(index)
    if not d.low <= value <= d.high:
        return math.nan
    return math.log(value) if axis.log else float(value)
