"""NSGA-III (Deb & Jain 2014, "An evolutionary many-objective optimization algorithm using
reference-point-based nondominated sorting approach, part I"): NSGA-II for many objectives.

Everything is NSGA-II's (``pipetune.samplers.nsgaii``) but for the cut of the last front that
does not fit into the next parent population. Crowding distance loses its meaning with many
objectives, so the front is cut by reference points spread over the unit simplex instead:
the objectives are normalized (translated by the ideal point, divided by the intercepts of
the hyperplane through the extreme points, section IV-C of the paper), each trial is
associated with the reference line nearest to it, and members are picked one by one for the
reference point with the fewest members so far (niche preservation, section IV-E). The
paper's random choices are drawn from the seed and the generation, so every process
selects the same parents.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipetune._attrs import NSGAIII_GENERATION_ATTR
from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._constraints import ConstraintsFunc
from pipetune.samplers.nsgaii.crossovers import BaseCrossover
from pipetune.samplers.nsgaii.mutations import BaseMutation
from pipetune.samplers.nsgaii.sampler import (
    AfterTrial,
    ChildGeneration,
    EliteSelection,
    NSGAIISampler,
    fronts,
    losses_of,
)

if TYPE_CHECKING:
    from pipetune.view import StudyView


def das_dennis_points(n_objectives: int, divisions: int) -> np.ndarray:
    """The structured reference points of Das & Dennis (1998): every point of the unit
    simplex whose coordinates are multiples of ``1 / divisions``; C(n + p - 1, p) of them."""
    points = [
        [b - a - 1 for a, b in zip((-1, *bars), (*bars, divisions + n_objectives - 1))]
        for bars in itertools.combinations(range(divisions + n_objectives - 1),
                                           n_objectives - 1)]
    return np.array(points, dtype=float).reshape(-1, n_objectives) / max(divisions, 1)


class NSGAIIISampler(NSGAIISampler):
    """NSGA-III: NSGA-II whose parent populations keep trials spread over reference points
    rather than by crowding distance, for three or more objectives.

    Takes NSGAIISampler's arguments and:

    Args:
        reference_points: the reference points, one row per point with one coordinate per
            objective (points of the unit simplex, in the objectives' normalized scale);
            default: the Das-Dennis points of ``dividing_parameter`` divisions.
        dividing_parameter: the divisions of each objective's axis for the default points.
    """

    _GENERATION_ATTR = NSGAIII_GENERATION_ATTR

    def __init__(self, *, population_size: int = 50, mutation: BaseMutation | None = None,
                 mutation_prob: float | None = None, crossover: BaseCrossover | None = None,
                 crossover_prob: float = 0.9, swapping_prob: float = 0.5,
                 seed: int | None = None, constraints_func: ConstraintsFunc | None = None,
                 reference_points: Sequence[Sequence[float]] | np.ndarray | None = None,
                 dividing_parameter: int = 3,
                 elite_population_selection_strategy: EliteSelection | None = None,
                 child_generation_strategy: ChildGeneration | None = None,
                 after_trial_strategy: AfterTrial | None = None) -> None:
        super().__init__(
            population_size=population_size, mutation=mutation, mutation_prob=mutation_prob,
            crossover=crossover, crossover_prob=crossover_prob, swapping_prob=swapping_prob,
            seed=seed, constraints_func=constraints_func,
            elite_population_selection_strategy=elite_population_selection_strategy,
            child_generation_strategy=child_generation_strategy,
            after_trial_strategy=after_trial_strategy)
        if isinstance(dividing_parameter, bool) or not isinstance(dividing_parameter, int) \
                or dividing_parameter < 1:
            raise InvalidArgumentError(
                "The 'dividing_parameter' argument of NSGAIIISampler must be an int >= 1. "
                f"Got {dividing_parameter!r}.")
        if reference_points is not None:
            points = np.asarray(reference_points, dtype=float)
            if points.ndim != 2 or not len(points) or not np.all(np.isfinite(points)):
                raise InvalidArgumentError(
                    "The 'reference_points' argument of NSGAIIISampler must be a non-empty "
                    "table of finite numbers, one row per point and one column per objective. "
                    f"Got {reference_points!r}.")
            reference_points = points
        self._reference_points = reference_points
        self._dividing_parameter = dividing_parameter

    def reference_points(self, n_objectives: int) -> np.ndarray:
        """The reference points for a study of ``n_objectives`` objectives."""
        if self._reference_points is None:
            return das_dennis_points(n_objectives, self._dividing_parameter)
        points = self._reference_points
        if points.shape[1] != n_objectives:
            raise InvalidArgumentError(
                f"NSGAIIISampler has reference points of {points.shape[1]} coordinates, but "
                f"the study has {n_objectives} objectives: give one coordinate per objective.")
        return points

    def select_elite(self, view: StudyView, population: list[FrozenTrial],
                     generation: int) -> list[FrozenTrial]:
        """Whole fronts in order; the front that does not fit is cut by niching around the
        reference points."""
        elite: list[FrozenTrial] = []
        for front in fronts(population, view.directions):
            members = [population[i] for i in front]
            room = self._population_size - len(elite)
            if len(members) <= room:
                elite.extend(members)
                continue
            rng = np.random.default_rng([self._randomness.seed, generation])
            picked = self._niche(view, elite, members, room, rng)
            elite.extend(members[i] for i in picked)
            break
        return elite

    def _niche(self, view: StudyView, elite: list[FrozenTrial], last: list[FrozenTrial],
               room: int, rng: np.random.Generator) -> list[int]:
        """``room`` indices of ``last``, picked for the least crowded reference points."""
        losses = losses_of(elite + last, view.directions)
        normalized = _normalize(losses)
        references = self.reference_points(losses.shape[1])
        nearest, distance = _associate(normalized, references)
        niche_count = np.bincount(nearest[:len(elite)], minlength=len(references))
        # reference point -> the members of ``last`` associated with it
        candidates: dict[int, list[int]] = {j: [] for j in range(len(references))}
        for i in range(len(last)):
            candidates[int(nearest[len(elite) + i])].append(i)
        open_points = [j for j, members in candidates.items() if members]
        picked: list[int] = []
        while len(picked) < room:
            fewest = min(niche_count[j] for j in open_points)
            j = int(rng.choice([j for j in open_points if niche_count[j] == fewest]))
            members = candidates[j]
            if niche_count[j] == 0:  # an empty niche takes its closest member
                i = min(members, key=lambda i: distance[len(elite) + i])
            else:
                i = members[int(rng.integers(len(members)))]
            members.remove(i)
            picked.append(i)
            niche_count[j] += 1
            if not members:
                open_points.remove(j)
        return picked


def _normalize(losses: np.ndarray) -> np.ndarray:
    """Losses translated so the ideal point is the origin and divided by the intercepts of
    the hyperplane through the extreme points (one per objective: the point minimizing the
    achievement scalarizing function along that axis); where that hyperplane is degenerate,
    by the largest translated loss per objective (the nadir of the points)."""
    finite = np.where(np.isfinite(losses), losses, np.nan)
    ideal = np.nanmin(finite, axis=0)
    ideal = np.where(np.isfinite(ideal), ideal, 0.0)
    translated = np.nan_to_num(losses - ideal, nan=0.0, posinf=1e300, neginf=0.0)
    m = translated.shape[1]
    weights = np.full((m, m), 1e-6) + np.eye(m) * (1 - 1e-6)
    scalarized = np.max(translated[None, :, :] / weights[:, None, :], axis=2)  # axis x point
    extremes = translated[np.argmin(scalarized, axis=1)]
    nadir = translated.max(axis=0)
    try:
        intercepts = 1.0 / np.linalg.solve(extremes, np.ones(m))
    except np.linalg.LinAlgError:
        intercepts = nadir
    if not np.all(np.isfinite(intercepts)) or np.any(intercepts <= 1e-10):
        intercepts = nadir
    return translated / np.where(intercepts > 1e-10, intercepts, 1.0)


def _associate(points: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, the reference line (through the origin and a reference point) nearest
    to it and its perpendicular distance from that line."""
    directions = references / np.maximum(np.linalg.norm(references, axis=1, keepdims=True),
                                         1e-12)
    along = points @ directions.T  # point x reference: length of the projection
    squared = np.maximum(np.sum(points ** 2, axis=1, keepdims=True) - along ** 2, 0.0)
    nearest = np.argmin(squared, axis=1)
    return nearest, np.sqrt(squared[np.arange(len(points)), nearest])
