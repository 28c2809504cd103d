"""The data model of Part I (collins2022): methods, task heads, task data, the start.

Chapter map:

* ``chapters/01_linrep_problem``: the data model, eqs. `eq-linrep-model`
  (:func:`sample_task_data`) and `eq-heads` (:func:`head_scales`, :func:`sample_heads`);
* ``chapters/02_anil``: the start ``alpha B_0^T B_0 = I`` (:func:`initial_representation`).

Shapes: ``d`` input dimension, ``k`` width of the representation, ``n`` tasks, ``m`` samples
per task.
Leading batch dimensions (trials) come first and broadcast.
"""

from __future__ import annotations

import functools

import numpy as np

from ..linalg import transpose
from ..subspace import random_orthonormal
from ..validation import (
    as_array,
    check_in_range,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)

__all__ = [
    "METHODS",
    "META_METHODS",
    "LABELS",
    "head_scales",
    "sample_heads",
    "sample_task_data",
    "initial_representation",
]

#: the five methods of collins2022, in the order of the book's figures
METHODS = ("exact_anil", "fo_anil", "exact_maml", "fo_maml", "avg_loss")
#: the four meta-learning methods (all but the average-loss baseline)
META_METHODS = METHODS[:4]
#: display names
LABELS = {
    "exact_anil": "Exact ANIL",
    "fo_anil": "FO-ANIL",
    "exact_maml": "Exact MAML",
    "fo_maml": "FO-MAML",
    "avg_loss": "Average loss",
}

#: largest deviation from orthonormality accepted for ``B_star`` (``||B_star^T B_star - I||``)
ORTHONORMAL_TOL = 1e-8


def head_scales(k, mu=1.0):
    """Standard deviations of the heads, ``theta ~ N(0, diag(1, ..., 1, mu^2))``, eq. `eq-heads`.

    Parameters
    ----------
    k : int
        Dimension of the heads.
    mu : float
        Task diversity: the standard deviation of the last head coordinate. ``mu = 1`` gives
        isotropic heads.

    Returns
    -------
    scales : ndarray, shape (k,)
    """
    k = check_positive_int("k", k)
    mu = check_positive_float("mu", mu)
    scales = np.ones(k)
    scales[-1] = mu
    return scales


def _check_size(size):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size,)
    if not isinstance(size, tuple):
        raise TypeError(f"size must be a tuple of positive integers, got {size!r}")
    return tuple(check_positive_int("size", s) for s in size)


def sample_heads(rng, scales, size):
    """Draw task heads ``theta_i ~ N(0, diag(scales^2))`` (eq. `eq-heads`).

    Parameters
    ----------
    rng : numpy.random.Generator
    scales : array_like, shape (k,) or (*size[:-1], k)
        Standard deviation of each coordinate (see :func:`head_scales`), shared by all tasks or
        one row per batch entry (for example per trial, with ``size = (trials, n)``).
    size : tuple of int
        Batch shape, for example ``(trials, n)``.

    Returns
    -------
    heads : ndarray, shape (*size, k)
    """
    rng = check_rng("rng", rng)
    scales = as_array("scales", scales, min_ndim=1)
    if np.any(scales < 0):
        raise ValueError("scales must be non-negative standard deviations")
    size = _check_size(size)
    if scales.ndim > 1 and scales.shape[:-1] != size[: scales.ndim - 1]:
        raise ValueError(
            f"scales of shape {scales.shape} must have one row per batch entry of size[:-1] "
            f"= {size[:-1]}"
        )
    return _draw_heads(rng, scales, size)


def _draw_heads(rng, scales, size):
    """:func:`sample_heads` without the checks (the training loop's hot path)."""
    return rng.standard_normal((*size, scales.shape[-1])) * scales[..., None, :]


def _check_heads(B_star, heads, finite=True):
    """``B_star`` (..., d, k) and ``heads`` (..., n, k) as arrays whose ``k`` agree.

    Raises ``ValueError`` naming ``B_star`` or ``heads``. Shared by the task sampler and the
    population losses (``finite=False`` there: their overflow check names the argument later).
    """
    B_star = as_array("B_star", B_star, min_ndim=2, finite=finite)
    heads = as_array("heads", heads, min_ndim=2, finite=finite)
    check_same(
        "k (columns of B_star vs length of each head)",
        "B_star",
        B_star.shape[-1],
        "heads",
        heads.shape[-1],
    )
    return B_star, heads


def sample_task_data(rng, B_star, heads, m, sigma=0.0):
    """Draw ``m`` samples per task: ``x ~ N(0, I_d)``, ``y = <B_star theta_i, x> + sigma * noise``.

    Eq. `eq-linrep-model`.

    Parameters
    ----------
    rng : numpy.random.Generator
    B_star : ndarray, shape (..., d, k)
    heads : ndarray, shape (..., n, k)
    m : int
        Samples per task.
    sigma : float
        Label-noise standard deviation.

    Returns
    -------
    X : ndarray, shape (..., n, m, d)
    y : ndarray, shape (..., n, m)
    """
    rng = check_rng("rng", rng)
    B_star, heads = _check_heads(B_star, heads)
    m = check_positive_int("m", m)
    sigma = check_nonnegative_float("sigma", sigma)
    try:
        np.broadcast_shapes(B_star.shape[:-2], heads.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the batch (leading) dimensions of B_star {B_star.shape[:-2]} and heads "
            f"{heads.shape[:-2]} do not broadcast"
        ) from None
    return _draw_task_data(rng, B_star, heads, m, sigma)


def _draw_task_data(rng, B_star, heads, m, sigma):
    """:func:`sample_task_data` without the checks (the training loop's hot path)."""
    regressors = heads @ transpose(B_star)  # (..., n, d): B_star theta_i
    X = rng.standard_normal((*regressors.shape[:-1], m, regressors.shape[-1]))
    y = (X @ regressors[..., None])[..., 0]
    if sigma > 0:
        y = y + sigma * rng.standard_normal(y.shape)
    return X, y


def _gram_root(rng, shape, m, d):
    """Upper-triangular ``F`` of shape (*shape, d, d) with ``F^T F`` distributed as ``X^T X`` for
    ``X`` with ``m >= d`` rows of ``N(0, I_d)`` (the Bartlett decomposition of the Wishart law:
    ``F_jj^2 ~ chi^2(m - j)``, ``F_ij ~ N(0, 1)`` above the diagonal)."""
    upper, diagonal = _triangle(d)
    F = np.zeros((*shape, d * d))
    F[..., upper] = rng.standard_normal((*shape, upper.size))
    F[..., diagonal] = np.sqrt(rng.chisquare(m - np.arange(d), size=(*shape, d)))
    return F.reshape(*shape, d, d)


@functools.cache
def _triangle(d):
    """Flat indices of the strict upper triangle and of the diagonal of a d x d matrix."""
    rows, cols = np.triu_indices(d, 1)
    return rows * d + cols, np.arange(d) * (d + 1)


def _draw_gram_data(rng, B_star, heads, m, sigma):
    """What a batch of ``m`` samples per task contributes to the losses' gradients, drawn exactly.

    The gradients depend on a batch ``(X, y)`` only through ``X^T X`` and ``X^T y``. For ``m > d``
    this draws ``F`` of shape (..., n, d, d) with ``F^T F`` distributed as ``X^T X`` (see
    :func:`_gram_root`) and ``y = F B_star theta + sigma z`` with ``z ~ N(0, I_d)``: then
    ``(F^T F, F^T y)`` has the law of ``(X^T X, X^T y)``, at ``d`` rows instead of ``m``. For
    ``m <= d`` it draws the samples themselves. Returns ``(F, y)``; ``m`` samples per task.
    """
    regressors = heads @ transpose(B_star)  # (..., n, d): B_star theta_i
    d = regressors.shape[-1]
    if m <= d:
        return _draw_task_data(rng, B_star, heads, m, sigma)
    F = _gram_root(rng, regressors.shape[:-1], m, d)
    y = (F @ regressors[..., None])[..., 0]
    if sigma > 0:
        y = y + sigma * rng.standard_normal(y.shape)
    return F, y


def _check_orthonormal(B_star):
    k = B_star.shape[-1]
    gap = np.abs(transpose(B_star) @ B_star - np.eye(k)).max()
    if gap > ORTHONORMAL_TOL:
        raise ValueError(
            f"B_star must have orthonormal columns (B_star^T B_star = I); it is off by {gap:.1e}"
        )


def initial_representation(B_star, alpha, rng, dist0=None, k_width=None):
    """Starting representation ``B_0 = alpha^{-1/2} Q_0``, so that ``alpha B_0^T B_0 = I``.

    Parameters
    ----------
    B_star : ndarray, shape (..., d, k)
        Ground truth with orthonormal columns.
    alpha : float
        Inner step size.
    rng : numpy.random.Generator
    dist0 : float in [0, 1], optional
        If given, ``Q_0 = (sqrt(1 - dist0^2) B_star + dist0 U_perp) O`` with ``U_perp`` a random
        orthonormal basis of a subspace of ``col(B_star)^perp`` and ``O`` a random rotation: every
        principal angle between ``col(B_0)`` and ``col(B_star)`` has sine ``dist0``, so
        ``dist(B_0, B_star) = dist0`` exactly. Needs ``d >= 2k``. If ``None``, ``Q_0`` is uniformly
        random (its distance is then close to 1 when ``d >> k``).
    k_width : int, optional
        Width of the representation, ``k <= k_width <= d`` (defaults to ``k``); only with
        ``dist0=None``.

    Returns
    -------
    B0 : ndarray, shape (..., d, k_width)
    """
    B_star = as_array("B_star", B_star, min_ndim=2)
    alpha = check_positive_float("alpha", alpha)
    rng = check_rng("rng", rng)
    d, k = B_star.shape[-2:]
    if k > d:
        raise ValueError(
            f"B_star must have k <= d columns, got shape {B_star.shape[-2:]}"
        )
    _check_orthonormal(B_star)
    batch = B_star.shape[:-2]
    if dist0 is None:
        width = (
            k
            if k_width is None
            else check_in_range("k_width", k_width, k, d, integer=True)
        )
        return random_orthonormal(d, width, rng, size=batch) / np.sqrt(alpha)
    if k_width is not None and k_width != k:
        raise ValueError("k_width must equal k when dist0 is prescribed")
    dist0 = check_in_range("dist0", dist0, 0.0, 1.0)
    if 2 * k > d:
        raise ValueError(f"dist0 can only be prescribed when d >= 2k, got d={d}, k={k}")
    # an orthonormal basis of col(B_star)^perp, then k random directions inside it
    G = rng.standard_normal((*batch, d, k))
    G = G - B_star @ (transpose(B_star) @ G)
    U_perp = np.linalg.qr(G)[0]
    O = random_orthonormal(k, k, rng, size=batch)
    Q0 = (np.sqrt(1 - dist0**2) * B_star + dist0 * U_perp) @ O
    return Q0 / np.sqrt(alpha)
