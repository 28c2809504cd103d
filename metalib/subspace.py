"""Subspaces of R^d: orthonormal bases, principal angles and the distance between two spans.

Implements the chapter *Measuring how far two subspaces are* (``chapters/00_subspace_distance``).
Every function accepts leading batch dimensions: a stack of matrices of shape
``(..., d, k)`` gives a stack of results of shape ``(...)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .linalg import transpose
from .validation import as_array, check_positive_int, check_rng

__all__ = [
    "orthonormal_basis",
    "principal_angles",
    "subspace_distance",
    "random_orthonormal",
]

#: relative size of a pivot of the QR factor below which a matrix counts as rank deficient
RANK_TOL = 1e-10


def orthonormal_basis(B, name="B"):
    """Orthonormal basis of the column space of ``B``, by a thin QR factorisation, eq. `eq-basis`.

    Parameters
    ----------
    B : array_like, shape (..., d, k)
        Full-column-rank matrix (or stack of them), ``k <= d``.
    name : str
        Name used in error messages.

    Returns
    -------
    Q : ndarray, shape (..., d, k)
        ``Q^T Q = I_k`` and ``col(Q) = col(B)``.

    Raises
    ------
    ValueError
        If ``k > d`` or ``B`` is numerically rank deficient (its span has fewer than ``k``
        dimensions, so a ``k``-dimensional distance is not defined).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    B = as_array(name, B, min_ndim=2)
    d, k = B.shape[-2:]
    if k > d:
        raise ValueError(
            f"{name} has more columns than rows ({k} > {d}): k must not exceed d"
        )
    Q, R = np.linalg.qr(B)
    pivots = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    if np.any(
        pivots
        <= RANK_TOL
        * np.maximum(pivots.max(axis=-1, keepdims=True), np.finfo(float).tiny)
    ):
        raise ValueError(
            f"{name} is rank deficient: its columns span fewer than {k} dimensions"
        )
    return Q


def _aligned(B, B_star):
    Q = orthonormal_basis(B, "B")
    Q_star = orthonormal_basis(B_star, "B_star")
    if Q.shape[-2:] != Q_star.shape[-2:]:
        raise ValueError(
            f"B and B_star must have the same (d, k) shape, got {Q.shape[-2:]} and "
            f"{Q_star.shape[-2:]}"
        )
    try:
        np.broadcast_shapes(Q.shape[:-2], Q_star.shape[:-2])
    except ValueError:
        raise ValueError(
            f"B and B_star have batch shapes {Q.shape[:-2]} and {Q_star.shape[:-2]}, which do not "
            "broadcast"
        ) from None
    return Q, Q_star


def principal_angles(B, B_star):
    """Principal angles between ``col(B)`` and ``col(B_star)``, increasing.

    Eq. `eq-principal-angles`.

    ``cos(theta_i)`` are the singular values of ``Q_star^T Q`` for orthonormal bases ``Q``,
    ``Q_star``.

    Parameters
    ----------
    B, B_star : array_like, shape (..., d, k)

    Returns
    -------
    theta : ndarray, shape (..., k)
        Angles in ``[0, pi/2]``.
    """
    Q, Q_star = _aligned(B, B_star)
    cosines = np.linalg.svd(transpose(Q_star) @ Q, compute_uv=False)
    return np.arccos(np.clip(cosines, 0.0, 1.0))


def subspace_distance(B, B_star):
    """Principal-angle distance ``dist(B, B_star) = ||(I - Q_* Q_*^T) Q||_2`` (eq. `eq-dist`).

    The sine of the largest principal angle between the two column spaces. It lies in ``[0, 1]``,
    is 0 exactly when the spans agree, and is unchanged by ``B -> B G`` for invertible ``G``.
    It is computed from the projection residual rather than from ``sqrt(1 - cos^2)``, which would
    lose every digit below about ``1e-8``.

    Parameters
    ----------
    B, B_star : array_like, shape (..., d, k)
        Full-column-rank matrices; leading dimensions broadcast.

    Returns
    -------
    float or ndarray of shape (...)
    """
    Q, Q_star = _aligned(B, B_star)
    residual = Q - Q_star @ (transpose(Q_star) @ Q)
    dist = np.linalg.svd(residual, compute_uv=False)[..., 0]
    dist = np.minimum(dist, 1.0)
    return float(dist) if dist.ndim == 0 else dist


def random_orthonormal(d, k, rng, size=()):
    """Uniformly (Haar) distributed ``d x k`` matrix with orthonormal columns (eq. `eq-haar`).

    QR of a Gaussian matrix, with the signs of ``R``'s diagonal moved into ``Q`` so that the
    distribution is exactly uniform on the Stiefel manifold.

    Parameters
    ----------
    d, k : int
        ``1 <= k <= d``.
    rng : numpy.random.Generator
    size : int or tuple of int
        Leading batch shape (positive sizes; ``()`` for one matrix).

    Returns
    -------
    U : ndarray, shape (*size, d, k)
    """
    d = check_positive_int("d", d)
    k = check_positive_int("k", k)
    if k > d:
        raise ValueError(f"k must not exceed d, got k={k} > d={d}")
    rng = check_rng("rng", rng)
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size,)
    if not isinstance(size, tuple):
        raise TypeError(f"size must be an integer or a tuple of integers, got {size!r}")
    for s in size:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1:
            raise ValueError(f"size must hold positive integers, got {size!r}")
    G = rng.standard_normal((*size, d, k))
    Q, R = np.linalg.qr(G)
    signs = np.sign(np.diagonal(R, axis1=-2, axis2=-1))
    signs[signs == 0] = 1.0
    return Q * signs[..., None, :]
