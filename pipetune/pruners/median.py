"""The median stopping rule: the 50th-percentile case of ``PercentilePruner``."""

from __future__ import annotations

from pipetune.pruners.percentile import PercentilePruner


class MedianPruner(PercentilePruner):
    """Prunes a trial whose best value so far is worse than the median of the other finished
    trials' best values up to the same step: the median stopping rule of Google Vizier
    (Golovin et al. 2017). See ``PercentilePruner`` for the exact statistic, NaN handling and
    what ``n_startup_trials``, ``n_warmup_steps``, ``interval_steps`` and ``n_min_trials`` do.
    """

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0,
                 interval_steps: int = 1, n_min_trials: int = 1) -> None:
        super().__init__(50.0, n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
                         interval_steps=interval_steps, n_min_trials=n_min_trials)

    def __repr__(self) -> str:
        return (f"MedianPruner(n_startup_trials={self._n_startup_trials}, "
                f"n_warmup_steps={self._n_warmup_steps}, interval_steps={self._interval_steps}, "
                f"n_min_trials={self._n_min_trials})")
