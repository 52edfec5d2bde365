"""A Gaussian-process regression model: hyperparameters by maximum a posteriori marginal
likelihood, predictions with their gradients for the acquisition optimizer.

Outputs are standardized by the caller. The hyperparameters (inverse squared length scales,
signal variance, noise variance) are fit in log space by L-BFGS-B with analytic gradients
(Rasmussen & Williams 2006, eq. 5.9), warm-started from the previous fit so a new trial costs
a few iterations. Length scales get a log-normal prior centred on the side of the unit cube.
The noise floor and a jitter that grows until the Cholesky factorization succeeds keep
duplicate points and constant objectives stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.linalg import lapack

from pipetune.samplers.gp.kernel import (
    matern52,
    matern52_with_slope,
    pair_deltas,
    scaled_distances,
)

# Bounds in log space: length scales 1e-2..1e2 on the unit cube, signal variance 1e-2..1e2 of
# the standardized outputs; noise from MIN_NOISE (a deterministic objective) to 2.
_LOG_ETA_BOUNDS = (math.log(1e-4), math.log(1e4))
_LOG_SIGNAL_BOUNDS = (math.log(1e-2), math.log(1e2))
MIN_NOISE = 1e-6
_LOG_NOISE_BOUNDS = (math.log(MIN_NOISE), math.log(2.0))
# Log-normal priors (mean, sd of the log). On each length scale: centred on the side of the
# unit cube, sd one e-fold. Wider priors (Hvarfner et al. 2024, "Vanilla Bayesian optimization
# performs great in high dimensions": mean sqrt2 + log(d)/2, variance 3) let a param whose
# effect is small next to another's get a length scale of many cube sides; the model is then
# linear along it, its variance vanishes and proposals stick to one end of its range (seen on
# benchmarks/gp_speed.py's space). On the signal variance: around 1, the standardized
# variance. On the noise: around 2.5e-3 of the variance, 0.1 at 2.5 sd; most objectives are
# nearly deterministic, and a loose noise prior lets a handful of points be explained away
# as noise.
_LOG_LENGTHSCALE_PRIOR = (0.0, 1.0)
_LOG_SIGNAL_PRIOR = (0.0, 1.0)
_LOG_NOISE_PRIOR = (-6.0, 1.5)
_FIT_MAX_ITERATIONS = 50
_RESTART_FIT_UNTIL = 100  # points up to which every fit also starts from the prior's centre


@dataclass(frozen=True)
class Hyperparameters:
    """The kernel's log inverse squared length scales, log signal and log noise variance."""

    log_eta: np.ndarray
    log_signal: float
    log_noise: float

    def vector(self) -> np.ndarray:
        return np.concatenate([self.log_eta, [self.log_signal, self.log_noise]])

    @classmethod
    def from_vector(cls, theta: np.ndarray) -> Hyperparameters:
        return cls(np.array(theta[:-2]), float(theta[-2]), float(theta[-1]))

    @classmethod
    def initial(cls, dim: int) -> Hyperparameters:
        """The prior's median length scale, unit signal, the prior's noise."""
        return cls(np.full(dim, -2.0 * _LOG_LENGTHSCALE_PRIOR[0]), 0.0, _LOG_NOISE_PRIOR[0])


def cholesky(matrix: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor, adding a growing jitter to the diagonal until it exists
    (rounding can make a valid covariance matrix of near-duplicate points indefinite)."""
    scale = float(np.mean(np.diag(matrix))) or 1.0
    jitter = 0.0
    for _ in range(8):
        factor, info = lapack.dpotrf(matrix + jitter * np.eye(len(matrix)), lower=True,
                                     clean=True, overwrite_a=False)
        if info == 0:
            return factor
        jitter = max(jitter * 10.0, 1e-10 * scale)
    raise np.linalg.LinAlgError("covariance matrix is not positive definite even with jitter")


def _negative_log_prior(theta: np.ndarray, dim: int) -> tuple[float, np.ndarray]:
    mean_ls, sd_ls = _LOG_LENGTHSCALE_PRIOR
    log_ls = -0.5 * theta[:dim]  # theta holds log(1 / lengthscale^2)
    value = float(np.sum((log_ls - mean_ls) ** 2)) / (2.0 * sd_ls * sd_ls)
    grad = np.zeros_like(theta)
    grad[:dim] = (log_ls - mean_ls) / (sd_ls * sd_ls) * -0.5
    for k, (mu, sd) in ((dim, _LOG_SIGNAL_PRIOR), (dim + 1, _LOG_NOISE_PRIOR)):
        value += (theta[k] - mu) ** 2 / (2.0 * sd * sd)
        grad[k] = (theta[k] - mu) / (sd * sd)
    return value, grad


def _negative_log_posterior(theta: np.ndarray, deltas: np.ndarray, y: np.ndarray,
                            fit_noise: bool) -> tuple[float, np.ndarray]:
    n, dim = len(y), deltas.shape[2]
    eta, signal, noise = np.exp(theta[:dim]), math.exp(theta[dim]), math.exp(theta[dim + 1])
    r2 = deltas @ eta
    correlation, slope = matern52_with_slope(r2)
    covariance = signal * correlation
    covariance[np.diag_indices(n)] += noise
    factor = cholesky(covariance)
    alpha = scipy.linalg.cho_solve((factor, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.sum(np.log(np.diag(factor)))) \
        + 0.5 * n * math.log(2.0 * math.pi)
    inverse, _ = lapack.dpotri(factor, lower=True)
    inverse = np.tril(inverse) + np.tril(inverse, -1).T
    # d nll / d theta_k = -1/2 tr((alpha alpha^T - K^-1) dK/dtheta_k)
    weights = np.outer(alpha, alpha) - inverse
    grad = np.empty_like(theta)
    slope_weights = weights * (signal * slope)
    grad[:dim] = -0.5 * eta * (slope_weights.ravel() @ deltas.reshape(n * n, dim))
    grad[dim] = -0.5 * signal * float(np.sum(weights * correlation))
    grad[dim + 1] = -0.5 * noise * float(np.trace(weights)) if fit_noise else 0.0
    prior, prior_grad = _negative_log_prior(theta, dim)
    return nll + prior, grad + prior_grad


class GaussianProcess:
    """A GP conditioned on ``points`` (rows in the unit space) and standardized ``values``."""

    def __init__(self, points: np.ndarray, values: np.ndarray, categorical: np.ndarray,
                 hyperparameters: Hyperparameters) -> None:
        self.points = points
        self.values = values
        self.categorical = categorical
        self.hyperparameters = hyperparameters
        self._eta = np.exp(hyperparameters.log_eta)
        self._signal = math.exp(hyperparameters.log_signal)
        covariance = self._covariance(points, points)
        covariance[np.diag_indices(len(points))] += math.exp(hyperparameters.log_noise)
        self._factor = cholesky(covariance)
        self._alpha = scipy.linalg.cho_solve((self._factor, True), values, check_finite=False)
        # The explicit inverse turns each batch of predictions into one matrix product, much
        # faster than two triangular solves per batch.
        inverse, _ = lapack.dpotri(self._factor, lower=True)
        self._inverse = np.tril(inverse) + np.tril(inverse, -1).T

    @classmethod
    def fit(cls, points: np.ndarray, values: np.ndarray, categorical: np.ndarray,
            start: Hyperparameters | None = None, deterministic: bool = False) -> GaussianProcess:
        """Fits the hyperparameters by maximum a posteriori marginal likelihood, from ``start``
        (a previous fit) when given; a deterministic objective keeps the minimal noise."""
        dim = points.shape[1]
        if start is None or len(start.log_eta) != dim:
            start = Hyperparameters.initial(dim)
        theta0 = start.vector()
        if deterministic:
            theta0[-1] = _LOG_NOISE_BOUNDS[0]
        deltas = pair_deltas(points, points, categorical)
        bounds = [_LOG_ETA_BOUNDS] * dim + [_LOG_SIGNAL_BOUNDS]
        bounds.append((_LOG_NOISE_BOUNDS[0],) * 2 if deterministic else _LOG_NOISE_BOUNDS)
        # Two starts, the previous fit and the prior's centre: a warm start alone can stay
        # in a poor local optimum (everything explained as noise) for the rest of the study.
        # With many points the data pin the hyperparameters down and the warm start suffices.
        default = Hyperparameters.initial(dim).vector()
        if deterministic:
            default[-1] = _LOG_NOISE_BOUNDS[0]
        lows, highs = [b[0] for b in bounds], [b[1] for b in bounds]
        best_theta, best_value = default, math.inf
        starts = {tuple(np.clip(theta0, lows, highs))}
        if len(values) <= _RESTART_FIT_UNTIL:
            starts.add(tuple(default))
        for initial in starts:
            result = scipy.optimize.minimize(
                _negative_log_posterior, np.array(initial),
                args=(deltas, values, not deterministic),
                jac=True, method="L-BFGS-B", bounds=bounds,
                options={"maxiter": _FIT_MAX_ITERATIONS})
            if np.all(np.isfinite(result.x)) and result.fun < best_value:
                best_theta, best_value = result.x, float(result.fun)
        return cls(points, values, categorical, Hyperparameters.from_vector(best_theta))

    def condition_on(self, points: np.ndarray, values: np.ndarray) -> GaussianProcess:
        """The same model with more observations and unchanged hyperparameters."""
        return GaussianProcess(np.vstack([self.points, points]),
                               np.concatenate([self.values, values]), self.categorical,
                               self.hyperparameters)

    def _covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._signal * matern52(scaled_distances(a, b, self._eta, self.categorical))

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function at ``points``."""
        cross = self._covariance(points, self.points)
        mean = cross @ self._alpha
        variance = np.maximum(self._signal - np.sum((cross @ self._inverse) * cross, axis=1),
                              1e-12)
        return mean, variance

    def predict_with_gradients(self, points: np.ndarray) -> tuple[np.ndarray, ...]:
        """Mean, variance and their gradients along the numeric axes (zero along categorical
        ones), for rows of ``points``."""
        categorical = self.categorical
        correlation, slope = matern52_with_slope(
            scaled_distances(points, self.points, self._eta, categorical))
        cross = self._signal * correlation
        mean = cross @ self._alpha
        v = cross @ self._inverse  # (B, n): K^-1 k(x) per point
        variance = np.maximum(self._signal - np.sum(cross * v, axis=1), 1e-12)
        # dk(x, x_i)/dx_j = slope(r2) * 2 eta_j (x_j - x_ij), zero along categorical axes
        slope = self._signal * slope
        numeric = ~categorical
        weights_mean = slope * self._alpha  # (B, n)
        weights_var = slope * v
        x = points[:, numeric]
        data = self.points[:, numeric]
        factor = 2.0 * self._eta[numeric]
        mean_grad = np.zeros_like(points)
        variance_grad = np.zeros_like(points)
        # sum_i w_bi (x_bj - x_ij) = x_bj sum_i w_bi - (w @ X)_bj
        mean_grad[:, numeric] = factor * (x * weights_mean.sum(axis=1, keepdims=True)
                                          - weights_mean @ data)
        variance_grad[:, numeric] = -2.0 * factor * (x * weights_var.sum(axis=1, keepdims=True)
                                                     - weights_var @ data)
        return mean, variance, mean_grad, variance_grad
