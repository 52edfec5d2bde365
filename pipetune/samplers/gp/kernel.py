"""The Matérn-5/2 kernel with one length scale per param (ARD), over mixed spaces.

Numeric coordinates enter through their squared difference, categorical ones through their
Hamming distance (0 when the choices are equal, 1 otherwise), each divided by its own squared
length scale: r^2 = sum_j eta_j * delta_j with eta = 1 / lengthscale^2. The categorical overlap
term keeps the kernel positive definite (it is a squared distance on one-hot codes scaled by
1/2), so one kernel covers both kinds of param (Rasmussen & Williams 2006, eq. 4.17 for
Matérn-5/2).
"""

from __future__ import annotations

import math

import numpy as np

_SQRT5 = math.sqrt(5.0)


def pair_deltas(a: np.ndarray, b: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """``out[i, k, j]``: the squared difference of rows ``a[i]`` and ``b[k]`` along axis ``j``
    (1.0 or 0.0 for categorical axes)."""
    diff = a[:, None, :] - b[None, :, :]
    out = diff * diff
    if categorical.any():
        out[:, :, categorical] = (diff[:, :, categorical] != 0).astype(float)
    return out


def scaled_distances(a: np.ndarray, b: np.ndarray, eta: np.ndarray,
                     categorical: np.ndarray) -> np.ndarray:
    """``r^2`` between every row of ``a`` and every row of ``b``, through one matrix product
    (|a|^2 + |b|^2 - 2 a.b on coordinates scaled by sqrt(eta)) instead of the per-axis
    tensor: what predictions need, much faster for large batches."""
    numeric = ~categorical
    root = np.sqrt(eta[numeric])
    sa, sb = a[:, numeric] * root, b[:, numeric] * root
    r2 = np.einsum("ij,ij->i", sa, sa)[:, None] + np.einsum("ij,ij->i", sb, sb)[None, :]
    r2 -= 2.0 * (sa @ sb.T)
    np.maximum(r2, 0.0, out=r2)
    for j in np.flatnonzero(categorical):
        r2 += eta[j] * (a[:, j, None] != b[None, :, j])
    return r2


def matern52_with_slope(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``matern52(r2)`` and its slope dk / d(r^2) = -5/6 (1 + sqrt5 r) exp(-sqrt5 r), which,
    unlike dk / dr, is finite at r = 0; one square root and one exponential serve both."""
    r = np.sqrt(r2)
    decay = np.exp(-_SQRT5 * r)
    linear = 1.0 + _SQRT5 * r
    return (linear + (5.0 / 3.0) * r2) * decay, (-5.0 / 6.0) * linear * decay


def matern52(r2: np.ndarray) -> np.ndarray:
    """k(r) = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r) as a function of r^2."""
    r = np.sqrt(r2)
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-_SQRT5 * r)
