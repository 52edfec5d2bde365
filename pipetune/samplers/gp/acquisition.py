"""Acquisition functions, each returning its value and its gradients with respect to the
posterior mean and variance (the optimizer chains them with the model's own gradients).

Expected improvement is taken in log space, as LogEI of Ament et al. 2023 ("Unexpected
improvements to expected improvement for Bayesian optimization"): EI underflows to exactly 0
far from the incumbent, which leaves a gradient-based optimizer nothing to follow, while its
logarithm stays finite and informative everywhere. Constraints enter as the log probability of
feasibility (Gardner et al. 2014), added to LogEI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfcx, log_ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI_OVER_2 = 0.5 * math.log(math.pi / 2.0)
_SQRT_HALF = math.sqrt(0.5)
# Below this z, 1 - |z| sqrt(pi/2) erfcx(-z / sqrt2) cancels to nothing in doubles, and the
# asymptotic form -z^2/2 - log(sqrt(2 pi)) - 2 log|z| is exact to machine precision.
_ASYMPTOTIC_Z = -1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0, accurate at both ends (Maechler 2012)."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), the log of EI / sigma, stable for every z (Ament et al. 2023,
    eq. 9: for z <= -1 through the scaled complementary error function)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * np.exp(log_ndtr(zu)))
    middle = ~upper & (z > _ASYMPTOTIC_Z)
    zm = z[middle]
    out[middle] = (-0.5 * zm * zm - _LOG_SQRT_2PI
                   + _log1mexp(np.log(erfcx(-_SQRT_HALF * zm) * np.abs(zm)) + _HALF_LOG_PI_OVER_2))
    low = z <= _ASYMPTOTIC_Z
    zl = z[low]
    out[low] = -0.5 * zl * zl - _LOG_SQRT_2PI - 2.0 * np.log(np.abs(zl))
    return out


@dataclass(frozen=True)
class Scored:
    """Acquisition values of a batch of points and their gradients with respect to the
    posterior mean and variance at each point."""

    value: np.ndarray
    d_mean: np.ndarray
    d_variance: np.ndarray


def log_expected_improvement(mean: np.ndarray, variance: np.ndarray, best: float) -> Scored:
    """log E[max(best - f, 0)] for a minimized f ~ N(mean, variance)."""
    sigma = np.sqrt(variance)
    z = (best - mean) / sigma
    lh = log_h(z)
    # d log h / dz = Phi(z) / h(z), formed in log space.
    ratio = np.exp(log_ndtr(z) - lh)
    d_sigma = 1.0 / sigma - ratio * z / sigma
    return Scored(np.log(sigma) + lh, -ratio / sigma, d_sigma / (2.0 * sigma))


def log_probability_of_feasibility(mean: np.ndarray, variance: np.ndarray,
                                   threshold: float) -> Scored:
    """log P(c <= threshold) for a constraint value c ~ N(mean, variance)."""
    sigma = np.sqrt(variance)
    u = (threshold - mean) / sigma
    log_cdf = log_ndtr(u)
    # d log Phi(u) / du = phi(u) / Phi(u)
    ratio = np.exp(-0.5 * u * u - _LOG_SQRT_2PI - log_cdf)
    return Scored(log_cdf, -ratio / sigma, -ratio * u / (2.0 * variance))
