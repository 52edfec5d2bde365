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

The evolution lives in the study, not in this object. Each trial it proposes records in its
system attr ``cmaes`` which draw it holds: the space, the restart, the generation, its index in
the generation, the unit-cube point before rounding, and the seed. The state is replayed from
the finished trials carrying such a record, generation by generation from the seeded start
(a generation counts once all its ``lambda`` draws have finished), and cached per study so a
trial reads only what finished since the last one. So a study resumed in a new process
continues exactly, and workers sharing a study (threads, processes, machines) run one
evolution: each index is claimed atomically in the storage, never handed out twice. A draw
derives from the seed, the restart and the generation alone; the seed is the one the study's
first draw was made with, so workers created without a seed still agree. A trial started while
every index of the current generation is out gets an extra draw from the current
distribution, which no update uses.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import numpy as np
from scipy.special import ndtr, ndtri

from pipetune._attrs import CMAES_ATTR
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._encoding import UnitSpace
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.random import RandomSampler
from pipetune.search_space import IntersectionSearchSpace

_TOL_X = 1e-11  # restart when sigma * the largest axis of C is below this (unit cube)
_TOL_FUN = 1e-12  # ... or a generation's values all lie within this
_MAX_CONDITION = 1e14  # ... or the covariance is this ill-conditioned
_MAX_RESAMPLES = 100  # draws tried to land inside the cube before clipping


class _Evolution:
    """One CMA-ES run (Hansen 2016, Table 1 defaults) on the unit cube of ``dim`` axes."""

    def __init__(self, mean: np.ndarray, sigma: float, population: int,
                 cells: list[np.ndarray | None], separable: bool = False) -> None:
        n = len(mean)
        self.separable = separable
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
        if separable:
            # A diagonal covariance has n parameters instead of n^2 / 2, so it can learn
            # (n + 2) / 3 times faster (Ros & Hansen 2008, "A simple modification in CMA-ES
            # achieving linear time and space complexity"), within c_1 + c_mu <= 1.
            speed = (n + 2) / 3
            scale = min(speed, 1 / (self.c_1 + self.c_mu))
            self.c_1, self.c_mu = self.c_1 * scale, self.c_mu * scale
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
        self.cov = np.diag(np.diag(self.cov)) if self.separable else (self.cov + self.cov.T) / 2
        self.sigma *= math.exp(min(1.0, self.c_sigma / self.d_sigma
                                   * (norm / self.expected_norm - 1)))
        eigenvalues, self.basis = np.linalg.eigh(self.cov)
        self.scales = np.sqrt(np.maximum(eigenvalues, 1e-30))
        self._apply_margin()

    def _apply_margin(self) -> None:
        """Widens integer axes whose samples would almost never leave the mean's grid cell
        (Hamano et al. 2022: probability at least 1 / (n lambda) of a different value); an
        axis without cell edges (continuous, or margin turned off) keeps 1."""
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
class _Lineage:
    """The evolution of one study over one shared space, as replayed from the trials' records:
    the current run and generation, and the finished draws not replayed yet."""

    space: UnitSpace
    distributions: dict[str, Distribution]
    space_key: str
    evolution: _Evolution
    seed: int | None = None  # the seed the study's first draw was made with, once known
    restarts: int = 0
    # (restart, generation) -> index -> (unit-cube point, loss), for generations not yet used
    finished: dict[tuple[int, int], dict[int, tuple[np.ndarray, float]]] = field(
        default_factory=dict)
    draws: tuple[int, np.ndarray] | None = None  # (seed, the current generation's draws)
    next_index: int = 0  # the current generation's indices below this are claimed
    read: int = 0  # how much of finished_log has been replayed


class CmaEsSampler(BaseSampler):
    """CMA-ES with IPOP restarts for one objective over float and int params.

    Args:
        seed: makes a study reproducible (every draw derives from the seed, the restart and
            the generation). A study keeps the seed its first draw was made with, so a
            resumed study or a second worker continues the same evolution.
        sigma0: initial step size as a fraction of each param's range (default 1/6).
        population_size: points per generation of the first run (default 4 + 3 ln n);
            each restart doubles it.
        restart: restart a stalled run with a doubled population (IPOP); False keeps going.
        independent_sampler: samples categorical params, params outside the shared space,
            and the first trial (before the space is known); random by default.

    Optuna's keywords, keyword-only:

    Args:
        n_startup_trials: trials drawn by ``independent_sampler`` before the evolution starts
            (it starts once this many trials completed; at least one, which gives the space).
        x0: initial values of params (name -> value) for the first run's mean; the others
            start mid-range. Restarts start from random means.
        popsize: ``population_size`` under Optuna's name.
        inc_popsize: the factor a restart multiplies the population by (default 2).
        restart_strategy: None (keep ``restart``) or "ipop" (restart, as ``restart=True``).
        use_separable_cma: a diagonal covariance learnt faster (Ros & Hansen 2008): better on
            separable problems and in many dimensions.
        with_margin: False turns off the margin that keeps integer and stepped params from
            freezing (on by default here, unlike Optuna).
        consider_pruned_trials: rank a pruned draw by its last reported value instead of
            last of its generation.
        warn_independent_sampling: warn when a param of a trial of the evolution is drawn by
            ``independent_sampler`` (a categorical or conditional param).
        lr_adapt, source_trials: not supported (a clear error): learning-rate adaptation
            (Nomura et al. 2023) and warm starts from other studies (Nomura et al. 2021).
    """

    def __init__(self, seed: int | None = None, sigma0: float | None = None,
                 population_size: int | None = None, restart: bool = True,
                 independent_sampler: BaseSampler | None = None, *,
                 n_startup_trials: int = 1, x0: dict[str, Any] | None = None,
                 popsize: int | None = None, inc_popsize: int = -1,
                 restart_strategy: str | None = None, use_separable_cma: bool = False,
                 with_margin: bool = True, consider_pruned_trials: bool = False,
                 warn_independent_sampling: bool = False, lr_adapt: bool = False,
                 source_trials: Sequence[FrozenTrial] | None = None) -> None:
        if lr_adapt:
            raise InvalidArgumentError(
                "CmaEsSampler(lr_adapt=True) is not supported: leave it out, or use "
                "use_separable_cma=True or restarts (the default) for hard problems.")
        if source_trials is not None:
            raise InvalidArgumentError(
                "CmaEsSampler(source_trials=...) (warm starting) is not supported: enqueue the "
                "best params of the other study (study.enqueue_trial) or pass x0= instead.")
        if popsize is not None:
            if population_size is not None and population_size != popsize:
                raise InvalidArgumentError(
                    "CmaEsSampler got both population_size and popsize (the same setting "
                    "under two names): give one.")
            population_size = popsize
        if restart_strategy not in (None, "ipop"):
            raise InvalidArgumentError(
                f"The 'restart_strategy' argument of CmaEsSampler must be None or 'ipop' "
                f"(BIPOP is not supported). Got {restart_strategy!r}.")
        if restart_strategy == "ipop":
            restart = True
        if isinstance(inc_popsize, bool) or not isinstance(inc_popsize, int) \
                or not (inc_popsize == -1 or inc_popsize >= 1):
            raise InvalidArgumentError(
                f"The 'inc_popsize' argument of CmaEsSampler must be an int >= 1 (or -1 for "
                f"the default, 2). Got {inc_popsize!r}.")
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) \
                or n_startup_trials < 0:
            raise InvalidArgumentError(
                f"The 'n_startup_trials' argument of CmaEsSampler must be an int >= 0. "
                f"Got {n_startup_trials!r}.")
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
        self._growth = 2 if inc_popsize == -1 else inc_popsize
        self._n_startup_trials = n_startup_trials
        self._x0 = dict(x0 or {})
        self._separable = bool(use_separable_cma)
        self._with_margin = bool(with_margin)
        self._consider_pruned_trials = bool(consider_pruned_trials)
        self._warn_independent_sampling = bool(warn_independent_sampling)
        self._spaces: dict[int, IntersectionSearchSpace] = {}
        self._lineages: dict[int, dict[str, _Lineage]] = {}  # history_key -> space key -> ...
        self._space_keys: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def before_trial(self, view, trial: FrozenTrial) -> dict[str, Any]:
        """Gives the trial the next draw of the study's evolution and records which one."""
        if view.is_multi_objective:
            return {}  # infer_relative_search_space says why
        search_space = self._shared_space(view)
        if not search_space or self._starting_up(view):
            return {}
        with self._lock:
            lineage = self._lineage_for(view, search_space)
            self._replay(lineage, view)
            return {CMAES_ATTR: self._propose(lineage, view, trial)}

    def infer_relative_search_space(self, view, trial: FrozenTrial) -> dict[str, Distribution]:
        if view.is_multi_objective:
            raise InvalidArgumentError(
                "CmaEsSampler optimizes one objective; for several use TPESampler or GPSampler.")
        record = trial.system_attrs.get(CMAES_ATTR)
        space_key = record.get("space") if isinstance(record, dict) else None
        if isinstance(space_key, str):  # the space the trial's draw was made in
            with self._lock:
                lineage = self._lineages.get(view.history_key, {}).get(space_key)
            if lineage is not None:
                return dict(lineage.distributions)
        return {} if self._starting_up(view) else self._shared_space(view)

    def sample_relative(self, view, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        record = trial.system_attrs.get(CMAES_ATTR)
        with self._lock:
            lineage = self._lineage_for(view, search_space)
            if isinstance(record, dict) and record.get("space") == lineage.space_key:
                point = np.array(record["point"], dtype=float)
            else:  # the shared space changed after the trial started: an unrecorded extra draw
                self._replay(lineage, view)
                point = lineage.evolution.ask(self._randomness.for_trial(trial, "cmaes"))
        return lineage.space.decode(point)

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        if self._warn_independent_sampling and CMAES_ATTR in trial.system_attrs:
            warnings.warn(
                f"CmaEsSampler leaves {name!r} of trial {trial.number} to its independent "
                "sampler: CMA-ES models the float and int params every completed trial has, "
                "not categorical or conditional ones.", stacklevel=3)
        return self._independent.sample_independent(view, trial, name, distribution)

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        self._randomness.forget(trial)
        return self._independent.after_trial(view, trial, state, values)

    def _starting_up(self, view) -> bool:
        """Whether fewer than ``n_startup_trials`` trials have completed."""
        if not self._n_startup_trials:
            return False
        complete = (t for t in view.trials if t.state == TrialState.COMPLETE)
        return next(itertools.islice(complete, self._n_startup_trials - 1, None), None) is None

    # -- the evolution, replayed from the study ---------------------------------------------

    def _shared_space(self, view) -> dict[str, Distribution]:
        with self._lock:
            space = self._spaces.setdefault(
                view.history_key, IntersectionSearchSpace(self._consider_pruned_trials))
        return {name: d for name, d in space.update(view.finished_log).items()
                if not d.single() and not isinstance(d, CategoricalDistribution)}

    def _lineage_for(self, view, search_space: dict[str, Distribution]) -> _Lineage:
        items = tuple(search_space.items())
        key = self._space_keys.get(items)
        if key is None:
            key = self._space_keys[items] = _space_key(search_space)
        lineages = self._lineages.setdefault(view.history_key, {})
        lineage = lineages.get(key)
        if lineage is None:  # a new study, or its shared space changed: a fresh evolution
            space = UnitSpace.of(search_space)
            lineage = _Lineage(space, dict(search_space), key,
                               self._new_evolution(space, 0, self._initial_mean(space)))
            lineages[key] = lineage
        return lineage

    def _initial_mean(self, space: UnitSpace) -> np.ndarray:
        """The first run's mean: mid-range, or ``x0`` where it gives a param's value."""
        mean = np.full(space.dim, 0.5)
        for j, axis in enumerate(space.axes):
            if axis.name in self._x0:
                point = UnitSpace((axis,)).encode({axis.name: self._x0[axis.name]})
                if point is None:
                    raise InvalidArgumentError(
                        f"The 'x0' argument of CmaEsSampler gives {axis.name!r} the value "
                        f"{self._x0[axis.name]!r}, outside its domain {axis.distribution!r}.")
                mean[j] = point[0]
        return mean

    def _new_evolution(self, space: UnitSpace, restarts: int, mean: np.ndarray) -> _Evolution:
        n = space.dim
        base = self._population_size or 4 + int(3 * math.log(n))
        cells = [_cell_edges(space, j) if self._with_margin else None for j in range(n)]
        return _Evolution(mean, self._sigma0, base * self._growth ** restarts, cells,
                          separable=self._separable)

    def _replay(self, lineage: _Lineage, view) -> None:
        """Reads the trials finished since the last call; each generation all of whose draws
        have finished updates the evolution, in order."""
        sign = 1.0 if view.directions[0] == StudyDirection.MINIMIZE else -1.0
        for t in view.finished_log[lineage.read:]:
            slot = _slot(t.system_attrs.get(CMAES_ATTR), lineage.space_key)
            if slot is None:
                continue
            record, restart, generation, index = slot
            if (restart, generation) < (lineage.restarts, lineage.evolution.generation):
                continue  # a generation already replayed
            _adopt_seed(lineage, slot)
            value = _value_of(t, self._consider_pruned_trials)
            # A failed (or pruned) draw ranks last: CMA-ES only uses the order.
            loss = sign * value if value is not None and math.isfinite(value) else math.inf
            results = lineage.finished.setdefault((restart, generation), {})
            results.setdefault(index, (np.array(record["point"], dtype=float), loss))
        lineage.read = len(view.finished_log)
        while True:
            current = (lineage.restarts, lineage.evolution.generation)
            results = lineage.finished.get(current, {})
            if not all(i in results for i in range(lineage.evolution.population)):
                return
            del lineage.finished[current]
            self._update(lineage, results)

    def _update(self, lineage: _Lineage, results: dict[int, tuple[np.ndarray, float]]) -> None:
        """One complete generation moves the evolution on (or restarts it, IPOP)."""
        population = range(lineage.evolution.population)
        points = np.array([results[i][0] for i in population])
        losses = np.array([results[i][1] for i in population])
        finite = np.isfinite(losses)
        if finite.any():
            losses = np.where(finite, losses, losses[finite].max() + 1.0)
            lineage.evolution.tell(points, losses)
        if self._restart and (not finite.any() or lineage.evolution.stalled(losses)):
            lineage.restarts += 1
            mean = self._generation_rng(lineage, lineage.evolution.generation).random(
                lineage.space.dim)
            lineage.evolution = self._new_evolution(lineage.space, lineage.restarts, mean)
        elif not finite.any():  # nothing to learn from: draw a new generation all the same
            lineage.evolution.generation += 1
        lineage.draws, lineage.next_index = None, 0
        lineage.finished = {k: v for k, v in lineage.finished.items()
                            if k >= (lineage.restarts, lineage.evolution.generation)}

    def _seed(self, lineage: _Lineage) -> int:
        return self._randomness.seed if lineage.seed is None else lineage.seed

    def _generation_rng(self, lineage: _Lineage, generation: int) -> np.random.Generator:
        return np.random.default_rng([self._seed(lineage), lineage.restarts, generation])

    def _propose(self, lineage: _Lineage, view, trial: FrozenTrial) -> dict[str, Any]:
        """Claims the current generation's lowest free index for ``trial`` (the claim is
        atomic in the storage, so parallel workers never share one) and returns the record of
        its draw. With every index taken, an extra draw from the current distribution that
        no update uses."""
        restart, generation = lineage.restarts, lineage.evolution.generation
        population = lineage.evolution.population
        taken = set(lineage.finished.get((restart, generation), {}))
        for t in view.unfinished:
            slot = _slot(t.system_attrs.get(CMAES_ATTR), lineage.space_key)
            if slot is not None:
                _adopt_seed(lineage, slot)
                if slot[1:3] == (restart, generation):
                    taken.add(slot[3])
        index = lineage.next_index
        while index < population and (index in taken or not view.claim_key(
                f"cmaes:{lineage.space_key}:{restart}:{generation}:{index}", trial.trial_id)):
            index += 1
        lineage.next_index = min(index + 1, population)
        if index == 0 and (restart, generation) == (0, 0) and lineage.seed is None:
            lineage.seed = self._randomness.seed  # the study's first draw: its seed is ours
        seed = self._seed(lineage)
        if index < population:
            if lineage.draws is None or lineage.draws[0] != seed:
                rng = self._generation_rng(lineage, generation)
                lineage.draws = (seed, np.array([lineage.evolution.ask(rng)
                                                 for _ in range(population)]))
            point, slot_index = lineage.draws[1][index], index
        else:
            point = lineage.evolution.ask(self._randomness.for_trial(trial, "cmaes"))
            slot_index = None
        return {"space": lineage.space_key, "seed": seed, "restart": restart,
                "generation": generation, "index": slot_index,
                "point": [float(u) for u in point]}


def _value_of(trial: FrozenTrial, consider_pruned: bool) -> float | None:
    """A finished draw's value: a COMPLETE trial's, or with ``consider_pruned`` a PRUNED
    trial's last reported one; None for the others."""
    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    if consider_pruned and trial.state == TrialState.PRUNED and trial.intermediate_values:
        last = trial.intermediate_values[max(trial.intermediate_values)]
        return float(last) if isinstance(last, (int, float)) else None
    return None


def _space_key(search_space: dict[str, Distribution]) -> str:
    """A short name for a search space, the same in every process."""
    text = json.dumps([[name, repr(d)] for name, d in search_space.items()])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _adopt_seed(lineage: _Lineage, slot: tuple[dict, int, int, int]) -> None:
    """The study's first draw (restart 0, generation 0, index 0) fixes the evolution's seed,
    whichever process made it."""
    record, restart, generation, index = slot
    if lineage.seed is None and (restart, generation, index) == (0, 0, 0):
        lineage.seed = int(record["seed"])


def _slot(record: Any, space_key: str) -> tuple[dict, int, int, int] | None:
    """(record, restart, generation, index) of a trial's counted draw in ``space_key``; None
    for another space, an extra draw, or no draw."""
    if not isinstance(record, dict) or record.get("space") != space_key:
        return None
    restart, generation = record.get("restart"), record.get("generation")
    index = record.get("index")
    if not (_is_count(restart) and _is_count(generation) and _is_count(index)):
        return None
    return record, restart, generation, index


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and value >= 0


def _cell_edges(space: UnitSpace, j: int) -> np.ndarray | None:
    """The edges of the grid cells of discrete axis ``j`` in unit coordinates (None for a
    continuous axis): the midpoints between neighbouring grid values, plus 0 and 1."""
    if not space.discrete[j]:
        return None
    axis = space.axes[j]
    d = axis.distribution
    assert not isinstance(d, CategoricalDistribution)  # a discrete axis is numeric
    step = d.step if d.step is not None else 1
    n_values = int(round((d.high - d.low) / step)) + 1
    if n_values > 10_000:  # so fine a grid is continuous for CMA-ES
        return None
    values = d.low + step * np.arange(n_values, dtype=float)
    mids = (values[:-1] + values[1:]) / 2
    coordinates = np.log(mids) if axis.log else mids
    inner = (coordinates - axis.low) / (axis.high - axis.low)
    return np.concatenate([[0.0], inner, [1.0]])
