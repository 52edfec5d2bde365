"""Bayesian optimization with a Gaussian process: the sampler for small budgets.

After ``n_startup_trials`` random trials, each trial fits a GP (Matérn-5/2 ARD, see
``kernel.py``) to the completed trials over the search space they share, and proposes the
point maximizing log expected improvement (``acquisition.py``). Several objectives are turned
into one by ParEGO's random augmented Chebyshev scalarization (Knowles 2006), drawn anew for
each trial; constraints multiply EI by the probability of feasibility, each constraint with
its own GP. Trials running at the same time (``n_jobs > 1``, several workers) are added to the
model as if they had returned the model's own prediction (the Kriging believer, Ginsbourger et
al. 2010), which shrinks the uncertainty there so parallel proposals spread out.

Once a trial of a single-objective study without constraints is pruned, the GP learns from
every finished trial at the budget (step) it reached, over (params, budget), and proposes the
point of highest log EI at the full budget (``fidelity.py``); until then nothing changes. On a
finite space (ints, stepped floats, categoricals) a configuration the study has run is not
proposed again while the candidates hold one it has not.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._encoding import UnitSpace
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers._seen import RunConfigurations, configuration, is_finite
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.gp.acquisition import (
    Scored,
    log_expected_improvement,
    log_probability_of_feasibility,
)
from pipetune.samplers.gp.blas_threads import one_blas_thread
from pipetune.samplers.gp.fidelity import (
    FULL_BUDGET,
    AtFullBudget,
    CurveOffsets,
    budgets,
    has_pruned_observation,
    keep,
    observations,
    with_budget,
)
from pipetune.samplers.gp.model import GaussianProcess, Hyperparameters
from pipetune.samplers.gp.optim import Acquisition, maximize, ranked_candidates
from pipetune.samplers.random import RandomSampler
from pipetune.search_space import IntersectionSearchSpace

ConstraintsFunc = Callable[[FrozenTrial], Sequence[float]]
_PAREGO_RHO = 0.05  # weight of the linear term of the augmented Chebyshev scalarization
_N_INCUMBENTS = 5  # best observed points the acquisition search perturbs
_ALWAYS_REFIT = 50  # hyperparameters are refit at every trial up to this many points ...
_REFIT_GROWTH = 1.05  # ... then whenever the points have grown by 5% since the last fit
# Share of COMPLETE observations from which the multi-fidelity incumbent is taken among them.
_MIN_COMPLETE_SHARE = 0.1


@dataclass
class _StudyState:
    """What the sampler keeps per study: the shared search space, the last fitted
    hyperparameters per model with the number of points they were fit on (warm starts), the
    constraint values already computed, the trials' points per search space and whether the
    model has the budget axis (with how much of ``finished_log`` was read to decide)."""

    space: IntersectionSearchSpace = field(default_factory=IntersectionSearchSpace)
    hyperparameters: dict[tuple, tuple[Hyperparameters, int]] = field(default_factory=dict)
    constraints: dict[int, tuple[float, ...]] = field(default_factory=dict)
    encoded: dict[tuple, dict[int, np.ndarray | None]] = field(default_factory=dict)
    multi_fidelity: bool = False
    fidelity_read: int = 0
    offsets: CurveOffsets = field(default_factory=CurveOffsets)


class GPSampler(BaseSampler):
    """Gaussian-process Bayesian optimization with log expected improvement.

    Args:
        seed: makes a study reproducible: every random draw derives from (seed, trial number).
        n_startup_trials: finished trials sampled at random before the model is used:
            completed ones, and pruned ones too once a trial was pruned (0 fits the model
            from the first such trial on).
        deterministic_objective: the objective returns the same value for the same params;
            the model then fits no noise. Leave False for noisy objectives (the noise level is
            learnt).
        constraints_func: maps a finished trial to its constraint values; a trial is feasible
            when all are <= 0. Proposals then favour points likely to be feasible.
        constant_liar: treat other RUNNING trials as observed at the model's prediction so
            parallel workers spread out. None (default) does so whenever others are running.
        independent_sampler: samples the startup trials and params outside the shared space
            (conditional ones); random by default.
        warn_independent_sampling: warn when, past the start-up, a param is left to
            ``independent_sampler`` (a conditional one, or one whose domain changed).
    """

    def __init__(self, seed: int | None = None, n_startup_trials: int = 10, *,
                 deterministic_objective: bool = False,
                 constraints_func: ConstraintsFunc | None = None,
                 constant_liar: bool | None = None,
                 independent_sampler: BaseSampler | None = None,
                 warn_independent_sampling: bool = False) -> None:
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) \
                or n_startup_trials < 0:
            raise InvalidArgumentError(
                f"The 'n_startup_trials' argument of GPSampler must be an int >= 0. "
                f"Got {n_startup_trials!r}.")
        if constraints_func is not None and not callable(constraints_func):
            raise InvalidArgumentError(
                "The 'constraints_func' argument of GPSampler must be a function of a finished "
                f"trial returning its constraint values. Got {constraints_func!r}.")
        self._randomness = TrialRandomness(seed)
        self._independent = independent_sampler or RandomSampler(seed=self._randomness.seed)
        # A model needs one observation, whatever the start-up asked for.
        self._n_startup_trials = max(1, n_startup_trials)
        self._warn_independent_sampling = bool(warn_independent_sampling)
        self._deterministic = bool(deterministic_objective)
        self._constraints_func = constraints_func
        self._constant_liar = constant_liar
        self._states: dict[int, _StudyState] = {}
        self._run_configurations = RunConfigurations()
        self._lock = threading.Lock()

    def _state(self, view) -> _StudyState:
        with self._lock:
            return self._states.setdefault(view.history_key, _StudyState())

    # -- the sampler interface ---------------------------------------------------------------

    def infer_relative_search_space(self, view, trial: FrozenTrial) -> dict[str, Distribution]:
        space = self._state(view).space.update(view.finished_log)
        return {name: d for name, d in space.items() if not d.single()}

    def sample_relative(self, view, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        with one_blas_thread():
            return self._propose(view, trial, search_space)

    def _propose(self, view, trial: FrozenTrial,
                 search_space: dict[str, Distribution]) -> dict[str, Any]:
        """Fits the models to the finished trials, maximizes the acquisition and decodes the
        best point; on a grid, the best point not run yet while one is left."""
        space = UnitSpace.of(search_space)
        state = self._state(view)
        rng = self._randomness.for_trial(trial, "gp")
        if self._multi_fidelity(view, state):
            found = self._maximize_multi_fidelity(view, trial, search_space, space, state, rng)
        else:
            found = self._maximize(view, trial, search_space, space, state, rng)
        if found is None:
            return {}
        point, acquisition = found
        params = space.decode(point)
        if is_finite(search_space):
            params = _unseen(view, trial, search_space, space, acquisition, point, params, rng,
                             self._run_configurations)
        return params

    def _encoded(self, state: _StudyState, search_space: dict[str, Distribution],
                 space: UnitSpace) -> dict[int, np.ndarray | None]:
        # A finished trial never changes: each is encoded once per search space.
        return state.encoded.setdefault(tuple(search_space.items()), {})

    def _maximize(self, view, trial: FrozenTrial, search_space: dict[str, Distribution],
                  space: UnitSpace, state: _StudyState, rng: np.random.Generator
                  ) -> tuple[np.ndarray, Acquisition] | None:
        """The model of the COMPLETE trials: its best point and the acquisition it maximizes;
        None before the start-up is over."""
        encoded = self._encoded(state, search_space, space)
        rows = []
        for t in view.finished_log:
            if t.state != TrialState.COMPLETE:
                continue
            if t.trial_id not in encoded:
                encoded[t.trial_id] = space.encode(t.params)
            x = encoded[t.trial_id]
            if x is not None and np.all(np.isfinite(t.values)):
                rows.append((x, t))
        if len(rows) < self._n_startup_trials:
            return None
        points = np.array([x for x, _ in rows])
        trials = [t for _, t in rows]
        key = tuple(search_space)
        losses = _losses(trials, view.directions, rng)
        objective = self._fit(state, (key, "objective"), space.categorical, points,
                              _objective_targets(losses))
        constraint_models = self._constraint_models(state, key, space, points, trials)
        feasible = np.ones(len(trials), dtype=bool)
        for model, threshold in constraint_models:
            feasible &= model.values <= threshold

        observed = objective.values
        pending = self._pending_points(view, trial, space)
        if len(pending):
            objective, constraint_models, believed, believed_feasible = _believe(
                pending, objective, constraint_models)
            observed = np.concatenate([observed, believed])
            feasible = np.concatenate([feasible, believed_feasible])
        best = float(observed[feasible].min()) if feasible.any() else None
        acquisition = _acquisition(objective, best, constraint_models)
        n = len(trials)
        ranked = np.argsort(np.where(feasible[:n], observed[:n], np.inf))[:_N_INCUMBENTS]
        return maximize(acquisition, space, points[ranked], rng), acquisition

    def _multi_fidelity(self, view, state: _StudyState) -> bool:
        """Whether the model adds the budget axis: one objective, no constraints and a PRUNED
        trial with a finite intermediate value. With constraints the model keeps to COMPLETE
        trials (a pruned trial's constraint values are those of an unfinished run); several
        objectives too (intermediate values hold one objective). Once on, it stays on."""
        if self._constraints_func is not None or len(view.directions) != 1:
            return False
        if not state.multi_fidelity:
            finished = view.finished_log
            state.multi_fidelity = has_pruned_observation(finished[state.fidelity_read:])
            state.fidelity_read = len(finished)
        return state.multi_fidelity

    def _maximize_multi_fidelity(self, view, trial: FrozenTrial,
                                 search_space: dict[str, Distribution], space: UnitSpace,
                                 state: _StudyState, rng: np.random.Generator
                                 ) -> tuple[np.ndarray, Acquisition] | None:
        """The model of every finished trial at the budget it reached (``fidelity.py``): log EI
        of the prediction at the full budget, below the best posterior mean at the full budget
        among the configurations that ran to the end (the plug-in incumbent for noisy
        observations, Picheny et al. 2013; among all observed ones while fewer than a tenth of
        the observations are COMPLETE). A pruned
        trial's low-budget loss is no value a proposal can beat, and its full-budget mean is an
        extrapolation: as the incumbent it pushed proposals to explore where trials had been
        pruned early, which the pruner then stopped early again."""
        encoded = self._encoded(state, search_space, space)
        observed = []
        rows = []
        for o in observations(view.finished_log, view.directions[0]):
            t = o.trial
            if t.trial_id not in encoded:
                encoded[t.trial_id] = space.encode(t.params)
            x = encoded[t.trial_id]
            if x is not None:
                observed.append(o)
                rows.append(x)
        if len(observed) < self._n_startup_trials:
            return None
        budget = budgets(observed)
        kept = keep(observed, budget)
        configurations = np.array(rows)[kept]
        points = with_budget(configurations, budget[kept])
        state.offsets.update(view.finished_log, view.directions[0])
        complete = np.array([observed[i].trial.state == TrialState.COMPLETE for i in kept])
        # A COMPLETE trial's own final value has no offset, whatever step it last reported.
        steps = [None if done else observed[i].step for i, done in zip(kept, complete)]
        losses = np.array([observed[i].loss for i in kept]) - state.offsets.at(steps)
        categorical = np.append(space.categorical, False)
        model = self._fit(state, (tuple(search_space), "objective", "budget"), categorical,
                          points, _objective_targets(losses), size=len(observed))
        full = AtFullBudget(model)
        pending = self._pending_points(view, trial, space)
        if len(pending):
            # The constant liar at the full budget: a running trial is believed to reach the
            # end with the model's prediction there.
            believed = full.predict(pending)[0]
            full = AtFullBudget(model.condition_on(with_budget(pending, FULL_BUDGET), believed))
            configurations = np.vstack([configurations, pending])
            complete = np.concatenate([complete, np.ones(len(pending), dtype=bool)])
        means = full.predict(configurations)[0]
        # The few COMPLETE trials under a pruner that stops nearly every trial at its first
        # rungs (ASHA: about 1 in 13 here) are mostly the start-up's random ones, a poor
        # reference: then every observed configuration counts.
        if complete[:len(kept)].sum() >= _MIN_COMPLETE_SHARE * len(kept):
            best = float(means[complete].min())
        else:
            best = float(means.min())
        acquisition = _acquisition(full, best, [])
        ranked = configurations[np.argsort(means)[:_N_INCUMBENTS]]
        return maximize(acquisition, space, ranked, rng), acquisition

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        if self._warn_independent_sampling and sum(
                t.state == TrialState.COMPLETE for t in view.trials) >= self._n_startup_trials:
            warnings.warn(
                f"GPSampler leaves {name!r} of trial {trial.number} to its independent "
                "sampler: the GP models the params every completed trial has, with the same "
                "domain.", stacklevel=3)
        return self._independent.sample_independent(view, trial, name, distribution)

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        self._randomness.forget(trial)
        return self._independent.after_trial(view, trial, state, values)

    # -- the models ----------------------------------------------------------------------------

    def _fit(self, state: _StudyState, key: tuple, categorical: np.ndarray, points: np.ndarray,
             values: np.ndarray, size: int | None = None) -> GaussianProcess:
        """A GP on the points; its hyperparameters are refit while the study is small and then
        each time it has grown by a fraction, since one more point barely moves them and a
        fit costs many O(n^3) factorizations. ``size`` counts the observations before any was
        left out (default: the points), so a capped model is still refit as the study grows."""
        size = len(values) if size is None else size
        previous = state.hyperparameters.get(key)
        if previous is not None and size > _ALWAYS_REFIT and size < previous[1] * _REFIT_GROWTH:
            return GaussianProcess(points, values, categorical, previous[0])
        model = GaussianProcess.fit(points, values, categorical,
                                    start=None if previous is None else previous[0],
                                    deterministic=self._deterministic)
        state.hyperparameters[key] = (model.hyperparameters, size)
        return model

    def _constraint_models(self, state: _StudyState, key: tuple, space: UnitSpace,
                           points: np.ndarray, trials: list[FrozenTrial]
                           ) -> list[tuple[GaussianProcess, float]]:
        """One GP per constraint on its standardized values, with the feasibility threshold
        (0 in the user's units) in the same standardized units."""
        constraints_func = self._constraints_func
        if constraints_func is None:
            return []
        values = np.array([self._constraint_values(state, constraints_func, t) for t in trials],
                          dtype=float)
        models = []
        for j in range(values.shape[1]):
            column = values[:, j]
            mean, scale = float(column.mean()), float(column.std()) or 1.0
            model = self._fit(state, (key, "constraint", j), space.categorical, points,
                              (column - mean) / scale)
            models.append((model, -mean / scale))
        return models

    def _constraint_values(self, state: _StudyState, constraints_func: ConstraintsFunc,
                           trial: FrozenTrial) -> tuple[float, ...]:
        cached = state.constraints.get(trial.trial_id)
        if cached is None:
            raw = constraints_func(trial)
            try:
                cached = tuple(float(v) for v in raw)
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"constraints_func must return a sequence of numbers for trial "
                    f"{trial.number}. Got {raw!r}.") from None
            if not cached or not all(np.isfinite(cached)):
                raise InvalidArgumentError(
                    f"constraints_func must return at least one finite number (<= 0 means "
                    f"feasible) for trial {trial.number}. Got {raw!r}.")
            state.constraints[trial.trial_id] = cached
        return cached

    def _pending_points(self, view, trial: FrozenTrial, space: UnitSpace) -> np.ndarray:
        """Points of the other RUNNING trials, when the constant liar is on."""
        if self._constant_liar is False:
            return np.empty((0, space.dim))
        rows = [space.encode(t.params) for t in view.unfinished
                if t.state == TrialState.RUNNING and t.trial_id != trial.trial_id]
        rows = [r for r in rows if r is not None]
        return np.array(rows) if rows else np.empty((0, space.dim))


def _believe(pending: np.ndarray, objective: GaussianProcess,
             constraint_models: list[tuple[GaussianProcess, float]]):
    """The Kriging believer (Ginsbourger et al. 2010): each running trial counts as having
    returned the models' predictions, also as a candidate incumbent, so expected improvement
    near it drops to about nothing. Returns the conditioned models, the believed objective
    values and whether each running trial is believed feasible."""
    believed = objective.predict(pending)[0]
    feasible = np.ones(len(pending), dtype=bool)
    conditioned = []
    for model, threshold in constraint_models:
        believed_constraint = model.predict(pending)[0]
        feasible &= believed_constraint <= threshold
        conditioned.append((model.condition_on(pending, believed_constraint), threshold))
    return objective.condition_on(pending, believed), conditioned, believed, feasible


class _Model(Protocol):
    """What the acquisition needs of a model: a GP, or a GP over (params, budget) read at the
    full budget."""

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def predict_with_gradients(self, points: np.ndarray) -> tuple[np.ndarray, ...]: ...


def _unseen(view, trial: FrozenTrial, search_space: dict[str, Distribution], space: UnitSpace,
            acquisition: Acquisition, point: np.ndarray, params: dict[str, Any],
            rng: np.random.Generator, run_configurations: RunConfigurations) -> dict[str, Any]:
    """``params`` unless the study already ran that configuration of a finite space; then the
    candidate of highest acquisition that it has not, when the candidates hold one. On a grid
    the acquisition's maximum often stays on a configuration already run (its noise-free value
    is known, but nearby the model still expects it best), and a repeat tells nothing new."""
    names = list(search_space)
    seen = run_configurations.of(view, names, exclude_trial_id=trial.trial_id)
    if configuration(params, names) not in seen:
        return params
    for candidate in ranked_candidates(acquisition, space, point, rng):
        decoded = space.decode(candidate)
        if configuration(decoded, names) not in seen:
            return decoded
    return params


def _acquisition(objective: _Model, best: float | None,
                 constraint_models: Sequence[tuple[_Model, float]]) -> Acquisition:
    """log EI below ``best`` plus the log probability that each constraint holds; with no
    feasible incumbent yet, the feasibility terms alone (find a feasible point first)."""
    # (model, score of its predicted mean and variance) per term of the sum.
    parts: list[tuple[_Model, Callable[[np.ndarray, np.ndarray], Scored]]] = []
    if best is not None:
        parts.append((objective, functools.partial(log_expected_improvement, best=best)))
    parts += [(model, functools.partial(log_probability_of_feasibility, threshold=threshold))
              for model, threshold in constraint_models]

    def acquisition(x: np.ndarray, with_gradient: bool) -> tuple[np.ndarray, np.ndarray | None]:
        value = np.zeros(len(x))
        gradient = np.zeros_like(x) if with_gradient else None
        for model, score in parts:
            if with_gradient:
                mean, variance, mean_grad, variance_grad = model.predict_with_gradients(x)
            else:
                mean, variance = model.predict(x)
            part = score(mean, variance)
            value += part.value
            if with_gradient:
                gradient += (part.d_mean[:, None] * mean_grad
                             + part.d_variance[:, None] * variance_grad)
        return value, gradient

    return acquisition


def _standardize(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance after a Yeo-Johnson power transform (Yeo & Johnson 2000):
    it is monotone, so the best trial stays the best, and it spreads the small differences
    near the optimum that a few huge values would otherwise flatten (as HEBO does,
    Cowen-Rivers et al. 2022). A constant objective becomes all zeros."""
    scale = float(values.std())
    if not scale > 0:
        return np.zeros_like(values)
    warped = _yeo_johnson((values - values.mean()) / scale)
    return (warped - warped.mean()) / float(warped.std())


def _objective_targets(losses: np.ndarray) -> np.ndarray:
    """The standardized losses shifted so that the worst is 0, which makes the GP's zero prior
    mean the worst loss observed: far from every observation the model expects nothing better
    than the worst point seen, so expected improvement there comes from the variance alone and
    no longer draws trials to the corners of the space (De Ath et al. 2020, "What do you mean?
    The role of the mean function in Bayesian optimisation", found this mean the best of those
    compared). On benchmarks/quality.py --suite gp it cut the median regret at 50 trials by 4x
    on Rosenbrock 5D (trials had gone to the corners, where the function is largest), by 75x
    on Hartmann6 and from 5.7 to 3.1 on Ackley 5D."""
    targets = _standardize(losses)
    return targets - targets.max()


_LAMBDAS = np.linspace(-2.0, 2.0, 41)


def _yeo_johnson(x: np.ndarray) -> np.ndarray:
    """The Yeo-Johnson transform of ``x`` with the exponent of highest profile likelihood on a
    grid (a grid instead of a 1-D optimizer: vectorized, and precise enough for a warp)."""
    positive = x >= 0
    lam = _LAMBDAS[:, None]
    with np.errstate(all="ignore"):
        pos = np.where(np.abs(lam) < 1e-12, np.log1p(np.abs(x)),
                       ((1.0 + np.abs(x)) ** lam - 1.0) / np.where(lam == 0, 1.0, lam))
        lam2 = 2.0 - lam
        neg = np.where(np.abs(lam2) < 1e-12, -np.log1p(np.abs(x)),
                       -((1.0 + np.abs(x)) ** lam2 - 1.0) / np.where(lam2 == 0, 1.0, lam2))
        transformed = np.where(positive, pos, neg)  # (n_lambdas, n)
        variance = transformed.var(axis=1)
        jacobian = (lam[:, 0] - 1.0) * np.sum(np.sign(x) * np.log1p(np.abs(x)))
        likelihood = -0.5 * len(x) * np.log(variance) + jacobian
    likelihood = np.where(np.isfinite(likelihood) & (variance > 0), likelihood, -np.inf)
    if not np.isfinite(likelihood).any():
        return x
    return transformed[int(np.argmax(likelihood))]


def _losses(trials: list[FrozenTrial], directions: Sequence[StudyDirection],
            rng: np.random.Generator) -> np.ndarray:
    """One loss per trial (smaller is better): the signed value for one objective; for several,
    ParEGO's augmented Chebyshev scalarization of the objectives normalized to [0, 1] with a
    weight vector drawn uniformly from the simplex (Knowles 2006)."""
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    values = np.array([t.values for t in trials], dtype=float) * signs
    if len(signs) == 1:
        return values[:, 0]
    low, high = values.min(axis=0), values.max(axis=0)
    normalized = (values - low) / np.where(high > low, high - low, 1.0)
    weights = rng.dirichlet(np.ones(len(signs)))
    weighted = normalized * weights
    return weighted.max(axis=1) + _PAREGO_RHO * weighted.sum(axis=1)
