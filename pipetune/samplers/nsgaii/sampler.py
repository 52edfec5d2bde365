"""NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002, "A fast and elitist multiobjective
genetic algorithm: NSGA-II"): a genetic algorithm for one or several objectives.

Trials are grouped into generations of ``population_size``. Generation 0 is drawn at random;
each trial of a later generation is a child of the *parent population* of its generation:
two (or, for some crossovers, three) parents are picked by binary tournament under the
crowded comparison (lower non-domination rank wins, then the larger crowding distance), their
params crossed over and the child mutated. The parent population of generation g is the elite
of the parent population of g - 1 together with the trials of g - 1 that completed: whole
fronts of the non-dominated sorting in order, the front that does not fit cut by crowding
distance (most isolated first). With constraints, feasible trials come first and infeasible
ones follow by their total violation (Deb's constrained domination, section VI of the paper).

The bookkeeping lives in the study, so that several workers sharing a storage run one
evolution: each trial records its generation in a system attr, claimed atomically slot by
slot in the storage (a generation never gets more than ``population_size`` trials), and every
process derives the parent populations from the stored trials alone (a trial's parents are
chosen among the trials of the earlier generations that had finished when it started).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._attrs import NSGAII_GENERATION_ATTR
from pipetune._best import crowding_distance, pareto_ranks
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._constraints import (
    ConstraintsFunc,
    check_constraints_func,
    record_constraints,
    violation,
)
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.nsgaii.crossovers import BaseCrossover, UniformCrossover
from pipetune.samplers.nsgaii.mutations import BaseMutation
from pipetune.samplers.random import RandomSampler
from pipetune.samplers.tpe.parzen import Axis
from pipetune.search_space import IntersectionSearchSpace

if TYPE_CHECKING:
    from pipetune.view import StudyView

EliteSelection = Callable[["StudyView", list[FrozenTrial]], list[FrozenTrial]]
ChildGeneration = Callable[["StudyView", dict[str, Distribution], list[FrozenTrial]],
                           dict[str, Any]]
AfterTrial = Callable[["StudyView", FrozenTrial, TrialState, "Sequence[float] | None"],
                      "dict[str, Any] | None"]

_MAX_CROSSOVER_TRIES = 100  # children drawn to land inside the bounds before clipping one


def _check_probability(name: str, value: Any, owner: str, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be a probability in [0, 1]"
            f"{' or None' if allow_none else ''}. Got {value!r}.")
    return float(value)


def _check_callable(name: str, value: Any, owner: str) -> Any:
    if value is not None and not callable(value):
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be a function (or None for the default). "
            f"Got {value!r}.")
    return value


def fronts(population: Sequence[FrozenTrial],
           directions: Sequence[StudyDirection]) -> list[list[int]]:
    """The indices of ``population`` (COMPLETE trials) front by front, best first: feasible
    trials by non-dominated sorting of their values, then infeasible ones by total constraint
    violation (one front per distinct violation). Within a front, by trial number."""
    if not population:
        return []
    losses = losses_of(population, directions)
    violations = np.array([violation(t) for t in population])
    feasible = np.flatnonzero(violations == 0)
    result: list[list[int]] = []
    if len(feasible):
        ranks = pareto_ranks(losses[feasible])
        for rank in range(int(ranks.max()) + 1):
            result.append(sorted(feasible[ranks == rank].tolist(),
                                 key=lambda i: population[i].number))
    infeasible = np.flatnonzero(violations > 0)
    for level in np.unique(violations[infeasible]):
        result.append(sorted(infeasible[violations[infeasible] == level].tolist(),
                             key=lambda i: population[i].number))
    return result


def losses_of(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> np.ndarray:
    """The trials' values as losses (negated where maximized), one row per trial."""
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    return np.array([t.values for t in trials], dtype=float).reshape(len(trials), -1) * signs


class NSGAIISampler(BaseSampler):
    """NSGA-II, the elitist genetic algorithm for one or several objectives (see the module
    docstring for the algorithm and how workers share it).

    Args:
        population_size: trials per generation (>= 2, and at least the crossover's number of
            parents).
        mutation: perturbs a mutated numeric param (e.g. ``PolynomialMutation()``); None
            draws a mutated param anew, uniformly.
        mutation_prob: the probability that each param of a child is mutated; None is
            1 / (number of params).
        crossover: how a child's numeric params come from its parents (a ``BaseCrossover`` of
            ``pipetune.samplers.nsgaii``); default ``UniformCrossover(swapping_prob)``.
        crossover_prob: the probability that a child is a crossover of parents rather than a
            copy of one.
        swapping_prob: for categorical params (and the default crossover), the probability of
            taking a param from the second parent rather than the first.
        seed: makes a study reproducible: every draw derives from the seed and the trial
            number.
        constraints_func: maps a finished trial to its constraint values (each <= 0 when
            satisfied), recorded on the trial; feasible trials then rank first.
            ``Trial.set_constraint`` does the same from inside the objective.
        elite_population_selection_strategy: ``f(view, population) -> elite``, replacing
            the selection of a generation's parent population.
        child_generation_strategy: ``f(view, search_space, parent_population) -> params``,
            replacing crossover and mutation.
        after_trial_strategy: ``f(view, trial, state, values)``, replacing the recording of
            constraints when a trial finishes; what it returns is recorded as system attrs.
    """

    _GENERATION_ATTR = NSGAII_GENERATION_ATTR

    def __init__(self, *, population_size: int = 50, mutation: BaseMutation | None = None,
                 mutation_prob: float | None = None, crossover: BaseCrossover | None = None,
                 crossover_prob: float = 0.9, swapping_prob: float = 0.5,
                 seed: int | None = None, constraints_func: ConstraintsFunc | None = None,
                 elite_population_selection_strategy: EliteSelection | None = None,
                 child_generation_strategy: ChildGeneration | None = None,
                 after_trial_strategy: AfterTrial | None = None) -> None:
        owner = type(self).__name__
        if isinstance(population_size, bool) or not isinstance(population_size, int) \
                or population_size < 2:
            raise InvalidArgumentError(
                f"The 'population_size' argument of {owner} must be an int >= 2. "
                f"Got {population_size!r}.")
        self._mutation_prob = _check_probability("mutation_prob", mutation_prob, owner, True)
        self._crossover_prob = _check_probability("crossover_prob", crossover_prob, owner)
        self._swapping_prob = _check_probability("swapping_prob", swapping_prob, owner)
        if crossover is None:
            crossover = UniformCrossover(self._swapping_prob)
        if not isinstance(crossover, BaseCrossover):
            raise InvalidArgumentError(
                f"The 'crossover' argument of {owner} must be a crossover of "
                f"pipetune.samplers.nsgaii (e.g. SBXCrossover()). Got {crossover!r}.")
        if population_size < crossover.n_parents:
            raise InvalidArgumentError(
                f"The 'population_size' argument of {owner} ({population_size}) must be at "
                f"least the number of parents {crossover} takes ({crossover.n_parents}).")
        if mutation is not None and not isinstance(mutation, BaseMutation):
            raise InvalidArgumentError(
                f"The 'mutation' argument of {owner} must be a mutation of "
                f"pipetune.samplers.nsgaii (e.g. PolynomialMutation()) or None. "
                f"Got {mutation!r}.")
        self._population_size = population_size
        self._crossover = crossover
        self._mutation = mutation
        self._constraints_func = check_constraints_func(owner, constraints_func)
        self._select = _check_callable("elite_population_selection_strategy",
                                       elite_population_selection_strategy, owner)
        self._generate = _check_callable("child_generation_strategy",
                                         child_generation_strategy, owner)
        self._after_trial = _check_callable("after_trial_strategy", after_trial_strategy, owner)
        self._randomness = TrialRandomness(seed)
        self._independent = RandomSampler(seed=self._randomness.seed)
        self._spaces: dict[int, IntersectionSearchSpace] = {}
        # (history key, study) -> per generation g >= 1: (how many completed trials of
        # generation g - 1 it was selected with, its parent population)
        self._populations: dict[tuple[int, str], list[tuple[int, list[FrozenTrial]]]] = {}
        self._lock = threading.Lock()

    # -- generations -----------------------------------------------------------------------

    def generation_of(self, trial: FrozenTrial) -> int | None:
        """The generation ``trial`` belongs to (None for a trial this sampler did not start)."""
        generation = trial.system_attrs.get(self._GENERATION_ATTR)
        return generation if isinstance(generation, int) else None

    def before_trial(self, view: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        """Puts the trial in the latest generation with a free slot; each slot is claimed
        atomically in the storage, so parallel workers never overfill a generation."""
        counts: dict[int, int] = {}
        for other in view.trials:
            generation = self.generation_of(other)
            if generation is not None:
                counts[generation] = counts.get(generation, 0) + 1
        generation = max(counts, default=0)
        while True:
            for slot in range(counts.get(generation, 0), self._population_size):
                if view.claim_key(f"{self._GENERATION_ATTR}:{generation}:{slot}",
                                  trial.trial_id):
                    return {self._GENERATION_ATTR: generation}
            generation += 1

    def parent_population(self, view: StudyView, generation: int) -> list[FrozenTrial]:
        """The parents of the trials of ``generation`` (none for generation 0), derived from
        the stored trials; each generation's is kept until more trials of the one before it
        complete."""
        completed: dict[int, list[FrozenTrial]] = {}
        for trial in view.trials:
            g = self.generation_of(trial)
            if trial.state == TrialState.COMPLETE and g is not None and g < generation:
                completed.setdefault(g, []).append(trial)
        with self._lock:
            cache = self._populations.setdefault((view.history_key, view.study_name), [])
            parents: list[FrozenTrial] = []
            for g in range(1, generation + 1):
                pool = completed.get(g - 1, [])
                if len(cache) >= g and cache[g - 1][0] == len(pool):
                    parents = cache[g - 1][1]
                    continue
                candidates = parents + pool
                parents = self._select(view, candidates) if self._select is not None \
                    else self.select_elite(view, candidates, g)
                del cache[g - 1:]
                cache.append((len(pool), parents))
            return parents

    def select_elite(self, view: StudyView, population: list[FrozenTrial],
                     generation: int) -> list[FrozenTrial]:
        """The ``population_size`` best of ``population``: whole fronts in order, the last
        one cut by crowding distance (most isolated first, then lower trial number)."""
        elite: list[FrozenTrial] = []
        for front in fronts(population, view.directions):
            members = [population[i] for i in front]
            room = self._population_size - len(elite)
            if len(members) <= room:
                elite.extend(members)
                continue
            distance = crowding_distance(losses_of(members, view.directions))
            order = sorted(range(len(members)), key=lambda i: (-distance[i], members[i].number))
            elite.extend(members[i] for i in order[:room])
            break
        return elite

    # -- sampling --------------------------------------------------------------------------

    def infer_relative_search_space(self, view: StudyView,
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        with self._lock:
            space = self._spaces.setdefault(view.history_key, IntersectionSearchSpace())
        return {name: d for name, d in space.update(view.finished_log).items() if not d.single()}

    def sample_relative(self, view: StudyView, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        generation = self.generation_of(trial)
        if not search_space or not generation:
            return {}  # generation 0 (or a trial started elsewhere) is drawn at random
        parents = self.parent_population(view, generation)
        if not parents:
            return {}
        if self._generate is not None:
            return dict(self._generate(view, search_space, parents))
        draw = self._randomness.for_trial(trial, "nsga")
        rng = np.random.RandomState(int(draw.integers(2**32)))
        return self._child(view, search_space, parents, rng)

    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        return self._independent.sample_independent(view, trial, name, distribution)

    def after_trial(self, view: StudyView, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        self._randomness.forget(trial)
        self._independent.after_trial(view, trial, state, values)
        if self._after_trial is not None:
            return self._after_trial(view, trial, state, values)
        return record_constraints(self._constraints_func, trial, state)

    # -- one child -------------------------------------------------------------------------

    def _child(self, view: StudyView, space: dict[str, Distribution],
               parents: list[FrozenTrial], rng: np.random.RandomState) -> dict[str, Any]:
        """Crossover (or a copy of one parent), then mutation: a mutated param is left out,
        for the independent sampler to draw, unless a ``mutation`` perturbs it."""
        standing = _standing(parents, view.directions)
        if rng.rand() < self._crossover_prob and len(parents) >= self._crossover.n_parents:
            child = self._cross(view, space, parents, standing, rng)
        else:
            parent = parents[rng.randint(len(parents))]
            child = {name: parent.params[name] for name in space}
        mutation_prob = self._mutation_prob if self._mutation_prob is not None \
            else 1.0 / max(1, len(child))
        params = {}
        for name, value in child.items():
            if rng.rand() >= mutation_prob:
                params[name] = value
            elif self._mutation is not None \
                    and not isinstance(space[name], CategoricalDistribution):
                axis = Axis.of(name, space[name])
                mutated = self._mutation.mutation(_coordinate(axis, value), rng, view,
                                                  np.array([axis.low, axis.high]))
                params[name] = axis.decode(float(np.clip(mutated, axis.low, axis.high)))
        return params

    def _cross(self, view: StudyView, space: dict[str, Distribution],
               parents: list[FrozenTrial], standing: list[tuple[int, float]],
               rng: np.random.RandomState) -> dict[str, Any]:
        """The crossover of parents chosen by tournament, drawn again (parents included)
        while the child leaves the bounds, and clipped after ``_MAX_CROSSOVER_TRIES``."""
        axes = [Axis.of(name, d) for name, d in space.items()
                if not isinstance(d, CategoricalDistribution)]
        categorical = [name for name, d in space.items()
                       if isinstance(d, CategoricalDistribution)]
        bounds = np.array([[a.low, a.high] for a in axes]).reshape(len(axes), 2)
        for _ in range(_MAX_CROSSOVER_TRIES):
            chosen = _tournament(len(parents), self._crossover.n_parents, standing, rng)
            first, last = parents[chosen[0]], parents[chosen[-1]]
            swap = rng.rand(len(categorical)) < self._swapping_prob
            child = {name: (last if s else first).params[name]
                     for name, s in zip(categorical, swap)}
            if not axes:
                return child
            matrix = np.array([[_coordinate(a, parents[i].params[a.name]) for a in axes]
                               for i in chosen])
            row = np.asarray(self._crossover.crossover(matrix, rng, view, bounds), dtype=float)
            inside = np.all((row >= bounds[:, 0]) & (row <= bounds[:, 1]))
            if inside:
                break
        else:
            row = np.clip(row, bounds[:, 0], bounds[:, 1])
        child.update({a.name: a.decode(float(u)) for a, u in zip(axes, row)})
        return child


def _coordinate(axis: Axis, value: Any) -> float:
    return math.log(value) if axis.log else float(value)


def _standing(parents: list[FrozenTrial],
              directions: Sequence[StudyDirection]) -> list[tuple[int, float]]:
    """Each parent's (front, crowding distance) among the parents: what the crowded
    comparison of the tournament compares."""
    standing: list[tuple[int, float]] = [(0, 0.0)] * len(parents)
    for rank, front in enumerate(fronts(parents, directions)):
        distance = crowding_distance(losses_of([parents[i] for i in front], directions))
        for i, d in zip(front, distance):
            standing[i] = (rank, float(d))
    return standing


def _tournament(n: int, n_parents: int, standing: list[tuple[int, float]],
                rng: np.random.RandomState) -> list[int]:
    """``n_parents`` distinct parents, each the winner of a binary tournament between two
    random members not chosen yet: the lower front wins, then the larger crowding distance."""
    chosen: list[int] = []
    for _ in range(n_parents):
        left = [i for i in range(n) if i not in chosen]
        a, b = left[rng.randint(len(left))], left[rng.randint(len(left))]
        better = a if (standing[a][0], -standing[a][1]) <= (standing[b][0], -standing[b][1]) \
            else b
        chosen.append(better)
    return chosen
