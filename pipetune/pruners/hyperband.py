"""Hyperband: several ASHA brackets, from aggressive early stopping to none at all."""

from __future__ import annotations

import functools
import numbers
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError
from pipetune.pruners._rungs import check_int, first_complete_last_step, latest_is_nan
from pipetune.pruners.base import BasePruner
from pipetune.pruners.successive_halving import SuccessiveHalvingPruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


def count_brackets(min_resource: int, max_resource: int, reduction_factor: int) -> int:
    """floor(log_eta(max / min)) + 1, in integers so that e.g. 81 / 1 with eta 3 gives 5."""
    n, resource = 0, min_resource
    while resource <= max_resource:
        n += 1
        resource *= reduction_factor
    return max(n, 1)


def bracket_weights(n_brackets: int, reduction_factor: int) -> tuple[int, ...]:
    """Per bracket s, the number of configurations synchronous Hyperband starts in it (Li et
    al. 2018, Algorithm 1), ``ceil(n_brackets / (r + 1) * eta ** r)`` with ``r = n_brackets - 1
    - s`` rungs below max_resource: that gives every bracket about the same total budget."""
    weights = []
    for s in range(n_brackets):
        r = n_brackets - 1 - s
        weights.append(-(-(n_brackets * reduction_factor**r) // (r + 1)))
    return tuple(weights)


class Interleaving:
    """Indices spread in proportion to integer weights: a cycle of ``sum(weights)`` entries
    holding index i ``weights[i]`` times, so that every prefix of the sequence holds each
    index within two of its share (smooth weighted round robin: at each entry
    every index earns its weight, the richest is picked and pays the total; ties go to the
    lower index). Built lazily, as far as it has been asked: a cycle can be millions long."""

    def __init__(self, weights: tuple[int, ...]) -> None:
        self.weights = weights
        self.period = sum(weights)
        self._credit = [0] * len(weights)
        self._entries: list[int] = []
        self._lock = threading.Lock()

    def __getitem__(self, position: int) -> int:
        position %= self.period
        entries = self._entries
        if position < len(entries):
            return entries[position]
        with self._lock:
            credit, indices = self._credit, range(len(self.weights))
            while len(entries) <= position:
                for i, weight in enumerate(self.weights):
                    credit[i] += weight
                picked = max(indices, key=lambda i: (credit[i], -i))
                credit[picked] -= self.period
                entries.append(picked)
            return entries[position]


@dataclass(frozen=True)
class _Brackets:
    """The brackets for one max_resource: which bracket each trial number goes to, and one
    ASHA pruner per bracket."""

    max_resource: int
    interleaving: Interleaving
    pruners: list[SuccessiveHalvingPruner] = field(default_factory=list)

    def bracket_of(self, trial_number: int) -> int:
        return self.interleaving[trial_number]

    def holds(self, bracket: int, trial_number: int) -> bool:
        return self.bracket_of(trial_number) == bracket


class HyperbandPruner(BasePruner):
    """Hyperband (Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
    Optimization") run asynchronously: ``n_brackets = floor(log_eta(max_resource /
    min_resource)) + 1`` brackets of ``SuccessiveHalvingPruner``, bracket ``s`` using
    ``min_early_stopping_rate = s``: bracket 0 judges trials from ``min_resource`` on, the last
    bracket hardly prunes. Rungs at or beyond ``max_resource`` are dropped (a trial there is done).

    Each trial belongs to one bracket, chosen from its number alone (``bracket_of``), so every
    process agrees; it is only compared with trials of its own bracket: asynchronous Hyperband,
    one ASHA per bracket, as in Li et al. 2020 ("A System for Massively Parallel
    Hyperparameter Tuning"). Brackets get trials in proportion to the number of configurations
    Hyperband starts in them, ``ceil(n_brackets / (r + 1) * eta ** r)`` for the bracket that
    first stops trials ``r`` rungs below ``max_resource`` (``r = n_brackets - 1 - s``), which
    gives every bracket about the same total budget. The brackets follow a fixed cycle of that
    many trial numbers, interleaved so that *every* run of consecutive trials, the first ones
    included, holds each bracket in that proportion within two trials: a study spends its
    budget as Hyperband intends from the start instead of by the luck of a draw.

    ``max_resource="auto"`` is the last reported step of the lowest-numbered COMPLETE trial;
    until one completes nothing is pruned. Multi-objective studies, NaN and ``bootstrap_count``
    are handled as in ``SuccessiveHalvingPruner``; a ``bootstrap_count`` takes an int
    ``max_resource``, as the brackets' rungs are not known before.
    """

    def __init__(self, min_resource: int = 1, max_resource: int | Literal["auto"] = "auto",
                 reduction_factor: int = 3, bootstrap_count: int = 0) -> None:
        owner = type(self).__name__
        self._min_resource = check_int(owner, "min_resource", min_resource, 1)
        if max_resource != "auto":
            if isinstance(max_resource, str):
                raise InvalidArgumentError(
                    f"The 'max_resource' argument of {owner} must be 'auto' or an int >= "
                    f"min_resource ({self._min_resource}). Got {max_resource!r}.")
            max_resource = check_int(owner, "max_resource", max_resource, 1)
            if max_resource < self._min_resource:
                raise InvalidArgumentError(
                    f"The 'max_resource' argument of {owner} must be >= min_resource "
                    f"({self._min_resource}). Got {max_resource!r}.")
        self._max_resource = max_resource
        self._reduction_factor = check_int(owner, "reduction_factor", reduction_factor, 2)
        self._bootstrap_count = check_int(owner, "bootstrap_count", bootstrap_count, 0)
        if self._bootstrap_count and max_resource == "auto":
            raise InvalidArgumentError(
                f"{owner} cannot bootstrap its rungs with max_resource='auto': the brackets are "
                "not known before a trial completes, so the first trials would pass their rungs. "
                "Give max_resource an int (the last step a trial reports) or drop "
                "bootstrap_count.")
        self._lock = threading.Lock()
        self._by_max: dict[int, _Brackets] = {}
        self._latest: _Brackets | None = None
        if isinstance(max_resource, int):
            self._latest = self._brackets_for(max_resource)

    def __repr__(self) -> str:
        return (f"HyperbandPruner(min_resource={self._min_resource}, "
                f"max_resource={self._max_resource!r}, reduction_factor={self._reduction_factor}, "
                f"bootstrap_count={self._bootstrap_count})")

    @property
    def n_brackets(self) -> int | None:
        """The number of brackets; None while an "auto" max_resource is not known yet."""
        latest = self._latest
        return None if latest is None else len(latest.pruners)

    def bracket_of(self, trial_number: int) -> int:
        """The bracket (0 = most aggressive) of the trial with this number.

        With ``max_resource="auto"`` this needs the estimate from a completed trial, made by
        the first ``prune`` call after one completed."""
        if (isinstance(trial_number, bool) or not isinstance(trial_number, numbers.Integral)
                or trial_number < 0):
            raise InvalidArgumentError(
                f"The 'trial_number' argument of HyperbandPruner.bracket_of must be an int >= 0. "
                f"Got {trial_number!r}.")
        latest = self._latest
        if latest is None:
            raise InvalidArgumentError(
                "HyperbandPruner.bracket_of needs max_resource, which is 'auto' and not known "
                "until a trial completes: pass max_resource=<last step> to the pruner.")
        return latest.bracket_of(int(trial_number))

    def _brackets_for(self, max_resource: int) -> _Brackets:
        with self._lock:
            brackets = self._by_max.get(max_resource)
            if brackets is not None:
                return brackets
            eta = self._reduction_factor
            n = count_brackets(self._min_resource, max_resource, eta)
            brackets = _Brackets(max_resource, Interleaving(bracket_weights(n, eta)))
            for s in range(n):
                brackets.pruners.append(SuccessiveHalvingPruner._bracket(
                    self._min_resource, eta, s, self._bootstrap_count, max_resource,
                    functools.partial(brackets.holds, s)))
            if len(self._by_max) >= 4:  # an "auto" estimate rarely changes; keep a few
                self._by_max.clear()
            self._by_max[max_resource] = brackets
            return brackets

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        if not trial.intermediate_values or trial.state.is_finished():
            return False
        if latest_is_nan(trial):
            return True
        if isinstance(self._max_resource, int):
            max_resource = self._max_resource
        else:  # "auto"
            last_step = first_complete_last_step(view)
            if last_step is None:
                return False
            max_resource = max(last_step, self._min_resource)
        brackets = self._brackets_for(max_resource)
        self._latest = brackets
        return brackets.pruners[brackets.bracket_of(trial.number)].prune(view, trial)
