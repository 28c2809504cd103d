"""The theory's predictions for infinite-task FO-ANIL with a too-wide representation (chapters 05,
06).

``chapters/05_misspecified_width``:

* :func:`fixed_point_gram`: the limit ``Lambda_lim`` of ``B_*^T B B^T B_*``, eq. `eq-op-fixed-point`
  (proposition `thm-op-fixed-point`);
* :func:`inner_noise`: ``nu = (tr Lambda_* + sigma^2) / m_in``, the strength of the inner-sample
noise
  in eq. `eq-op-recursion`;
* :func:`width_penalty_representation`: FO-ANIL's limit plus leftover columns, the representation of
  lemma `lem-op-width-penalty`.

``chapters/06_unlearning_and_adaptation``:

* :func:`unlearning_law`: a leftover singular value under the scalar map ``x -> x - alpha^2 beta nu
x^3``,
  eq. `eq-op-cubic-law`;
* :func:`frozen_kernel_floor`: ``sqrt((k' - k) / alpha)``, the floor of lemma
`lem-op-frozen-kernel`.

These are the book's derivations from the infinite-task recursion (the paper's convergence theorem
is
not reproduced; see chapter 05).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from ._checks import check_B_star, check_batches, check_head_cov, check_m
from .risk import _optimal_gamma

__all__ = [
    "fixed_point_gram",
    "inner_noise",
    "unlearning_law",
    "frozen_kernel_floor",
    "width_penalty_representation",
]


def fixed_point_gram(alpha, head_cov, m_in, sigma=0.0):
    """The limit ``Lambda_lim`` of ``B_*^T B_t B_t^T B_*`` under the expected FO-ANIL dynamics (eq.
    `eq-op-fixed-point`).

    ``Lambda_lim = (1/alpha) Lambda_* ((m+1)/m Lambda_* + (tr Lambda_* + sigma^2)/m I)^{-1}``, which
    is
    ``Gamma*(m_in) / alpha`` (:func:`optimal_head_preconditioner`); ``I / alpha`` when ``m_in =
    inf``.

    Parameters
    ----------
    alpha : float
    head_cov : array_like, shape (k, k)
    m_in : int or inf
    sigma : float

    Returns
    -------
    ndarray, shape (k, k)
    """
    alpha = check_positive_float("alpha", alpha)
    return _optimal_gamma(head_cov, m_in, sigma, "m_in") / alpha


def inner_noise(head_cov, m_in, sigma=0.0):
    """``nu = (tr Lambda_* + sigma^2) / m_in``: the inner-sample noise of eq. `eq-op-recursion`.

    It multiplies the identity term that shrinks ``B`` along every direction; ``0`` when ``m_in =
    inf``.

    Parameters
    ----------
    head_cov : array_like, shape (k, k)
    m_in : int or inf
    sigma : float

    Returns
    -------
    float
    """
    head_cov = check_head_cov(head_cov)
    m_in = check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    return 0.0 if m_in == math.inf else float((np.trace(head_cov) + sigma**2) / m_in)


def unlearning_law(t, alpha, beta, nu, start=None):
    """A leftover singular value after ``t`` steps of ``x -> x - alpha^2 beta nu x^3`` (eq.
    `eq-op-cubic-law`).

    ``x_t ~ (x_0^{-2} + 2 alpha^2 beta nu t)^{-1/2}``; with ``start=None`` (``x_0 = inf``) the
    start-free law ``(2 alpha^2 beta nu t)^{-1/2}``. A value that starts *below* the start-free
    curve
    stays below it: the law forgets only starting values above it.

    Parameters
    ----------
    t : array_like of float
        Iterations (positive).
    alpha, beta : float
    nu : float
        :func:`inner_noise`; must be positive.
    start : float or array_like, optional
        Starting singular value(s) ``x_0`` (positive); broadcast against ``t``.

    Returns
    -------
    ndarray
    """
    t = as_array("t", t, finite=False)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("t must hold positive finite iteration numbers")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    nu = check_positive_float("nu", nu)
    inv_sq = 2 * alpha**2 * beta * nu * t
    if start is not None:
        x0 = as_array("start", start, finite=False)
        if not np.all(np.isfinite(x0)) or np.any(x0 <= 0):
            raise ValueError("start must hold positive finite singular values")
        check_batches("start", x0.shape, "t", t.shape)
        inv_sq = inv_sq + x0**-2.0
    return inv_sq**-0.5


def frozen_kernel_floor(k, k_width, alpha):
    """``sqrt((k' - k) / alpha)``: the floor of ``||B_perp||_F`` in lemma `lem-op-frozen-kernel`.

    It holds for FO-ANIL with ``m_in = inf`` and for the multi-task learner, from a start with
    ``alpha B_0^T B_0 = I`` (:func:`metalib.linrep.initial_representation`).

    Parameters
    ----------
    k : int
        True rank.
    k_width : int
        The learner's width ``k' >= k``.
    alpha : float

    Returns
    -------
    float
    """
    k = check_positive_int("k", k)
    k_width = check_positive_int("k_width", k_width)
    if k_width < k:
        raise ValueError(f"k_width must be at least k = {k}, got {k_width}")
    alpha = check_positive_float("alpha", alpha)
    return math.sqrt((k_width - k) / alpha)


def width_penalty_representation(B_star, head_cov, m_in, alpha, extra, rho, sigma=0.0):
    """FO-ANIL's limit plus ``extra`` leftover columns: ``[B_* (Gamma*/alpha)^{1/2}, rho U /
    sqrt(alpha)]``.

    ``U`` (d, extra) has orthonormal columns orthogonal to ``col(B_*)``, so ``alpha B_perp^T B_perp
    = rho^2 I``
    and the two parts use different hidden units (lemma `lem-op-width-penalty`: the one-step risk
    grows by
    ``(tr Lambda_* + sigma^2) extra rho^4 / tau``). ``U`` is fixed (the last ``extra`` columns of a
    complete
    orthonormal basis that starts with ``B_*``), so the result is deterministic.

    Parameters
    ----------
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)
    m_in : int or inf
    alpha : float
    extra : int
        ``k' - k``, at most ``d - k``.
    rho : float
        Size of the leftover part, in units of the initial scale ``1 / sqrt(alpha)``.
    sigma : float

    Returns
    -------
    ndarray, shape (d, k + extra)
    """
    B_star = check_B_star(B_star)
    d, k = B_star.shape
    head_cov = check_head_cov(head_cov, k)
    alpha = check_positive_float("alpha", alpha)
    rho = check_nonnegative_float("rho", rho)
    if (
        not isinstance(extra, numbers.Integral)
        or isinstance(extra, bool)
        or not 0 <= extra <= d - k
    ):
        raise ValueError(
            f"extra must be an integer in [0, d - k] = [0, {d - k}], got {extra!r}"
        )
    gram = fixed_point_gram(alpha, head_cov, m_in, sigma)
    vals, vecs = np.linalg.eigh(gram)
    B_par = B_star @ (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    complete = np.linalg.qr(np.hstack([B_star, np.eye(d)]))[0]
    U = complete[:, k : k + extra]
    U = U - B_star @ (B_star.T @ U)
    return np.hstack([B_par, rho * U / np.sqrt(alpha)])
