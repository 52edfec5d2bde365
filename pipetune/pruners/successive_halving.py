"""Asynchronous successive halving (ASHA): keep the top 1/eta of the trials at every rung."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.pruners._rungs import (
    COMPARED_STATES,
    FinishedIndex,
    check_int,
    first_complete_last_step,
    in_top_by_pareto_rank,
    is_usable,
    latest_is_nan,
    loss_signs,
    rung_resources,
    to_losses,
    unfinished_of,
    value_reaching,
)
from pipetune.pruners.base import BasePruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


class _RungValues:
    """Per rung, the losses the finished COMPLETE and PRUNED trials had on reaching it: sorted
    floats for one objective, rows of a matrix (with trial numbers) for several."""

    def __init__(self, rungs: Callable[[int], Sequence[int]], signs: tuple[float, ...],
                 member: Callable[[int], bool] | None) -> None:
        self._rungs = rungs
        self._signs = signs
        self._member = member
        self.sorted: list[list[float]] = []
        self._rows: list[list[tuple[float, ...]]] = []
        self._numbers: list[list[int]] = []
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, trial: FrozenTrial) -> None:
        if (trial.state not in COMPARED_STATES or not trial.intermediate_values
                or (self._member is not None and not self._member(trial.number))):
            return
        steps = sorted(trial.intermediate_values)
        for k, resource in enumerate(self._rungs(steps[-1])):
            losses = to_losses(value_reaching(steps, trial.intermediate_values, resource),
                               self._signs)
            if not is_usable(losses):
                continue
            while len(self.sorted) <= k:
                self.sorted.append([])
                self._rows.append([])
                self._numbers.append([])
            if len(self._signs) == 1:
                bisect.insort(self.sorted[k], losses[0])
            else:
                self._rows[k].append(losses)
                self._numbers[k].append(trial.number)
                self._arrays.pop(k, None)

    def single_at(self, k: int) -> list[float]:
        return self.sorted[k] if k < len(self.sorted) else []

    def rows_at(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k not in self._arrays:
            rows = self._rows[k] if k < len(self._rows) else []
            self._arrays[k] = (np.array(rows, dtype=float).reshape(len(rows), len(self._signs)),
                               np.array(self._numbers[k] if rows else [], dtype=np.int64))
        return self._arrays[k]


class SuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving (ASHA; Li et al. 2020, "A System for Massively Parallel
    Hyperparameter Tuning"): a trial that reaches a rung goes on only if it is among the best
    1/``reduction_factor`` of the trials that reached that rung.

    Rung ``k`` sits at resource ``min_resource * reduction_factor ** (k +
    min_early_stopping_rate)``, a resource being a reported step. A trial *reaches* a rung at its
    first reported step >= the rung's resource, and its value there is the value it reported at
    that step. When the latest report makes a trial reach one or more rungs, it is compared at
    each of them with every COMPLETE, PRUNED or RUNNING trial of the study that reached the rung
    (itself included, n trials in all): it survives if fewer than ``max(1, n //
    reduction_factor)`` of them are strictly better; otherwise it is pruned. So the decision is
    taken once per rung, when the trial gets there, as in ASHA; call ``should_prune`` after every
    ``report``. Nothing is written anywhere: the rung values are derived from intermediate values,
    so every process sharing the study decides alike. A rung goes on nobody until more than
    ``bootstrap_count`` trials (itself included) reached it: the first ones reaching it stop
    there and set the bar for the later ones. That needs the rungs from the start, so a
    ``bootstrap_count`` takes an int ``min_resource``.

    ``min_resource="auto"`` is ``max(1, last_step // 100)`` of the lowest-numbered COMPLETE
    trial; until a trial completes nothing is pruned. With several objectives the trials at a
    rung are ranked by non-dominated sorting with crowding distance breaking the last front
    (MO-ASHA, Schmucker et al. 2021). A trial whose latest value is NaN is pruned at once; NaN
    values of other trials are skipped; infinities are ordinary values.
    """

    def __init__(self, min_resource: int | Literal["auto"] = "auto", reduction_factor: int = 3,
                 min_early_stopping_rate: int = 0, bootstrap_count: int = 0) -> None:
        owner = type(self).__name__
        if min_resource != "auto":
            if isinstance(min_resource, str):
                raise InvalidArgumentError(
                    f"The 'min_resource' argument of {owner} must be 'auto' or an int >= 1. "
                    f"Got {min_resource!r}.")
            min_resource = check_int(owner, "min_resource", min_resource, 1)
        self._min_resource = min_resource
        self._reduction_factor = check_int(owner, "reduction_factor", reduction_factor, 2)
        self._rate = check_int(owner, "min_early_stopping_rate", min_early_stopping_rate, 0)
        self._bootstrap_count = check_int(owner, "bootstrap_count", bootstrap_count, 0)
        if self._bootstrap_count and min_resource == "auto":
            raise InvalidArgumentError(
                f"{owner} cannot bootstrap its rungs with min_resource='auto': the rungs are not "
                "known before a trial completes, so the first trials would pass them. Give "
                "min_resource an int (e.g. min_resource=1) or drop bootstrap_count.")
        self._cap: int | None = None
        self._member: Callable[[int], bool] | None = None
        self._index: FinishedIndex[_RungValues] = FinishedIndex()

    @classmethod
    def _bracket(cls, min_resource: int, reduction_factor: int, rate: int, bootstrap_count: int,
                 max_resource: int, member: Callable[[int], bool]) -> SuccessiveHalvingPruner:
        """One Hyperband bracket: only trials for which ``member(number)`` holds are compared,
        and there are no rungs at or beyond ``max_resource`` (where a trial is done anyway)."""
        pruner = cls(min_resource, reduction_factor, rate, bootstrap_count)
        pruner._cap = max_resource
        pruner._member = member
        return pruner

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(min_resource={self._min_resource!r}, "
                f"reduction_factor={self._reduction_factor}, "
                f"min_early_stopping_rate={self._rate}, bootstrap_count={self._bootstrap_count})")

    def rung_resources(self, view: StudyView, up_to: int) -> list[int]:
        """The resources (steps) of the rungs up to step ``up_to`` for this study; empty while
        an "auto" ``min_resource`` is not known yet."""
        min_resource = self._resolve_min_resource(view)
        if min_resource is None:
            return []
        return list(rung_resources(min_resource, self._reduction_factor, self._rate, up_to,
                                   self._cap))

    def _resolve_min_resource(self, view: StudyView) -> int | None:
        if self._min_resource != "auto":
            return self._min_resource
        last_step = first_complete_last_step(view)
        return None if last_step is None else max(1, last_step // 100)

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        values = trial.intermediate_values
        if not values or trial.state.is_finished():
            return False
        if latest_is_nan(trial):
            return True
        min_resource = self._resolve_min_resource(view)
        if min_resource is None:
            return False
        steps = sorted(values)
        previous = steps[-2] if len(steps) > 1 else -1
        reached = [(k, resource) for k, resource in enumerate(rung_resources(
            min_resource, self._reduction_factor, self._rate, steps[-1], self._cap))
            if resource > previous]
        if not reached:
            return False
        signs = loss_signs(view.directions)
        mine = to_losses(values[steps[-1]], signs)
        if mine is None:
            raise InvalidArgumentError(
                f"Trial {trial.number} reported {values[steps[-1]]!r} at step {steps[-1]}, but "
                f"study {view.study_name!r} has {len(signs)} objective(s): report one number "
                "per objective.")
        running = [t for t in unfinished_of(view)
                   if t.state == TrialState.RUNNING and t.trial_id != trial.trial_id
                   and t.intermediate_values
                   and (self._member is None or self._member(t.number))]

        def rungs(up_to: int) -> list[int]:
            return list(rung_resources(min_resource, self._reduction_factor, self._rate, up_to,
                                       self._cap))

        with self._index.lock:
            state = self._index.current(view, (min_resource, signs),
                                        lambda: _RungValues(rungs, signs, self._member))
            for k, resource in reached:
                if not self._survives(state, k, resource, mine, trial.number, running, signs):
                    return True
        return False

    def _survives(self, state: _RungValues, k: int, resource: int, mine: tuple[float, ...],
                  number: int, running: list[FrozenTrial], signs: tuple[float, ...]) -> bool:
        at_rung: list[tuple[int, tuple[float, ...]]] = []
        for other in running:
            other_steps = sorted(other.intermediate_values)
            if other_steps[-1] < resource:
                continue
            losses = to_losses(value_reaching(other_steps, other.intermediate_values, resource),
                               signs)
            if is_usable(losses):
                at_rung.append((other.number, losses))
        if len(mine) == 1:
            finished = state.single_at(k)
            n = 1 + len(finished) + len(at_rung)
            if n <= self._bootstrap_count:
                return False
            better = bisect.bisect_left(finished, mine[0])
            better += sum(1 for _, losses in at_rung if losses[0] < mine[0])
            return better < max(1, n // self._reduction_factor)
        rows, numbers = state.rows_at(k)
        n = 1 + len(rows) + len(at_rung)
        if n <= self._bootstrap_count:
            return False
        k_promote = max(1, n // self._reduction_factor)
        points = np.vstack([rows] + [np.array([losses]) for _, losses in at_rung]
                           + [np.array([mine])])
        numbers = np.concatenate([numbers, np.array([num for num, _ in at_rung] + [number],
                                                    dtype=np.int64)])
        me = len(points) - 1
        # Every trial dominating this one sits in an earlier front: a cheap early answer.
        dominating = np.all(points <= points[me], axis=1) & np.any(points < points[me], axis=1)
        if int(dominating.sum()) >= k_promote:
            return False
        return in_top_by_pareto_rank(points, numbers, me, k_promote)

