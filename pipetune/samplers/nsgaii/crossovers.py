"""Crossovers: how NSGAIISampler and NSGAIIISampler make a child's numeric params from its
parents'.

A crossover sees the numeric params of ``n_parents`` parents as rows of a matrix in the
sampler's continuous coordinates (log space for log domains; an int or stepped param as a
float over its range widened by half a step on each side, so rounding gives every value its
share) and returns one child row; the sampler rounds it back onto the domains and asks again
when the child leaves the bounds. Categorical params never reach a crossover: the sampler
takes each from one of two parents (uniform crossover with ``swapping_prob``).

The random generator handed to ``crossover`` is a ``numpy.random.RandomState`` (as Optuna
hands its crossovers), derived from the seed and the trial number; ``view`` is the read-only
study (``pipetune.view.StudyView``), e.g. for ``view.is_multi_objective``.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING

import numpy as np

from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.view import StudyView

__all__ = ["BLXAlphaCrossover", "BaseCrossover", "SBXCrossover", "SPXCrossover",
           "UNDXCrossover", "UniformCrossover", "VSBXCrossover"]


class BaseCrossover(abc.ABC):
    """Makes one child from the numeric params of ``n_parents`` parents."""

    def __str__(self) -> str:
        return type(self).__name__

    @property
    @abc.abstractmethod
    def n_parents(self) -> int:
        """How many parents one child takes."""

    @abc.abstractmethod
    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        """The child of ``parents_params`` (one row per parent, one column per numeric param)
        as a row of the same coordinates; ``search_space_bounds`` holds each column's
        ``[low, high]``."""


def _probability(owner: str, name: str, value: float, *, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        0.0 < value <= 1.0 if open_low else 0.0 <= value <= 1.0)
    if not ok:
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be a probability in {interval}. "
            f"Got {value!r}.")
    return float(value)


def _nonnegative(owner: str, name: str, value: float) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= 0
    if not ok:
        raise InvalidArgumentError(
            f"The {name!r} argument of {owner} must be a finite number >= 0. Got {value!r}.")
    return float(value)


def _nonnegative_or_none(owner: str, name: str, value: float | None) -> float | None:
    """``value`` checked, None standing for the crossover's default."""
    return None if value is None else _nonnegative(owner, name, value)


class UniformCrossover(BaseCrossover):
    """Each param comes from the second parent with probability ``swapping_prob``, else from
    the first (Syswerda 1989, "Uniform crossover in genetic algorithms")."""

    n_parents = 2

    def __init__(self, swapping_prob: float = 0.5) -> None:
        self._swapping_prob = _probability("UniformCrossover", "swapping_prob", swapping_prob)

    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        swap = rng.rand(parents_params.shape[1]) < self._swapping_prob
        return np.where(swap, parents_params[1], parents_params[0])


class BLXAlphaCrossover(BaseCrossover):
    """Blend crossover BLX-alpha (Eshelman & Schaffer 1993, "Real-coded genetic algorithms
    and interval-schemata"): each param uniform over the parents' interval widened by
    ``alpha`` times its length on both sides."""

    n_parents = 2

    def __init__(self, alpha: float = 0.5) -> None:
        self._alpha = _nonnegative("BLXAlphaCrossover", "alpha", alpha)

    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        low, high = parents_params.min(axis=0), parents_params.max(axis=0)
        spread = (high - low) * self._alpha
        return low - spread + rng.rand(len(low)) * (high - low + 2 * spread)


class SPXCrossover(BaseCrossover):
    """Simplex crossover (Tsutsui, Yamamura & Higuchi 1999, "Multi-parent recombination with
    simplex crossover in real coded genetic algorithms"): a point drawn uniformly from the
    simplex of the three parents, expanded about their centroid by ``epsilon`` (default
    sqrt(n + 2) for n params, which keeps the parents' covariance)."""

    n_parents = 3

    def __init__(self, epsilon: float | None = None) -> None:
        self._epsilon = _nonnegative_or_none("SPXCrossover", "epsilon", epsilon)

    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        k, n = parents_params.shape
        epsilon = math.sqrt(n + 2) if self._epsilon is None else self._epsilon
        centroid = parents_params.mean(axis=0)
        vertices = centroid + epsilon * (parents_params - centroid)
        # A uniform point of the simplex, built vertex by vertex: r_i = u^(1/i) weighs how far
        # the point moves from the simplex spanned by the first i vertices towards the next.
        offset = np.zeros(n)
        for i in range(1, k):
            r = rng.rand() ** (1.0 / i)
            offset = r * (vertices[i - 1] - vertices[i] + offset)
        return vertices[-1] + offset


class _SimulatedBinary(BaseCrossover):
    """What SBX and vSBX share: two children per param spread around the parents by a
    polynomial distribution of index ``eta`` (default 2 for one objective, 20 for several),
    of which one child is returned: each param takes a child's value with probability
    ``use_child_gene_prob`` (else a parent's), the two children or parents swapped with
    probability ``uniform_crossover_prob``."""

    n_parents = 2

    def __init__(self, eta: float | None = None, uniform_crossover_prob: float = 0.5,
                 use_child_gene_prob: float = 0.5) -> None:
        owner = type(self).__name__
        self._eta = _nonnegative_or_none(owner, "eta", eta)
        self._uniform_crossover_prob = _probability(owner, "uniform_crossover_prob",
                                                    uniform_crossover_prob)
        self._use_child_gene_prob = _probability(owner, "use_child_gene_prob",
                                                 use_child_gene_prob, open_low=True)

    def _eta_for(self, view: StudyView) -> float:
        if self._eta is not None:
            return self._eta
        return 20.0 if view.is_multi_objective else 2.0

    @abc.abstractmethod
    def _children(self, parents: np.ndarray, rng: np.random.RandomState, eta: float,
                  bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two children, one value per param each."""

    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        first, second = self._children(parents_params, rng, self._eta_for(view),
                                       search_space_bounds)
        n = len(first)
        use_child = rng.rand(n) < self._use_child_gene_prob
        swap = rng.rand(n) < self._uniform_crossover_prob
        a = np.where(use_child, first, parents_params[0])
        b = np.where(use_child, second, parents_params[1])
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        return a if rng.rand() < 0.5 else b


class SBXCrossover(_SimulatedBinary):
    """Simulated binary crossover (Deb & Agrawal 1995, "Simulated binary crossover for
    continuous search space"), in its bounded form (Deb & Goyal 1996): the spread factor's
    distribution is truncated so that both children stay inside the bounds."""

    def _children(self, parents: np.ndarray, rng: np.random.RandomState, eta: float,
                  bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low, high = parents.min(axis=0), parents.max(axis=0)
        gap = np.maximum(high - low, 1e-10)
        u = rng.rand(len(low))

        def spread(room: np.ndarray) -> np.ndarray:
            # beta from the polynomial density, with the mass beyond the bound removed:
            # alpha = 2 - beta_max^-(eta+1) is the mass the truncated density keeps (times 2).
            beta_max = 1.0 + 2.0 * np.maximum(room, 0.0) / gap
            alpha = 2.0 - beta_max ** -(eta + 1.0)
            inside = u <= 1.0 / alpha
            with np.errstate(divide="ignore", invalid="ignore"):
                inner = (u * alpha) ** (1.0 / (eta + 1.0))
                outer = (1.0 / (2.0 - u * alpha)) ** (1.0 / (eta + 1.0))
            return np.where(inside, inner, outer)

        middle = (low + high) / 2
        return (middle - spread(low - bounds[:, 0]) * gap / 2,
                middle + spread(bounds[:, 1] - high) * gap / 2)


class VSBXCrossover(_SimulatedBinary):
    """The SBX variant vSBX (Ballester & Carter 2003, "Real-parameter genetic algorithms for
    finding multiple optimal solutions in multi-modal optimization"): children may also fall
    between and beyond the parents on either side, so no region of the space is excluded."""

    def _children(self, parents: np.ndarray, rng: np.random.RandomState, eta: float,
                  bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x1, x2 = parents[0], parents[1]
        u = rng.rand(len(x1))
        exponent = 1.0 / (eta + 1.0)
        beta1 = (1.0 / np.maximum(2.0 * u, 1e-10)) ** exponent
        beta2 = (1.0 / np.maximum(2.0 * (1.0 - u), 1e-10)) ** exponent
        if rng.rand() <= 0.5:
            first = ((1 + beta1) * x1 + (1 - beta2) * x2) / 2
        else:
            first = ((1 - beta1) * x1 + (1 + beta2) * x2) / 2
        if rng.rand() <= 0.5:
            second = ((3 - beta1) * x1 - (1 - beta2) * x2) / 2
        else:
            second = (-(1 - beta1) * x1 + (3 - beta2) * x2) / 2
        return first, second


class UNDXCrossover(BaseCrossover):
    """Unimodal normal distribution crossover (Ono & Kobayashi 1997; Kita, Ono & Kobayashi
    1999, "Multi-parental extension of the unimodal normal distribution crossover for
    real-coded genetic algorithms"): a normal draw about the midpoint of the first two
    parents, spread ``sigma_xi`` along the line joining them and ``sigma_eta`` (default
    0.35 / sqrt(n)) times the third parent's distance from that line across it."""

    n_parents = 3

    def __init__(self, sigma_xi: float = 0.5, sigma_eta: float | None = None) -> None:
        self._sigma_xi = _nonnegative("UNDXCrossover", "sigma_xi", sigma_xi)
        self._sigma_eta = _nonnegative_or_none("UNDXCrossover", "sigma_eta", sigma_eta)

    def crossover(self, parents_params: np.ndarray, rng: np.random.RandomState,
                  view: StudyView, search_space_bounds: np.ndarray) -> np.ndarray:
        x1, x2, x3 = parents_params[:3]
        n = len(x1)
        sigma_eta = 0.35 / math.sqrt(n) if self._sigma_eta is None else self._sigma_eta
        line = x2 - x1
        length = float(np.linalg.norm(line))
        direction = line / length if length > 0 else np.zeros(n)
        child = (x1 + x2) / 2 + rng.normal(0.0, self._sigma_xi) * line
        if n > 1:
            # The third parent's distance from the line through the first two, and an
            # orthonormal basis of the space orthogonal to that line (QR of the direction
            # followed by the unit vectors).
            to_third = x3 - x1
            distance = float(np.linalg.norm(to_third - (to_third @ direction) * direction))
            basis = np.linalg.qr(np.column_stack([direction, np.eye(n)]))[0][:, 1:n] \
                if length > 0 else np.eye(n)[:, 1:]
            child = child + distance * (basis @ rng.normal(0.0, sigma_eta, size=basis.shape[1]))
        return child
