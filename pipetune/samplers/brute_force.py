"""Exhaustive search of a finite define-by-run search space: every combination once.

The trials of the study are laid out as a tree: a node is a point where the objective
suggests a param (the same param, with the same domain, for every trial reaching it), one
child per value of that param, and a trial is a path from the root to a leaf. A param is
sampled among the values whose subtree still holds a combination nobody tried, at random
(seeded per trial); once no such value is left anywhere the study stops. Each finished trial
records the order it suggested its params in, since a storage may return them sorted by name.
Params this sampler did not choose (ones another sampler fixed, e.g. through
``PartialFixedSampler``) and params of continuous domains (which can only be given, never
enumerated) are not part of the tree; enqueued values are.

Running trials count as if they had suggested all their params already, so parallel
workers do not repeat each other; the price is that the study may stop while a running trial
would still have opened a new branch. ``avoid_premature_stop=True`` ignores running trials
instead: nothing is left out, at the risk of a combination being tried twice.
"""

from __future__ import annotations

import decimal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipetune._attrs import BRUTE_FORCE_ORDER_ATTR, FIXED_PARAMS_ATTR
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution, FloatDistribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers.base import BaseSampler

if TYPE_CHECKING:
    from pipetune.view import StudyView


def candidates(distribution: Distribution) -> list[Any]:
    """Every value of a finite domain, in order; a float domain without a step has
    infinitely many, which is an error."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, FloatDistribution):
        if distribution.step is None:
            raise InvalidArgumentError(
                f"BruteForceSampler needs a finite search space, but {distribution!r} holds "
                "infinitely many floats: give the suggestion a step (suggest_float(..., "
                "step=0.1)), or use another sampler.")
        # Decimal arithmetic, so that 0.1 steps give 0.3 and not 0.30000000000000004.
        low, step = decimal.Decimal(str(distribution.low)), decimal.Decimal(str(distribution.step))
        high = decimal.Decimal(str(distribution.high))
        return [float(low + k * step) for k in range(int((high - low) / step) + 1)]
    return list(range(distribution.low, distribution.high + 1, distribution.step))


def _index(distribution: Distribution, value: Any) -> int | None:
    """The position of ``value`` among ``candidates(distribution)`` (None when outside)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.index_of(value)
    step = distribution.step
    if step is None or not distribution.low <= value <= distribution.high:
        return None
    return int(round((value - distribution.low) / step))


@dataclass
class _Node:
    """A point of the search tree. Unexplored: no param and no leaf mark. A leaf: a trial
    ended here (``finished``; or ``running``, counted as ended). Else a branching point:
    ``param`` is suggested here, over ``distribution``, with one child per value tried."""

    param: str | None = None
    distribution: Distribution | None = None
    children: dict[int, _Node] = field(default_factory=dict)
    finished: bool = False
    running: bool = False

    def open(self) -> bool:
        """Whether some combination below this node was never tried."""
        if self.finished or self.running:
            return False
        if self.param is None or self.distribution is None:
            return True
        return any(i not in self.children or self.children[i].open()
                   for i in range(len(candidates(self.distribution))))


def _conflict(trial: FrozenTrial | None, what: str) -> InvalidArgumentError:
    where = "" if trial is None else f"trial {trial.number} "
    return InvalidArgumentError(
        f"BruteForceSampler needs every trial to suggest the same params, with the same "
        f"domains, given the values suggested before them, but {where}{what}. Keep each "
        "domain fixed (not depending on the trial), or use another sampler.")


def _is_finite(distribution: Distribution) -> bool:
    return not (isinstance(distribution, FloatDistribution) and distribution.step is None)


def _enumerated(trial: FrozenTrial) -> list[str]:
    """The params of ``trial`` that are part of the enumeration, in the order it suggested
    them: those it recorded (sampled here or enqueued), else all of them; in both cases only
    params of finite domains (a continuous one can only have come from elsewhere)."""
    recorded = trial.system_attrs.get(BRUTE_FORCE_ORDER_ATTR)
    names = recorded if isinstance(recorded, list) else list(trial.distributions)
    return [n for n in names if n in trial.distributions and _is_finite(trial.distributions[n])]


def _insert(root: _Node, trial: FrozenTrial) -> None:
    """Adds ``trial``'s path: along the branching points the tree knows (whatever order the
    storage gave its params in), then in the order it suggested the rest. A running trial
    counts as if it had suggested everything already (its leaf marked running) as far as its
    path is known; one that does not fit is left out, where a finished one is an error."""
    node, order = root, _enumerated(trial)
    remaining = set(order)
    running = trial.state == TrialState.RUNNING
    while True:
        if node.finished:
            if remaining and not running:
                raise _conflict(trial, f"suggested {sorted(remaining)} where another trial "
                                       "had suggested nothing more")
            return
        if node.param is None:
            if not remaining:
                node.finished |= not running
                node.running |= running
                return
            if running and len(remaining) > 1:
                return  # which of its params came first is not recorded yet
            node.param = next(n for n in order if n in remaining)
            node.distribution = trial.distributions[node.param]
        name = node.param
        if name not in remaining or trial.distributions[name] != node.distribution:
            if running:
                return  # it may come to this param later
            if name not in remaining:
                raise _conflict(trial, f"ended without suggesting {name!r}, which other "
                                       "trials suggested after the same values")
            raise _conflict(trial, f"suggested {name!r} over {trial.distributions[name]!r}, "
                                   f"where another trial had {node.distribution!r}")
        index = _index(node.distribution, trial.params[name])
        if index is None:
            return  # a value off the grid (an added trial): no combination of ours
        remaining.discard(name)
        node = node.children.setdefault(index, _Node())


class BruteForceSampler(BaseSampler):
    """Tries every combination of a finite search space once, then stops the study (see the
    module docstring). Conditional spaces are fine; every param needs a finite domain (a float
    needs a ``step``).

    Args:
        seed: fixes the (random) order in which combinations are tried.
        avoid_premature_stop: ignore running trials, so that the study never stops before
            every combination was tried, at the risk of trying one twice in parallel.
    """

    def __init__(self, seed: int | None = None, avoid_premature_stop: bool = False) -> None:
        self._randomness = TrialRandomness(seed)
        self._avoid_premature_stop = bool(avoid_premature_stop)
        self._sampled: dict[int, list[str]] = {}  # trial id -> the params sampled here
        self._lock = threading.Lock()

    def _tree(self, trials: Sequence[FrozenTrial], skip: FrozenTrial | None = None) -> _Node:
        root = _Node()
        counted = [t for t in trials if t.state.is_finished() or (
            t.state == TrialState.RUNNING and not self._avoid_premature_stop and t.params)]
        # Finished trials first: they lay out the branching points running ones follow.
        for trial in sorted(counted, key=lambda t: not t.state.is_finished()):
            if skip is None or trial.trial_id != skip.trial_id:
                _insert(root, trial)
        return root

    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        values = candidates(distribution)  # an error for a continuous domain
        node = self._tree(view.trials, skip=trial)
        while node.param is not None and node.param != name:
            suggested = trial.distributions.get(node.param)
            if suggested is None or suggested != node.distribution:
                raise _conflict(trial, f"suggests {name!r} where other trials suggested "
                                       f"{node.param!r} over {node.distribution!r} first")
            index = _index(suggested, trial.params[node.param])
            node = node.children.get(index, _Node()) if index is not None else _Node()
        if node.finished:
            raise _conflict(trial, f"suggests {name!r} after values with which another trial "
                                   "had suggested nothing more")
        if node.param == name and node.distribution != distribution:
            raise _conflict(trial, f"suggests {name!r} over {distribution!r}, where another "
                                   f"trial had {node.distribution!r}")
        untried = [i for i in range(len(values))
                   if i not in node.children or node.children[i].open()]
        rng = self._randomness.for_trial(trial, "brute_force")
        with self._lock:
            self._sampled.setdefault(trial.trial_id, []).append(name)
        return values[int(rng.choice(untried or range(len(values))))]

    def after_trial(self, view: StudyView, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        """Records the params that take part in the enumeration (sampled here or enqueued;
        not those another sampler fixed) in the order the trial suggested them."""
        self._randomness.forget(trial)
        with self._lock:
            sampled = set(self._sampled.pop(trial.trial_id, ()))
        enqueued = trial.system_attrs.get(FIXED_PARAMS_ATTR) or {}
        return {BRUTE_FORCE_ORDER_ATTR: [n for n in trial.params
                                         if n in sampled or n in enqueued]}

    def is_exhausted(self, view: StudyView) -> bool:
        root = self._tree(view.trials)
        return root.param is not None and not root.open() or root.finished
