"""CMA-ES: the evolution strategy for continuous and integer spaces with larger budgets.

Each generation draws ``lambda`` points from a Gaussian over the unit cube (see
``_encoding.py``), hands one to each trial, and once all have finished moves the mean, the
step size and the covariance towards the best half (Hansen 2016, "The CMA evolution strategy:
a tutorial", with its default settings). When a run stalls (step size or spread of values
vanishing, covariance ill-conditioned) it restarts from a random mean with twice the
population (IPOP-CMA-ES, Auger & Hansen 2005). Integer and stepped params get a margin: their
marginal spread is kept wide enough that a sample leaves the mean's grid cell with probability
at least 1 / (n lambda), so rounding cannot freeze them (Hamano et al. 2022, "CMA-ES with
margin", here the diagonal correction only). Categorical params, and params outside the space
every trial shares, come from ``independent_sampler``.

The evolution's state lives in this sampler object: processes sharing a study each run their
own evolution on the trials they proposed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._encoding import UnitSpace
from pipetune.samplers._intersection import IntersectionSearchSpace
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.random import RandomSampler

_TOL_X = 1e-11  # restart when sigma * the largest axis of C is below this (unit cube)
_TOL_FUN = 1e-12  # ... or a generation's values all lie within this
_MAX_CONDITION = 1e14  # ... or the covariance is this ill-conditioned
_MAX_RESAMPLES = 100  # draws tried to land inside the cube before clipping


class _Evolution:
    """One CMA-ES run (Hansen 2016, Table 1 defaults) on the unit cube of ``dim`` axes."""

    def __init__(self, mean: np.ndarray, sigma: float, population: int,
                 cells: list[np.ndarray | None]) -> None:
        n = len(mean)
        self.population = population
        self.mean, self.sigma = mean.astype(float), float(sigma)
        self.cov = np.eye(n)
        self.basis, self.scales = np.eye(n), np.ones(n)
        self.path_sigma, self.path_c = np.zeros(n), np.zeros(n)
        self.margin = np.ones(n)
        self.generation = 0
        self.cells = cells  # per axis: sorted grid-cell edges in unit coordinates, or None
        mu = population // 2
        weights = math.log((population + 1) / 2) - np.log(np.arange(1, mu + 1))
        self.weights = weights / weights.sum()
        self.mu_eff = 1.0 / float(np.sum(self.weights ** 2))
        me = self.mu_eff
        self.c_sigma = (me + 2) / (n + me + 5)
        self.d_sigma = 1 + 2 * max(0.0, math.sqrt((me - 1) / (n + 1)) - 1) + self.c_sigma
        self.c_c = (4 + me / n) / (n + 4 + 2 * me / n)
        self.c_1 = 2 / ((n + 1.3) ** 2 + me)
        self.c_mu = min(1 - self.c_1, 2 * (me - 2 + 1 / me) / ((n + 2) ** 2 + me))
        self.expected_norm = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self._apply_margin()

    def ask(self, rng: np.random.Generator) -> np.ndarray:
        """One candidate inside the cube (redrawn while outside, clipped at last)."""
        for _ in range(_MAX_RESAMPLES):
            y = self.basis @ (self.scales * rng.standard_normal(len(self.mean)))
            x = self.mean + self.sigma * self.margin * y
            if np.all((x >= 0) & (x <= 1)):
                return x
        return np.clip(x, 0.0, 1.0)

    def tell(self, points: np.ndarray, losses: np.ndarray) -> None:
        """Updates the distribution from one generation's points and their losses."""
        n = len(self.mean)
        order = np.argsort(losses, kind="stable")[:len(self.weights)]
        steps = (points[order] - self.mean) / (self.sigma * self.margin)
        step = self.weights @ steps
        self.mean = self.mean + self.sigma * self.margin * step
        inv_sqrt = self.basis @ np.diag(1 / self.scales) @ self.basis.T
        self.path_sigma = ((1 - self.c_sigma) * self.path_sigma
                           + math.sqrt(self.c_sigma * (2 - self.c_sigma) * self.mu_eff)
                           * (inv_sqrt @ step))
        norm = float(np.linalg.norm(self.path_sigma))
        self.generation += 1
        h_sigma = norm / math.sqrt(1 - (1 - self.c_sigma) ** (2 * self.generation)) \
            < (1.4 + 2 / (n + 1)) * self.expected_norm
        self.path_c = ((1 - self.c_c) * self.path_c
                       + h_sigma * math.sqrt(self.c_c * (2 - self.c_c) * self.mu_eff) * step)
        rank_mu = (steps * self.weights[:, None]).T @ steps
        decay = 1 - self.c_1 - self.c_mu + (1 - h_sigma) * self.c_1 * self.c_c * (2 - self.c_c)
        self.cov = (decay * self.cov + self.c_1 * np.outer(self.path_c, self.path_c)
                    + self.c_mu * rank_mu)
        self.cov = (self.cov + self.cov.T) / 2
        self.sigma *= math.exp(min(1.0, self.c_sigma / self.d_sigma
                                   * (norm / self.expected_norm - 1)))
        eigenvalues, self.basis = np.linalg.eigh(self.cov)
        self.scales = np.sqrt(np.maximum(eigenvalues, 1e-30))
        self._apply_margin()

    def _apply_margin(self) -> None:
        """Widens integer axes whose samples would almost never leave the mean's grid cell
        (Hamano et al. 2022: probability at least 1 / (n lambda) of a different value)."""
        alpha = 1.0 / (len(self.mean) * self.population)
        spread = self.sigma * np.sqrt(np.diag(self.cov))
        margin = np.ones(len(self.mean))
        for j, edges in enumerate(self.cells):
            if edges is None or spread[j] <= 0:
                continue
            k = int(np.clip(np.searchsorted(edges, self.mean[j]) - 1, 0, len(edges) - 2))
            low, high = edges[k], edges[k + 1]
            leave = ndtr((low - self.mean[j]) / spread[j]) \
                + ndtr((self.mean[j] - high) / spread[j])
            if leave < alpha:
                nearest = min(self.mean[j] - low, high - self.mean[j])
                margin[j] = max(1.0, nearest / float(ndtri(1 - alpha)) / spread[j])
        self.margin = margin

    def stalled(self, losses: np.ndarray) -> bool:
        return (self.sigma * float(self.scales.max()) < _TOL_X
                or float(np.ptp(losses)) < _TOL_FUN
                or float(self.scales.max() / self.scales.min()) ** 2 > _MAX_CONDITION)


@dataclass
class _Run:
    """The evolution of one study: the current run and generation, which trial holds which
    candidate, and the results in so far."""

    names: tuple[str, ...]
    space: UnitSpace
    evolution: _Evolution
    restarts: int = 0
    candidates: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    holders: dict[int, int] = field(default_factory=dict)  # trial_id -> candidate index
    losses: dict[int, float] = field(default_factory=dict)  # candidate index -> loss
    read: int = 0  # how much of finished_log has been consumed


class CmaEsSampler(BaseSampler):
    """CMA-ES with IPOP restarts for one objective over float and int params.

    Args:
        seed: makes a study reproducible (every draw derives from the seed, the restart and
            the generation).
        sigma0: initial step size as a fraction of each param's range (default 1/6).
        population_size: points per generation of the first run (default 4 + 3 ln n);
            each restart doubles it.
        restart: restart a stalled run with a doubled population (IPOP); False keeps going.
        independent_sampler: samples categorical params, params outside the shared space,
            and the first trial (before the space is known); random by default.
    """

    def __init__(self, seed: int | None = None, sigma0: float | None = None,
                 population_size: int | None = None, restart: bool = True,
                 independent_sampler: BaseSampler | None = None) -> None:
        if sigma0 is not None and not 0 < sigma0 <= 1:
            raise InvalidArgumentError(
                f"The 'sigma0' argument of CmaEsSampler must be in (0, 1], a fraction of each "
                f"param's range. Got {sigma0!r}.")
        if population_size is not None and (isinstance(population_size, bool) or not isinstance(
                population_size, int) or population_size < 2):
            raise InvalidArgumentError(
                f"The 'population_size' argument of CmaEsSampler must be an int >= 2. "
                f"Got {population_size!r}.")
        self._randomness = TrialRandomness(seed)
        self._independent = independent_sampler or RandomSampler(seed=self._randomness.seed)
        self._sigma0 = 1.0 / 6.0 if sigma0 is None else float(sigma0)
        self._population_size = population_size
        self._restart = restart
        self._spaces: dict[int, IntersectionSearchSpace] = {}
        self._runs: dict[int, _Run] = {}
        self._lock = threading.Lock()

    def infer_relative_search_space(self, study, trial: FrozenTrial) -> dict[str, Distribution]:
        if study.is_multi_objective:
            raise InvalidArgumentError(
                "CmaEsSampler optimizes one objective; for several use TPESampler or GPSampler.")
        with self._lock:
            space = self._spaces.setdefault(study.history_key, IntersectionSearchSpace())
        return {name: d for name, d in space.update(study.finished_log).items()
                if not isinstance(d, CategoricalDistribution)}

    def sample_relative(self, study, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        with self._lock:
            run = self._run_for(study, search_space)
            self._absorb(run, study)
            point = self._hand_out(run, trial)
        return run.space.decode(point)

    def sample_independent(self, study, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        return self._independent.sample_independent(study, trial, name, distribution)

    def after_trial(self, study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._randomness.forget(trial)
        self._independent.after_trial(study, trial, state, values)

    # -- the evolution ---------------------------------------------------------------------

    def _run_for(self, study, search_space: dict[str, Distribution]) -> _Run:
        run = self._runs.get(study.history_key)
        names = tuple(search_space)
        if run is None or run.names != names:  # a new study, or its shared space changed
            space = UnitSpace.of(search_space)
            run = _Run(names, space, self._new_evolution(space, 0, np.full(space.dim, 0.5)),
                       read=len(study.finished_log))
            self._runs[study.history_key] = run
            self._new_generation(run)
        return run

    def _new_evolution(self, space: UnitSpace, restarts: int, mean: np.ndarray) -> _Evolution:
        n = space.dim
        base = self._population_size or 4 + int(3 * math.log(n))
        return _Evolution(mean, self._sigma0, base * 2 ** restarts,
                          [_cell_edges(space, j) for j in range(n)])

    def _generation_rng(self, run: _Run) -> np.random.Generator:
        return np.random.default_rng(
            [self._randomness.seed, run.restarts, run.evolution.generation])

    def _new_generation(self, run: _Run) -> None:
        rng = self._generation_rng(run)
        run.candidates = np.array([run.evolution.ask(rng)
                                   for _ in range(run.evolution.population)])
        run.holders, run.losses = {}, {}

    def _absorb(self, run: _Run, study) -> None:
        """Reads newly finished trials; a complete generation updates the evolution."""
        sign = 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0
        for t in study.finished_log[run.read:]:
            index = run.holders.get(t.trial_id)
            if index is None:
                continue
            ok = t.state == TrialState.COMPLETE and t.values and math.isfinite(t.values[0])
            # A failed or pruned candidate ranks last: CMA-ES only uses the order.
            run.losses[index] = sign * t.values[0] if ok else math.inf
        run.read = len(study.finished_log)
        if len(run.losses) < len(run.candidates):
            return
        losses = np.array([run.losses[i] for i in range(len(run.candidates))])
        finite = np.isfinite(losses)
        if finite.any():
            losses = np.where(finite, losses, losses[finite].max() + 1.0)
            run.evolution.tell(run.candidates, losses)
        if self._restart and (not finite.any() or run.evolution.stalled(losses)):
            run.restarts += 1
            mean = self._generation_rng(run).random(run.space.dim)
            run.evolution = self._new_evolution(run.space, run.restarts, mean)
        self._new_generation(run)

    def _hand_out(self, run: _Run, trial: FrozenTrial) -> np.ndarray:
        """The next candidate nobody holds; when all are out (more trials running than the
        population), an extra draw from the current distribution that the update ignores."""
        if trial.trial_id in run.holders:
            return run.candidates[run.holders[trial.trial_id]]
        index = len(run.holders)
        if index < len(run.candidates):
            run.holders[trial.trial_id] = index
            return run.candidates[index]
        return run.evolution.ask(self._randomness.for_trial(trial, "cmaes"))


def _cell_edges(space: UnitSpace, j: int) -> np.ndarray | None:
    """The edges of the grid cells of discrete axis ``j`` in unit coordinates (None for a
    continuous axis): the midpoints between neighbouring grid values, plus 0 and 1."""
    if not space.discrete[j]:
        return None
    axis = space.axes[j]
    d = axis.distribution
    step = d.step if d.step is not None else 1
    n_values = int(round((d.high - d.low) / step)) + 1
    if n_values > 10_000:  # so fine a grid is continuous for CMA-ES
        return None
    values = d.low + step * np.arange(n_values, dtype=float)
    mids = (values[:-1] + values[1:]) / 2
    coordinates = np.log(mids) if axis.log else mids
    inner = (coordinates - axis.low) / (axis.high - axis.low)
    return np.concatenate([[0.0], inner, [1.0]])
