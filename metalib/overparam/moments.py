"""The Gaussian moment identity and the expected FO-ANIL update over tasks and data (chapter 05).

``chapters/05_misspecified_width``:

* :func:`sample_covariance_moment`: ``E[Sigma_hat A Sigma_hat]``, eq. `eq-op-moment` (lemma
`lem-op-moment`);
* :func:`split_representation`: ``B = B_* B_*^T B + B_perp``, eq. `eq-op-split`;
* :func:`expected_fo_anil_update`: the expected FO-ANIL outer direction, eq. `eq-op-expected-update`
  (theorem `thm-op-expected-update`); the region ``expected-update`` of this file is the arithmetic
  the
  chapter shows;
* :func:`frozen_objective`: the objective FO-ANIL follows, eq. `eq-op-frozen`;
* :func:`expected_anil_loss`: the expected ANIL meta-loss, eq. `eq-op-anil-loss`.

The model is Part I's (:mod:`metalib.linrep`): a task draws a head ``theta ~ N(0, head_cov)``
(``head_cov`` is the book's ``Lambda_*``), inputs ``x ~ N(0, I_d)`` and labels
``y = <B_star theta, x> + sigma * noise``; the learner predicts ``x^T B w`` with ``B`` of shape
``(d, k')``, ``k' >= k`` (``k_width``). The loss of a batch of ``m`` samples is ``1/(2m) ||X B w -
y||^2``.
Leading batch dimensions of ``B`` and ``w`` come first and broadcast.
"""

from __future__ import annotations

import math

import numpy as np

from ..linalg import transpose
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_same,
)
from ._checks import check_B_star, check_head, check_m, check_model

__all__ = [
    "sample_covariance_moment",
    "split_representation",
    "expected_fo_anil_update",
    "frozen_objective",
    "expected_anil_loss",
]


def sample_covariance_moment(A, m):
    """``E[Sigma_hat A Sigma_hat]`` for the sample covariance of ``m`` standard Gaussian points (eq.
    `eq-op-moment`).

    With ``Sigma_hat = X^T X / m`` and the rows of ``X`` i.i.d. ``N(0, I_d)``,
    ``E[Sigma_hat A Sigma_hat] = A + (A^T + tr(A) I_d) / m``; for symmetric ``A`` this is
    ``(m+1)/m A + tr(A)/m I_d``. ``m = inf`` gives ``A``.

    Parameters
    ----------
    A : array_like, shape (..., d, d)
        Any square matrix (or stack of them); it need not be symmetric.
    m : int or inf
        Number of points.

    Returns
    -------
    ndarray, shape (..., d, d)
    """
    A = as_array("A", A, min_ndim=2)
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be square, got shape {A.shape}")
    m = check_m("m", m)
    if m == math.inf:
        return A.copy()
    trace = np.trace(A, axis1=-2, axis2=-1)[..., None, None]
    return A + (transpose(A) + trace * np.eye(A.shape[-1])) / m


def split_representation(B, B_star):
    """``B = B_* B_*^T B + B_perp``: the part of ``B`` inside ``col(B_*)`` and the part outside (eq.
    `eq-op-split`).

    Parameters
    ----------
    B : array_like, shape (..., d, k')
    B_star : array_like, shape (d, k)
        Orthonormal columns.

    Returns
    -------
    B_par : ndarray, shape (..., d, k')
        ``B_* B_*^T B``.
    B_perp : ndarray, shape (..., d, k')
        ``(I - B_* B_*^T) B``.
    """
    B = as_array("B", B, min_ndim=2)
    B_star = check_B_star(B_star)
    check_same("d (rows)", "B", B.shape[-2], "B_star", B_star.shape[0])
    B_par = B_star @ (B_star.T @ B)
    return B_par, B - B_par


# region: expected-update
def _moments(B, w, alpha, B_star, head_cov, m_in, sigma):
    """The pieces every closed form needs, batched: see eq. `eq-op-expected-update`.

    With ``C = B w w^T B^T + B_* Lambda B_*^T`` (the second moment of ``v = Bw - beta_task``) and
    ``S = E[Sigma C Sigma] + sigma^2/m I = (m+1)/m C + (tr C + sigma^2)/m I``, returns
    ``Bw (...,d,1)``, ``Gw = B^T B w (...,k',1)``, ``G = B^T B``, ``P = B_*^T B``, ``CB``, ``BtCB =
    B^T C B``,
    ``BtSB = B^T S B``, ``trC``.
    """
    G = transpose(B) @ B
    P = B_star.T @ B
    Bw = B @ w
    Gw = G @ w
    LP = head_cov @ P
    CB = Bw @ transpose(Gw) + B_star @ LP
    BtCB = Gw @ transpose(Gw) + transpose(P) @ LP
    trC = np.sum(Bw**2, axis=(-2, -1))[..., None, None] + np.trace(head_cov)
    if m_in == math.inf:
        BtSB = BtCB
    else:
        BtSB = (m_in + 1) / m_in * BtCB + (trC + sigma**2) / m_in * G
    return Bw, Gw, G, P, CB, BtCB, BtSB, trC


def _expected_direction(B, w, alpha, B_star, head_cov, m_in, sigma):
    """Unvalidated eq. `eq-op-expected-update`; ``w`` has shape (..., k', 1)."""
    Bw, Gw, G, _, CB, _, BtSB, _ = _moments(B, w, alpha, B_star, head_cov, m_in, sigma)
    G_B = (
        Bw @ transpose(w)
        - alpha * CB
        - alpha * B @ (Gw @ transpose(w))
        + alpha**2 * B @ BtSB
    )
    G_w = Gw - alpha * G @ Gw
    return G_B, G_w


# endregion: expected-update


def expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma=0.0):
    """Expected FO-ANIL outer direction over tasks and Gaussian data (eq. `eq-op-expected-update`).

    ``E G_B = B w w^T - alpha C B - alpha M B w w^T + alpha^2 M S B`` and ``E G_w = B^T (I - alpha
    M) B w``,
    with ``M = B B^T``, ``C = B w w^T B^T + B_* Lambda_* B_*^T`` and
    ``S = (m_in+1)/m_in C + (tr C + sigma^2)/m_in I`` (``S = C`` for ``m_in = inf``). The outer
    batch size
    does not appear: the outer batch is independent of the adapted head and unbiased, so every
    ``m_out``
    (and the population outer loss) gives the same expectation.

    Parameters
    ----------
    B : array_like, shape (..., d, k')
    w : array_like, shape (..., k')
    alpha : float
        Inner step size.
    B_star : array_like, shape (d, k)
        Ground truth, orthonormal columns.
    head_cov : array_like, shape (k, k)
        ``Lambda_* = E[theta theta^T]`` (the heads have mean zero).
    m_in : int or inf
        Samples of the inner step.
    sigma : float
        Label-noise standard deviation.

    Returns
    -------
    G_B : ndarray, shape (..., d, k')
    G_w : ndarray, shape (..., k')
    """
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    w = check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    G_B, G_w = _expected_direction(
        B, w[..., None], alpha, B_star, head_cov, m_in, sigma
    )
    return G_B, G_w[..., 0]


def frozen_objective(B, w, alpha, B_star, head_cov, m_in, sigma=0.0):
    """The objective whose gradient at ``(B, w)`` is the expected FO-ANIL direction (eq.
    `eq-op-frozen`).

    FO-ANIL treats the inner step ``delta = w' - w`` as a constant. Freezing the random ``delta``
    computed
    at ``(B, w)`` gives ``f(B_v, w_v) = 1/2 E ||B_v (w_v + delta) - B_* theta||^2``, which in closed
    form is

    ``1/2 ||B_v w_v||^2 + w_v^T B_v^T B_v E[delta] + 1/2 tr(B_v^T B_v E[delta delta^T])
    - tr(B_v E[delta theta^T] B_*^T) + 1/2 tr(Lambda_*)``

    with ``E delta = -alpha B^T B w``, ``E[delta theta^T] B_*^T = alpha B^T B_* Lambda_* B_*^T`` and
    ``E[delta delta^T] = alpha^2 B^T S B``. At ``(B_v, w_v) = (B, w)`` it equals
    :func:`expected_anil_loss`.

    Parameters
    ----------
    B, w, alpha, B_star, head_cov, m_in, sigma : as in :func:`expected_fo_anil_update` (unbatched)

    Returns
    -------
    callable
        ``f(B_v, w_v) -> float`` for ``B_v`` of shape (d, k') and ``w_v`` of shape (k',).
    """
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    w = check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    _, Gw, _, P, _, _, BtSB, _ = _moments(
        B, w[:, None], alpha, B_star, head_cov, m_in, sigma
    )
    mean_delta = -alpha * Gw[:, 0]  # (k',)
    cross = alpha * transpose(P) @ head_cov @ B_star.T  # E[delta beta^T], (k', d)
    second = alpha**2 * BtSB  # E[delta delta^T], (k', k')
    const = 0.5 * np.trace(head_cov)

    def f(B_v, w_v):
        B_v = as_array("B_v", B_v, ndim=2)
        if B_v.shape != B.shape:
            raise ValueError(f"B_v must have the shape of B {B.shape}, got {B_v.shape}")
        w_v = as_array("w_v", w_v, ndim=1)
        if w_v.shape != w.shape:
            raise ValueError(f"w_v must have the shape of w {w.shape}, got {w_v.shape}")
        Gv = B_v.T @ B_v
        return float(
            0.5 * w_v @ Gv @ w_v
            + w_v @ Gv @ mean_delta
            + 0.5 * np.sum(Gv * second)
            - np.sum(B_v * cross.T)
            + const
        )

    return f


def expected_anil_loss(B, w, alpha, B_star, head_cov, m_in, sigma=0.0):
    """Expected ANIL meta-loss over tasks and data (eq. `eq-op-anil-loss`).

    ``F(B, w) = 1/2 E ||B w' - B_* theta||^2 = 1/2 [tr C - 2 alpha tr(M C) + alpha^2 tr(M S M)]``,
    the
    expected excess outer loss after the inner step (a finite outer batch with noisy labels adds the
    constant ``sigma^2 / 2``). Exact ANIL follows its gradient; FO-ANIL does not (see the chapter).

    Parameters
    ----------
    B, w, alpha, B_star, head_cov, m_in, sigma : as in :func:`expected_fo_anil_update`

    Returns
    -------
    float or ndarray of shape (...)
    """
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    w = check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    _, _, G, _, _, BtCB, BtSB, trC = _moments(
        B, w[..., None], alpha, B_star, head_cov, m_in, sigma
    )
    tr_MC = np.trace(BtCB, axis1=-2, axis2=-1)
    tr_MSM = np.sum(G * BtSB, axis=(-2, -1))  # tr(B^T B B^T S B)
    value = 0.5 * (trC[..., 0, 0] - 2 * alpha * tr_MC + alpha**2 * tr_MSM)
    return float(value) if value.ndim == 0 else value
