"""Which trials are best: the optimum of one objective, the Pareto front of several, and the
non-dominated sorting and crowding distance that rank trials by several objectives (used by
multi-objective TPE and MO-ASHA alike)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pipetune._attrs import is_feasible
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState

if TYPE_CHECKING:  # numpy is imported where it is used: listing studies needs none of it
    import numpy as np


def _candidate(trial: FrozenTrial) -> bool:
    """Whether ``trial`` may be best: COMPLETE, with values, and feasible (every constraint
    value <= 0; a trial without constraints is feasible), as Optuna has it."""
    return (trial.state == TrialState.COMPLETE and trial.values is not None
            and is_feasible(trial.system_attrs))


def best_trial_of(trials: Iterable[FrozenTrial],
                  directions: Sequence[StudyDirection]) -> FrozenTrial | None:
    """The feasible COMPLETE trial with the best value (the earliest on ties); None for several
    objectives or when no such trial exists."""
    if len(directions) != 1:
        return None
    sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
    best = None
    best_key = float("inf")
    for trial in trials:
        if trial.values is not None and _candidate(trial):
            key = sign * trial.values[0]
            if key < best_key:
                best, best_key = trial, key
    return best


def pareto_front(trials: Iterable[FrozenTrial],
                 directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """The feasible COMPLETE trials no other such trial dominates (every objective at least as
    good, one strictly better), ordered by number."""
    import numpy as np

    complete = [t for t in trials if _candidate(t)]
    if not complete:
        return []
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    losses = np.array([t.values for t in complete], dtype=float) * signs
    on_front = is_pareto_efficient(losses)
    return [t for t, keep in zip(complete, on_front) if keep]


def is_pareto_efficient(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``losses`` (to minimize) that no other row dominates."""
    import numpy as np

    n = len(losses)
    efficient = np.ones(n, dtype=bool)
    for i in range(n):
        if not efficient[i]:
            continue
        dominated_by_i = np.all(losses[i] <= losses, axis=1) & np.any(losses[i] < losses, axis=1)
        efficient &= ~dominated_by_i
    return efficient


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance (Deb et al. 2002) of each row among ``points`` (losses): how
    much room it has on the front; the extremes of every objective get infinity."""
    import numpy as np

    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(m):
            order = np.argsort(points[:, j], kind="stable")
            column = points[order, j]
            distance[order[0]] = distance[order[-1]] = np.inf
            span = column[-1] - column[0]
            if not np.isfinite(span) or span <= 0:
                continue
            gaps = np.nan_to_num((column[2:] - column[:-2]) / span, nan=0.0)
            distance[order[1:-1]] += gaps
    return distance


def dominates(rows: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``out[i, j]``: row ``i`` of ``rows`` dominates row ``j`` of ``points`` (no worse in every
    loss, better in one)."""
    import numpy as np

    no_worse = np.ones((len(rows), len(points)), dtype=bool)
    better = np.zeros((len(rows), len(points)), dtype=bool)
    for j in range(points.shape[1]):  # one 2-D comparison per objective: faster than 3-D
        a, b = rows[:, j, None], points[None, :, j]
        no_worse &= a <= b
        better |= a < b
    return no_worse & better


def pareto_ranks(points: np.ndarray, until: int | None = None) -> np.ndarray:
    """The front of each row of ``points`` (losses) under non-dominated sorting: 0 for rows
    nothing dominates, 1 for rows only front 0 dominates, and so on. With ``until``, sorting
    may stop once that row is ranked; rows left unranked get -1."""
    import numpy as np

    if points.shape[1] == 2:
        return _pareto_ranks_2d(points)
    n = len(points)
    chunk = max(1, (1 << 22) // max(1, n * points.shape[1]))  # bounds memory to a few MB

    def dominated_counts(rows: np.ndarray) -> np.ndarray:
        counts = np.zeros(n, dtype=np.int64)
        for start in range(0, len(rows), chunk):
            counts += dominates(points[rows[start:start + chunk]], points).sum(axis=0)
        return counts

    # Peel fronts: a row joins the next front once every row dominating it is ranked. Only
    # the rows of each new front are compared with all others, so memory stays O(n).
    counts = dominated_counts(np.arange(n))
    ranks = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(counts == 0)
    rank = 0
    while len(front):
        ranks[front] = rank
        if until is not None and ranks[until] >= 0:
            break
        counts -= dominated_counts(front)
        counts[front] = -1
        front = np.flatnonzero(counts == 0)
        rank += 1
    return ranks


def _pareto_ranks_2d(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting of two losses in O(n log n) (Jensen 2003): rows taken in
    lexicographic order can only be dominated by rows taken before them, so each goes to the
    first front none of whose members dominates it, found by binary search (if front i+1
    dominates a row, so does front i)."""
    import numpy as np

    x, y = points[:, 0], points[:, 1]
    ranks = np.empty(len(points), dtype=np.int64)
    lowest_y: list[float] = []  # per front: its smallest second loss (the last row added) ...
    its_x: list[float] = []  # ... and that row's first loss
    for row in np.lexsort((y, x)).tolist():
        xr, yr = float(x[row]), float(y[row])
        low, high = 0, len(lowest_y)
        while low < high:  # first front not dominating the row
            mid = (low + high) // 2
            if lowest_y[mid] < yr or (lowest_y[mid] == yr and its_x[mid] < xr):
                low = mid + 1
            else:
                high = mid
        if low == len(lowest_y):
            lowest_y.append(yr)
            its_x.append(xr)
        else:
            lowest_y[low], its_x[low] = yr, xr
        ranks[row] = low
    return ranks
