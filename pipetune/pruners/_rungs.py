"""Pieces the pruners share: sign-adjusted losses, argument checks, rung arithmetic, Pareto
ranking, and an incremental index of what finished trials contribute.

Every pruner compares *losses*: an intermediate value times +1 for a minimized objective and -1
for a maximized one, so smaller is always better. A finished trial never changes, so what it
contributes to a pruner's statistics is computed once, when it first appears in
``StudyView.finished_log``; only running trials are looked at on every call.
"""

from __future__ import annotations

import bisect
import math
import numbers
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeGuard, TypeVar

import numpy as np

from pipetune._best import crowding_distance, dominates, pareto_ranks
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.view import StudyView

# The trials whose intermediate values a pruner compares against: FAIL trials may have stopped
# for reasons unrelated to the objective (a crash), so they are left out.
COMPARED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


# -- arguments -----------------------------------------------------------------------------------


def check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or an InvalidArgumentError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be an int >= {minimum}. Got {value!r}.")
    return int(value)


def check_real(owner: str, name: str, value: Any, low: float, high: float = math.inf) -> float:
    """``value`` as a float in ``[low, high]``, or an InvalidArgumentError naming the argument."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and low <= float(value) <= high)
    if not ok:
        bound = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be a number {bound}. Got {value!r}.")
    return float(value)


def single_objective_only(owner: str, view: StudyView) -> None:
    if len(view.directions) > 1:
        raise InvalidArgumentError(
            f"{owner} compares one objective, but study {view.study_name!r} has "
            f"{len(view.directions)}: use SuccessiveHalvingPruner or HyperbandPruner, which "
            "rank several objectives by non-dominated sorting.")


# -- values --------------------------------------------------------------------------------------


def loss_signs(directions: Sequence[StudyDirection]) -> tuple[float, ...]:
    return tuple(1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions)


def to_losses(value: Any, signs: tuple[float, ...]) -> tuple[float, ...] | None:
    """A reported value (a float, or one float per objective) as sign-adjusted losses; None
    when it does not have one number per objective."""
    if isinstance(value, (tuple, list)):
        if len(value) != len(signs):
            return None
        return tuple(float(v) * s for v, s in zip(value, signs))
    if len(signs) != 1:
        return None
    return (float(value) * signs[0],)


def is_usable(losses: tuple[float, ...] | None) -> TypeGuard[tuple[float, ...]]:
    """False for a value with a NaN (or of the wrong shape): it is never ranked."""
    return losses is not None and not any(math.isnan(v) for v in losses)


def latest_is_nan(trial: FrozenTrial) -> bool:
    """Whether the trial's value at its last reported step has a NaN: such a run has diverged
    and will not come back, so every pruner stops it at once."""
    if not trial.intermediate_values:
        return False
    value = trial.intermediate_values[max(trial.intermediate_values)]
    values = value if isinstance(value, (tuple, list)) else (value,)
    return any(math.isnan(float(v)) for v in values)


def first_in_interval(trial: FrozenTrial, n_warmup_steps: int, interval_steps: int) -> bool:
    """Whether the trial's latest report is the first one in its pruning interval: past the
    warm-up, the steps are cut into intervals ``[n_warmup_steps + k * interval_steps,
    n_warmup_steps + (k + 1) * interval_steps)`` and a trial is judged once per interval it
    reports in, at its first report there. With a report every step that is every
    ``interval_steps``-th step; a trial reporting every 10 steps is judged at each report."""
    step = trial.last_step
    if step is None or step < n_warmup_steps:
        return False
    start = n_warmup_steps + (step - n_warmup_steps) // interval_steps * interval_steps
    previous = max((s for s in trial.intermediate_values if s != step), default=-1)
    return previous < start


# -- auto resources ------------------------------------------------------------------------------


def first_complete_last_step(view: StudyView) -> int | None:
    """The last reported step of the lowest-numbered COMPLETE trial that reported any, the
    reference run from which "auto" resources are estimated. Every process reading the same
    history finds the same trial (it can only change while a lower-numbered trial still runs)."""
    for trial in view.trials:
        if trial.state == TrialState.COMPLETE and trial.intermediate_values:
            return max(trial.intermediate_values)
    return None


def rung_resources(min_resource: int, reduction_factor: int, rate: int, up_to: int,
                   cap: int | None = None) -> Iterator[int]:
    """Rung k's resource ``min_resource * reduction_factor ** (k + rate)`` for k = 0, 1, ...
    while it is <= ``up_to`` (and < ``cap`` when given)."""
    resource = min_resource * reduction_factor ** rate
    while resource <= up_to and (cap is None or resource < cap):
        yield resource
        resource *= reduction_factor


def value_reaching(steps: Sequence[int], values: dict[int, Any], resource: int) -> Any:
    """The value at the first reported step >= ``resource`` (``steps`` sorted): what the trial
    had when it reached the rung; the caller checks that some step is that large."""
    return values[steps[bisect.bisect_left(steps, resource)]]


# -- ranking -------------------------------------------------------------------------------------


def in_top_by_pareto_rank(points: np.ndarray, numbers_: np.ndarray, me: int, k: int) -> bool:
    """Whether row ``me`` of ``points`` (losses, one row per trial) is among the ``k`` best by
    non-dominated sorting, the ranking of MO-ASHA (Schmucker et al. 2021). Whole fronts are
    taken in order; the front that does not fit is cut by crowding distance, larger first, then
    by lower trial number, so every process makes the same choice."""
    # Rows that ``me`` dominates sit in later fronts and never dominate a row of an earlier
    # one, so dropping them changes nothing up to ``me``'s front.
    keep = ~dominates(points[me:me + 1], points)[0]
    me = int(np.count_nonzero(keep[:me]))  # its index among the rows kept
    points, numbers_ = points[keep], numbers_[keep]
    ranks = pareto_ranks(points, until=me)
    before = int(np.count_nonzero((ranks >= 0) & (ranks < ranks[me])))
    front = np.flatnonzero(ranks == ranks[me])
    if before >= k:
        return False
    if before + len(front) <= k:
        return True
    # Ties are broken by trial number, never by the order this process read the trials in.
    front = front[np.argsort(numbers_[front], kind="stable")]
    distance = crowding_distance(points[front])
    order = sorted(range(len(front)), key=lambda i: (-distance[i], numbers_[front[i]]))
    position = next(p for p, i in enumerate(order) if front[i] == me)
    return position < k - before


# -- incremental index of finished trials ---------------------------------------------------------


class _Accumulates(Protocol):
    """A state of ``FinishedIndex``: what it learns from each finished trial."""

    def add(self, trial: FrozenTrial) -> None: ...


State = TypeVar("State", bound=_Accumulates)


class FinishedIndex(Generic[State]):
    """What finished trials contribute to one pruner, per study history, read incrementally.

    A state is any object with ``add(trial)``; each finished trial is added once, in the order
    of ``StudyView.finished_log`` (which only grows). A view built by hand (``history_key`` 0)
    gets a fresh state from its ``trials`` on every call. Hold ``lock`` while using a state.
    """

    _MAX_HISTORIES = 8  # one per study this pruner serves; old ones are dropped

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (history_key, key) -> [state, how much of the log was read, last trial read]
        self._entries: OrderedDict[tuple[int, Hashable], list] = OrderedDict()

    def current(self, view: StudyView, key: Hashable, make: Callable[[], State]) -> State:
        """The state for ``view`` and ``key`` (anything the state depends on, such as the rung
        resources) with every finished trial of the view added."""
        if view.history_key == 0:
            state = make()
            for trial in view.trials:
                if trial.state.is_finished():
                    state.add(trial)
            return state
        log = view.finished_log
        entry = self._entries.get((view.history_key, key))
        # The key is an object id, which can be reused: check the log is the one we read.
        if entry is None or len(log) < entry[1] or (entry[1] and log[entry[1] - 1] is not entry[2]):
            entry = [make(), 0, None]
            self._entries[(view.history_key, key)] = entry
            while len(self._entries) > self._MAX_HISTORIES:
                self._entries.popitem(last=False)
        self._entries.move_to_end((view.history_key, key))
        if len(log) > entry[1]:
            for trial in log[entry[1]:]:
                entry[0].add(trial)
            entry[1], entry[2] = len(log), log[-1]
        return entry[0]


def unfinished_of(view: StudyView) -> Sequence[FrozenTrial]:
    """The view's RUNNING and WAITING trials (from ``trials`` for a hand-built view)."""
    if view.history_key == 0:
        return [t for t in view.trials if not t.state.is_finished()]
    return view.unfinished
