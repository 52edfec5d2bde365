"""Maps points of the unit interval onto distributions: shared by random and QMC sampling."""

from __future__ import annotations

import math
from typing import Any

from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)


def from_unit(distribution: Distribution, u: float) -> Any:
    """The external value at quantile ``u`` in [0, 1) of a uniform draw over the domain (in log
    space for log domains; every grid point and choice equally likely)."""
    if isinstance(distribution, CategoricalDistribution):
        n = len(distribution.choices)
        return distribution.choices[min(int(u * n), n - 1)]
    low, high = distribution.low, distribution.high
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        elif distribution.step is not None:
            n_points = int(round((high - low) / distribution.step)) + 1
            value = low + min(int(u * n_points), n_points - 1) * distribution.step
        else:
            value = low + u * (high - low)
            if not math.isfinite(value):  # high - low overflowed (bounds near +-1.8e308)
                value = (1.0 - u) * low + u * high
        return min(max(value, low), high)
    assert isinstance(distribution, IntDistribution)
    if distribution.log:
        # Uniform in log space over [low - 0.5, high + 0.5] so each end gets its fair share.
        log_low, log_high = math.log(low - 0.5), math.log(high + 0.5)
        number = int(round(math.exp(log_low + u * (log_high - log_low))))
    else:
        first, step = distribution.low, distribution.step
        n_points = (distribution.high - first) // step + 1
        number = first + min(int(u * n_points), n_points - 1) * step
    return min(max(number, distribution.low), distribution.high)
