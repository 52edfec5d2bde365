"""Multivariate Parzen estimators over a mixed search space, vectorized with numpy.

A density is a weighted mixture: one kernel per observation plus one broad prior kernel. Each
kernel is a product over params of a truncated Gaussian (numeric params, in the search space's
transformed coordinates) or an Aitchison-Aitken kernel (categorical params). Discrete params
(ints, stepped floats) use the probability mass of their rounding cell instead of a density,
which keeps likelihood ratios meaningful on grids (Watanabe 2023, section 3.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    IntDistribution,
)

_SQRT_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# beta = (k - 1) / k / (1 + n ** this): 1/2 of the uniform share at n = 1, 0.38 at n = 25.
_CATEGORICAL_SHARPENING = 0.15
_BLOCK_ELEMENTS = 12_000  # see ParzenEstimator.log_pdf


@dataclass(frozen=True)
class Axis:
    """One param's coordinates: bounds in transformed space and the rounding cell (0 when
    continuous), or the number of choices for a categorical param."""

    name: str
    distribution: Distribution
    low: float = 0.0
    high: float = 0.0
    cell: float = 0.0
    log: bool = False
    n_choices: int = 0

    @property
    def categorical(self) -> bool:
        return self.n_choices > 0

    @classmethod
    def of(cls, name: str, distribution: Distribution) -> Axis:
        if isinstance(distribution, CategoricalDistribution):
            return cls(name, distribution, n_choices=len(distribution.choices))
        if distribution.log:
            # A log int keeps half a unit at both ends so the end values get their share.
            pad = 0.5 if isinstance(distribution, IntDistribution) else 0.0
            return cls(name, distribution, math.log(distribution.low - pad),
                       math.log(distribution.high + pad), log=True)
        step = distribution.step if distribution.step is not None else 0.0
        return cls(name, distribution, distribution.low - step / 2, distribution.high + step / 2,
                   cell=float(step))

    @property
    def grid_size(self) -> int | None:
        """How many values the param takes (choices, ints, steps); None when continuous."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return len(d.choices)
        if d.step is None:
            return None
        return int(round((d.high - d.low) / d.step)) + 1

    def grid_index(self, value: object) -> int | None:
        """The position of an external value among the param's values (0 = ``low`` or the
        first choice); None when it is not one of them (e.g. the domain has changed since)."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return d.index_of(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or d.step is None:
            return None
        index = int(round((value - d.low) / d.step))
        size = self.grid_size
        return index if size is not None and 0 <= index < size else None

    def grid_coordinates(self, indices: np.ndarray) -> np.ndarray:
        """The transformed coordinates of the param's ``indices``-th values, the grid points
        ``ParzenEstimator.sample`` returns (a finite axis only: see ``grid_size``)."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return indices.astype(float)
        if d.step is None:
            raise ValueError(f"{self.name!r} is continuous: it has no grid.")
        values = d.low + indices * d.step
        return np.log(values) if self.log else values.astype(float)

    def encode(self, internal: np.ndarray) -> np.ndarray:
        """Internal values (see distributions.py) -> transformed coordinates."""
        return np.log(internal) if self.log else internal

    def decode(self, coordinate: float) -> object:
        """A transformed coordinate -> the external value nearest to it in the domain."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[int(coordinate)]
        value = math.exp(coordinate) if self.log else coordinate
        if isinstance(d, IntDistribution):
            value = d.low + round((value - d.low) / d.step) * d.step
            return int(min(max(value, d.low), d.high))
        if d.step is not None:
            value = d.low + round((value - d.low) / d.step) * d.step
        return float(min(max(value, d.low), d.high))


def _log_kernel_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)): the mass a kernel keeps inside the domain. Every kernel is centred
    inside the domain (a <= 0 <= b), so the mass is at least about a third and needs no
    tail-stable formula; a kernel more than 8 widths from both bounds keeps all of it, which
    spares the normal CDF for most kernels."""
    out = np.zeros(np.shape(a))
    near = (a > -8.0) | (b < 8.0)
    out[near] = np.log(ndtr(b[near]) - ndtr(a[near]))
    return out


class ParzenEstimator:
    """A mixture density over ``axes`` fit to ``points`` (rows of transformed coordinates;
    categorical columns hold choice indices), with ``weights`` on the observations (uniform
    by default) and ``prior_weight`` on a broad prior kernel. ``min_cells`` floors the width
    of the observation kernels on discrete axes at that many rounding cells."""

    def __init__(self, axes: list[Axis], points: np.ndarray, *, prior_weight: float,
                 bandwidth_factor: float, min_bandwidth_fraction: float,
                 weights: np.ndarray | None = None, min_cells: float = 0.0) -> None:
        self.axes = axes
        n, d = points.shape
        n_components = n + 1
        # One weight per observation (1 each unless given) and the prior's.
        mixture = np.append(np.ones(n) if weights is None else weights, prior_weight)
        with np.errstate(divide="ignore"):  # a zero weight drops its kernel
            self.log_weights = np.log(mixture / mixture.sum())
        numeric = [j for j, axis in enumerate(axes) if not axis.categorical]
        self._numeric = np.array(numeric, dtype=int)
        self._categorical = [j for j, axis in enumerate(axes) if axis.categorical]
        lows = np.array([axes[j].low for j in numeric])
        highs = np.array([axes[j].high for j in numeric])
        widths = highs - lows
        self._lows, self._highs = lows, highs
        self._cells = np.array([axes[j].cell for j in numeric])
        # Numeric kernels: Scott's rule n^(-1/(d+4)) on the width of the domain, the same for
        # every kernel of a mixture, clipped from below so a tight cluster stays explorable.
        prior_mu = (lows + highs) / 2
        empty = np.empty((n_components, 0))
        self._mu = np.vstack([points[:, numeric], prior_mu[None, :]]) if numeric else empty
        scale = bandwidth_factor * (n_components ** (-1.0 / (max(d, 1) + 4)))
        sigma = np.maximum(widths * scale, widths * min_bandwidth_fraction)
        sigma = np.maximum(sigma, self._cells * min_cells)
        self._sigma = np.vstack([np.tile(sigma, (n, 1)), widths[None, :]]) if numeric else empty
        self._sigma = np.maximum(self._sigma, 1e-12)
        a = (lows - self._mu) / self._sigma
        b = (highs - self._mu) / self._sigma
        log_mass = _log_kernel_mass(a, b)
        # Discrete axes whose cells are narrow against every kernel use density x cell width;
        # the others get the exact cell mass in log_pdf.
        narrowest = self._sigma.min(axis=0, initial=np.inf)
        self._exact_cells = ((self._cells > 0) & (self._cells / narrowest > 0.2)
                             if numeric else np.zeros(0, dtype=bool))
        # Exact discrete axes: the observation kernels share one width, so the mass of a cell
        # depends only on how many cells apart the point and the centre are. One small table of
        # those masses per axis, indexed in log_pdf, replaces a normal CDF per (point, kernel).
        self._cell_tables: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        for j in np.flatnonzero(self._exact_cells).tolist():
            cell = self._cells[j]
            span = int(round((highs[j] - lows[j]) / cell))
            offsets = np.arange(-span, span + 1) * cell
            table = np.log(np.maximum(ndtr((offsets + cell / 2) / self._sigma[0, j])
                                      - ndtr((offsets - cell / 2) / self._sigma[0, j]), 1e-300))
            centres = np.rint((self._mu[:n, j] - lows[j] - cell / 2) / cell).astype(np.intp)
            self._cell_tables[j] = (span, table, centres)
        dense = ~self._exact_cells
        inv_var = 1.0 / self._sigma ** 2
        self._inv_var = inv_var
        self._mu_over_var = self._mu * inv_var
        self._mu_sq_over_var_sum = (self._mu ** 2 * inv_var)[:, dense].sum(axis=1)
        has_cells = self._cells > 0
        log_cells = np.where(has_cells, np.log(np.where(has_cells, self._cells, 1.0)), 0.0)
        self._log_norm = (-log_mass.sum(axis=1)
                          + ((-_SQRT_HALF_LOG_2PI - np.log(self._sigma) + log_cells[None, :])
                             [:, dense]).sum(axis=1))
        # Categorical kernels (Aitchison & Aitken 1976): the observed choice keeps 1 - beta, the
        # others share beta. beta shrinks slowly as observations accumulate, so the estimate
        # sharpens with data instead of smoothing toward uniform by a fixed amount; faster
        # sharpening locked onto a wrong choice when choices interact with other params
        # (benchmarks/quality.py, problem "mixed").
        self._categorical_log_probs = []
        for j in self._categorical:
            k = axes[j].n_choices
            beta = (k - 1) / k / (1.0 + n ** _CATEGORICAL_SHARPENING) if k > 1 else 0.0
            probs = np.full((n_components, k), beta / max(k - 1, 1))
            observed = points[:, j].astype(int)
            probs[np.arange(n), observed] = 1.0 - beta
            probs[n, :] = 1.0 / k  # the prior kernel is uniform
            self._categorical_log_probs.append(np.log(probs))
        # The same tables as (choice, kernel): log_pdf gathers whole contiguous rows.
        self._categorical_log_probs_by_choice = [np.ascontiguousarray(t.T)
                                                 for t in self._categorical_log_probs]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` points drawn from the mixture (discrete axes rounded onto their grid)."""
        weights = np.exp(self.log_weights)
        components = rng.choice(len(weights), size=size, p=weights / weights.sum())
        out = np.empty((size, len(self.axes)))
        if len(self._numeric):
            mu = self._mu[components]
            sigma = self._sigma[components]
            lo = ndtr((self._lows - mu) / sigma)
            hi = ndtr((self._highs - mu) / sigma)
            u = lo + rng.random(mu.shape) * (hi - lo)
            x = mu + sigma * ndtri(np.clip(u, 1e-16, 1 - 1e-16))
            x = np.clip(x, self._lows, self._highs)
            cells = self._cells
            discrete = cells > 0
            if discrete.any():
                offset = self._lows[discrete] + cells[discrete] / 2
                steps = np.round((x[:, discrete] - offset) / cells[discrete])
                grid = offset + steps * cells[discrete]
                x[:, discrete] = np.clip(grid, offset, self._highs[discrete] - cells[discrete] / 2)
            out[:, self._numeric] = x
        for j, log_probs in zip(self._categorical, self._categorical_log_probs):
            probs = np.exp(log_probs[components])
            cumulative = probs.cumsum(axis=1)
            draws = rng.random(size)[:, None] * cumulative[:, -1:]
            out[:, j] = (cumulative < draws).sum(axis=1)
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density (log mass on discrete axes) of each row of ``x`` under the mixture.
        Coordinates on discrete axes must be grid points (as ``sample`` returns them)."""
        n_kernels = len(self.log_weights)
        # Kernels are processed in blocks whose (points x kernels) arrays stay under ~100 KB:
        # larger temporaries are fresh memory maps from the allocator, and faulting their pages
        # in cost more than the arithmetic (measured: 0.4 ms per 384 KB array).
        block_size = max(1, _BLOCK_ELEMENTS // max(len(x), 1))
        xs = x[:, self._numeric]
        dense = ~self._exact_cells
        xd = xs[:, dense]
        xd_squared = xd * xd
        point_cells = {j: np.rint((xs[:, j] - self._lows[j] - self._cells[j] / 2)
                                  / self._cells[j]).astype(np.intp) + span
                       for j, (span, _, _) in self._cell_tables.items()}
        choices = [x[:, j].astype(np.intp) for j in self._categorical]
        result = np.full(len(x), -np.inf)
        for start in range(0, n_kernels, block_size):
            block = slice(start, min(start + block_size, n_kernels))
            total = np.empty((len(x), block.stop - start))
            total[:] = self.log_weights[block] + self._log_norm[block]
            if dense.any():
                # sum_j ((x_j - mu_kj) / sigma_kj)^2 expanded into matrix products.
                squared = xd_squared @ self._inv_var[block][:, dense].T
                squared -= 2.0 * (xd @ self._mu_over_var[block][:, dense].T)
                squared += self._mu_sq_over_var_sum[block]
                squared *= -0.5
                total += squared
            for j, (_span, table, centres) in self._cell_tables.items():
                self._add_cell_mass(total, block, j, xs[:, j], point_cells[j], table, centres)
            for by_choice, chosen in zip(self._categorical_log_probs_by_choice, choices):
                total += by_choice[chosen, block]
            result = np.logaddexp(result, _logsumexp_rows(total))
        return result

    def _add_cell_mass(self, total: np.ndarray, block: slice, j: int, x: np.ndarray,
                       point_cells: np.ndarray, table: np.ndarray,
                       centres: np.ndarray) -> None:
        """Adds the log mass of the rounding cell around ``x`` under each kernel of ``block``."""
        n = len(centres)  # kernels 0..n-1 are observations, kernel n the prior
        stop = min(block.stop, n)
        if block.start < stop:
            total[:, :stop - block.start] += table[point_cells[:, None]
                                                   - centres[None, block.start:stop]]
        if block.start <= n < block.stop:
            mu, sigma, half = self._mu[n, j], self._sigma[n, j], self._cells[j] / 2
            z = (x - mu) / sigma
            total[:, n - block.start] += np.log(np.maximum(
                ndtr(z + half / sigma) - ndtr(z - half / sigma), 1e-300))


def _logsumexp_rows(values: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) per row, in place; the exponentials are summed in float32, which is
    several times faster here and exact enough to rank candidates (relative error ~1e-7)."""
    peak = values.max(axis=1)
    values -= peak[:, None]
    shifted = values.astype(np.float32)
    np.exp(shifted, out=shifted)
    return peak + np.log(shifted.sum(axis=1, dtype=np.float64))
