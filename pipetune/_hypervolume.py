"""The hypervolume of a set of points: the volume they dominate up to a reference point.

The measure of a multi-objective search's progress (Zitzler and Thiele, "Multiobjective
optimization using evolutionary algorithms: a comparative case study", PPSN 1998): the larger
the region of objective space that the Pareto front dominates, the better the front.
"""

from __future__ import annotations

import numpy as np

from pipetune._best import is_pareto_efficient

__all__ = ["hypervolume"]


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The volume dominated by ``points`` (rows; every objective minimized) and bounded by
    ``reference``. Points not better than the reference on every objective add nothing.

    Two objectives are one sweep in order of the first; more are sliced along the last
    objective (HSO: "hypervolume by slicing objectives", While et al., IEEE TEC 2006), each
    slice the hypervolume of the points below it in one dimension fewer."""
    points = np.asarray(points, dtype=float).reshape(-1, len(reference))
    reference = np.asarray(reference, dtype=float)
    points = points[(points < reference).all(axis=1)]
    if not len(points):
        return 0.0
    points = points[is_pareto_efficient(points)]
    return _sliced(points[np.argsort(points[:, -1], kind="stable")], reference)


def _sliced(points: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of non-empty ``points``, sorted by their last objective."""
    if points.shape[1] == 1:
        return float(reference[0] - points[:, 0].min())
    if points.shape[1] == 2:
        # Sorted by the second objective, a Pareto front is sorted backwards by the first: each
        # point adds the strip between its first objective and the previous point's.
        ordered = points[np.lexsort((points[:, 0], points[:, 1]))]
        widths = np.minimum.accumulate(np.concatenate([[reference[0]], ordered[:, 0]]))
        heights = reference[1] - ordered[:, 1]
        return float(np.sum((widths[:-1] - widths[1:]) * heights))
    volume = 0.0
    tops = np.append(points[1:, -1], reference[-1])
    for i in range(len(points)):
        depth = tops[i] - points[i, -1]
        if depth > 0:
            below = points[:i + 1, :-1]
            below = below[is_pareto_efficient(below)]
            volume += depth * _sliced(below[np.argsort(below[:, -1], kind="stable")],
                                      reference[:-1])
    return volume
