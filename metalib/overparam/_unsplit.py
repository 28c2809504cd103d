"""First-order ANIL with a representation wider than the truth: infinite tasks, finite samples.

Implements Part II of the book (yuksel2023):

* ``chapters/05_misspecified_width``      the one-step excess risk of a representation, eq.
  `eq-op-one-step-risk`, and its optimal preconditioner, eq. `eq-op-optimal-gamma`; the Gaussian moment
  identity, eq. `eq-op-moment`; the expected FO-ANIL update over tasks and data, eq. `eq-op-expected-update`,
  the frozen objective it is the gradient of, eq. `eq-op-frozen`, the expected ANIL loss, eq.
  `eq-op-anil-loss`, and the fixed point, eq. `eq-op-fixed-point`;
* ``chapters/06_unlearning_and_adaptation`` the deterministic recursion, eq. `eq-op-recursion`, the split
  ``B = B_* B_*^T B + B_perp``, eq. `eq-op-split`, and the multi-task learner with one head per task,
  eqs. `eq-op-mtl-objective`, `eq-op-mtl-update`, `eq-op-mtl-limit`.

The model is Part I's (``metalib.linrep``): a task draws a head ``theta ~ N(0, head_cov)`` (``head_cov`` is
the book's ``Lambda_*``), inputs ``x ~ N(0, I_d)`` and labels ``y = <B_star theta, x> + sigma * noise``; the
learner predicts ``x^T B w`` with ``B`` of shape ``(d, k')`` and ``k' >= k`` (``k_width`` in the book). The
loss of a batch of ``m`` samples is ``1/(2m) ||X B w - y||^2``.

FO-ANIL takes one inner step of size ``alpha`` on the head with ``m_in`` samples,
``w' = w - alpha B^T (Sigma_in B w - g_in)``, and one outer step of size ``beta`` on ``(B, w)`` along the
outer gradient at ``(B, w')`` with ``w'`` held fixed. With infinitely many tasks the outer step is the
expectation over tasks and data, which this module computes in closed form; ``m_in = inf`` is the
infinite-sample limit.

Shapes: ``d`` input dimension, ``k`` true rank, ``k'`` learner width, ``n`` tasks, ``m`` samples per task.
Leading batch dimensions come first and broadcast.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..linrep import BLOWUP_FACTOR, DivergenceWarning, sample_heads, sample_task_data
from ..subspace import subspace_distance
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_same,
)

__all__ = [
    "sample_covariance_moment",
    "split_representation",
    "expected_fo_anil_update",
    "frozen_objective",
    "expected_anil_loss",
    "fo_anil_task_updates",
    "sampled_fo_anil_update",
    "fixed_point_gram",
    "optimal_head_preconditioner",
    "one_step_excess_risk",
    "best_one_step_size",
    "oracle_one_step_risk",
    "sampled_one_step_risk",
    "multitask_objective",
    "multitask_gradients",
    "expected_multitask_objective",
    "expected_multitask_update",
    "OverparamTrajectory",
    "train_expected_fo_anil",
    "train_multitask",
    "width_penalty_representation",
    "plot_width_penalty",
    "plot_unlearning",
]


# ----------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------


def _swap(A):
    return A.T if A.ndim == 2 else np.swapaxes(A, -1, -2)


def _check_m(name, m, allow_inf=True):
    """A sample size: a positive integer, or ``inf`` for the infinite-sample limit (if allowed)."""
    if (
        allow_inf
        and isinstance(m, numbers.Real)
        and not isinstance(m, bool)
        and m == math.inf
    ):
        return math.inf
    if isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1:
        return int(m)
    also = " or inf (infinitely many samples)" if allow_inf else ""
    raise ValueError(f"{name} must be a positive integer{also}, got {m!r}")


def _check_head_cov(head_cov, k=None):
    """``Lambda_*``: a symmetric positive semi-definite (k, k) matrix."""
    cov = as_array("head_cov", head_cov, ndim=2)
    if cov.shape[0] != cov.shape[1]:
        raise ValueError(
            f"head_cov must be a square (k, k) matrix, got shape {cov.shape}"
        )
    if k is not None:
        check_same(
            "k (columns of B_star vs size of head_cov)",
            "B_star",
            k,
            "head_cov",
            cov.shape[0],
        )
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise ValueError("head_cov must be symmetric")
    if np.linalg.eigvalsh(cov)[0] < -1e-12 * max(1.0, np.abs(cov).max()):
        raise ValueError("head_cov must be positive semi-definite")
    return 0.5 * (cov + cov.T)


def _check_model(B, B_star, head_cov):
    B = as_array("B", B, min_ndim=2)
    B_star = as_array("B_star", B_star, ndim=2)
    check_same("d (rows)", "B", B.shape[-2], "B_star", B_star.shape[0])
    if B_star.shape[1] > B_star.shape[0]:
        raise ValueError(
            f"B_star has more columns than rows {B_star.shape}: k must not exceed d"
        )
    return B, B_star, _check_head_cov(head_cov, B_star.shape[1])


def _check_head(w, B):
    w = as_array("w", w, min_ndim=1)
    check_same("k' (columns of B vs length of w)", "B", B.shape[-1], "w", w.shape[-1])
    return w


def _sqrt_psd(cov):
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


# ----------------------------------------------------------------------------------------------------
# The Gaussian moment identity and the split of B
# ----------------------------------------------------------------------------------------------------


def sample_covariance_moment(A, m):
    """``E[Sigma_hat A Sigma_hat]`` for the sample covariance of ``m`` standard Gaussian points (eq. `eq-op-moment`).

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
    m = _check_m("m", m)
    if m == math.inf:
        return A.copy()
    trace = np.trace(A, axis1=-2, axis2=-1)[..., None, None]
    return A + (_swap(A) + trace * np.eye(A.shape[-1])) / m


def split_representation(B, B_star):
    """``B = B_* B_*^T B + B_perp``: the part of ``B`` inside ``col(B_*)`` and the part outside (eq. `eq-op-split`).

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
    B_star = as_array("B_star", B_star, ndim=2)
    check_same("d (rows)", "B", B.shape[-2], "B_star", B_star.shape[0])
    B_par = B_star @ (B_star.T @ B)
    return B_par, B - B_par


# ----------------------------------------------------------------------------------------------------
# The expected FO-ANIL update, its frozen objective, and the expected ANIL loss
# ----------------------------------------------------------------------------------------------------


def _moments(B, w, alpha, B_star, head_cov, m_in, sigma):
    """The pieces every closed form needs, batched: see eq. `eq-op-expected-update`.

    With ``C = B w w^T B^T + B_* Lambda B_*^T`` (the second moment of ``v = Bw - beta_task``) and
    ``S = E[Sigma C Sigma] + sigma^2/m I = (m+1)/m C + (tr C + sigma^2)/m I``, returns
    ``Bw (...,d,1)``, ``Gw = B^T B w (...,k',1)``, ``G = B^T B``, ``P = B_*^T B``, ``CB``, ``BtCB = B^T C B``,
    ``BtSB = B^T S B``, ``trC``.
    """
    G = _swap(B) @ B
    P = B_star.T @ B
    Bw = B @ w
    Gw = G @ w
    LP = head_cov @ P
    CB = Bw @ _swap(Gw) + B_star @ LP
    BtCB = Gw @ _swap(Gw) + _swap(P) @ LP
    trC = np.sum(Bw**2, axis=(-2, -1))[..., None, None] + np.trace(head_cov)
    if m_in == math.inf:
        BtSB = BtCB
    else:
        BtSB = (m_in + 1) / m_in * BtCB + (trC + sigma**2) / m_in * G
    return Bw, Gw, G, P, CB, BtCB, BtSB, trC


def _expected_direction(B, w, alpha, B_star, head_cov, m_in, sigma):
    """Unvalidated eq. `eq-op-expected-update`; ``w`` has shape (..., k', 1)."""
    Bw, Gw, G, _, CB, _, BtSB, _ = _moments(B, w, alpha, B_star, head_cov, m_in, sigma)
    G_B = Bw @ _swap(w) - alpha * CB - alpha * B @ (Gw @ _swap(w)) + alpha**2 * B @ BtSB
    G_w = Gw - alpha * G @ Gw
    return G_B, G_w


def expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma=0.0):
    """Expected FO-ANIL outer direction over tasks and Gaussian data (eq. `eq-op-expected-update`).

    ``E G_B = B w w^T - alpha C B - alpha M B w w^T + alpha^2 M S B`` and ``E G_w = B^T (I - alpha M) B w``,
    with ``M = B B^T``, ``C = B w w^T B^T + B_* Lambda_* B_*^T`` and
    ``S = (m_in+1)/m_in C + (tr C + sigma^2)/m_in I`` (``S = C`` for ``m_in = inf``). The outer batch size
    does not appear: the outer batch is independent of the adapted head and unbiased, so every ``m_out``
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
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    w = _check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = _check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    G_B, G_w = _expected_direction(
        B, w[..., None], alpha, B_star, head_cov, m_in, sigma
    )
    return G_B, G_w[..., 0]


def frozen_objective(B, w, alpha, B_star, head_cov, m_in, sigma=0.0):
    """The objective whose gradient at ``(B, w)`` is the expected FO-ANIL direction (eq. `eq-op-frozen`).

    FO-ANIL treats the inner step ``delta = w' - w`` as a constant. Freezing the random ``delta`` computed
    at ``(B, w)`` gives ``f(B_v, w_v) = 1/2 E ||B_v (w_v + delta) - B_* theta||^2``, which in closed form is

    ``1/2 ||B_v w_v||^2 + w_v^T B_v^T B_v E[delta] + 1/2 tr(B_v^T B_v E[delta delta^T])
    - tr(B_v E[delta theta^T] B_*^T) + 1/2 tr(Lambda_*)``

    with ``E delta = -alpha B^T B w``, ``E[delta theta^T] B_*^T = alpha B^T B_* Lambda_* B_*^T`` and
    ``E[delta delta^T] = alpha^2 B^T S B``. At ``(B_v, w_v) = (B, w)`` it equals :func:`expected_anil_loss`.

    Parameters
    ----------
    B, w, alpha, B_star, head_cov, m_in, sigma : as in :func:`expected_fo_anil_update` (unbatched)

    Returns
    -------
    callable
        ``f(B_v, w_v) -> float`` for ``B_v`` of shape (d, k') and ``w_v`` of shape (k',).
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    w = _check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = _check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    _, Gw, _, P, _, _, BtSB, _ = _moments(
        B, w[:, None], alpha, B_star, head_cov, m_in, sigma
    )
    mean_delta = -alpha * Gw[:, 0]  # (k',)
    cross = alpha * _swap(P) @ head_cov @ B_star.T  # E[delta beta^T], (k', d)
    second = alpha**2 * BtSB  # E[delta delta^T], (k', k')
    const = 0.5 * np.trace(head_cov)

    def f(B_v, w_v):
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

    ``F(B, w) = 1/2 E ||B w' - B_* theta||^2 = 1/2 [tr C - 2 alpha tr(M C) + alpha^2 tr(M S M)]``, the
    expected excess outer loss after the inner step (a finite outer batch with noisy labels adds the
    constant ``sigma^2 / 2``). Exact ANIL follows its gradient; FO-ANIL does not (see the chapter).

    Parameters
    ----------
    B, w, alpha, B_star, head_cov, m_in, sigma : as in :func:`expected_fo_anil_update`

    Returns
    -------
    float or ndarray of shape (...)
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    w = _check_head(w, B)
    alpha = check_positive_float("alpha", alpha)
    m_in = _check_m("m_in", m_in)
    sigma = check_nonnegative_float("sigma", sigma)
    _, _, G, _, _, BtCB, BtSB, trC = _moments(
        B, w[..., None], alpha, B_star, head_cov, m_in, sigma
    )
    tr_MC = np.trace(BtCB, axis1=-2, axis2=-1)
    tr_MSM = np.sum(G * BtSB, axis=(-2, -1))  # tr(B^T B B^T S B)
    value = 0.5 * (trC[..., 0, 0] - 2 * alpha * tr_MC + alpha**2 * tr_MSM)
    return float(value) if value.ndim == 0 else value


def fixed_point_gram(alpha, head_cov, m_in, sigma=0.0):
    """The limit ``Lambda_lim`` of ``B_*^T B_t B_t^T B_*`` under the expected FO-ANIL dynamics (eq. `eq-op-fixed-point`).

    ``Lambda_lim = (1/alpha) Lambda_* ((m+1)/m Lambda_* + (tr Lambda_* + sigma^2)/m I)^{-1}``, which is
    ``Gamma*(m_in) / alpha`` (:func:`optimal_head_preconditioner`); ``I / alpha`` when ``m_in = inf``.

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
    return optimal_head_preconditioner(head_cov, m_in, sigma) / alpha


# ----------------------------------------------------------------------------------------------------
# Sampled FO-ANIL updates (the Monte-Carlo referee of the closed form)
# ----------------------------------------------------------------------------------------------------


def fo_anil_task_updates(
    B, w, alpha, X_in, y_in, X_out=None, y_out=None, regressors=None
):
    """Per-task FO-ANIL outer directions on sampled batches (eq. `eq-op-sampled-update`).

    Inner step on ``(X_in, y_in)``: ``w'_i = w - alpha B^T (X_in^T (X_in B w - y_in) / m_in)``. The outer
    gradient at ``(B, w'_i)`` uses either a finite batch ``(X_out, y_out)`` or, if ``regressors`` is
    given, the population loss ``1/2 ||B w'_i - regressor_i||^2``.

    Parameters
    ----------
    B : array_like, shape (d, k')
    w : array_like, shape (k',)
    alpha : float
    X_in : array_like, shape (n, m_in, d)
    y_in : array_like, shape (n, m_in)
    X_out : array_like, shape (n, m_out, d), optional
    y_out : array_like, shape (n, m_out), optional
    regressors : array_like, shape (n, d), optional
        ``B_* theta_i`` of each task; give either these or ``(X_out, y_out)``.

    Returns
    -------
    G_B : ndarray, shape (n, d, k')
    G_w : ndarray, shape (n, k')
    """
    B = as_array("B", B, ndim=2)
    w = _check_head(as_array("w", w, ndim=1), B)
    alpha = check_positive_float("alpha", alpha)
    d = B.shape[0]
    X_in = as_array("X_in", X_in, ndim=3)
    y_in = as_array("y_in", y_in, ndim=2)
    check_same("d (rows of B vs columns of X_in)", "B", d, "X_in", X_in.shape[-1])
    if y_in.shape != X_in.shape[:-1]:
        raise ValueError(
            f"y_in must have shape {X_in.shape[:-1]} to match X_in, got {y_in.shape}"
        )
    if (regressors is None) == (X_out is None and y_out is None):
        raise ValueError(
            "give either regressors (population outer loss) or X_out and y_out (a finite outer batch)"
        )
    Bw = B @ w
    r_in = X_in @ Bw - y_in  # (n, m_in)
    w1 = (
        w - alpha * (np.einsum("nmd,nm->nd", X_in, r_in) / X_in.shape[1]) @ B
    )  # (n, k')
    if regressors is not None:
        regressors = as_array("regressors", regressors, ndim=2)
        if regressors.shape != (X_in.shape[0], d):
            raise ValueError(
                f"regressors must have shape {(X_in.shape[0], d)}, got {regressors.shape}"
            )
        q = w1 @ B.T - regressors  # (n, d)
    else:
        if X_out is None or y_out is None:
            raise ValueError("give both X_out and y_out")
        X_out = as_array("X_out", X_out, ndim=3)
        y_out = as_array("y_out", y_out, ndim=2)
        check_same(
            "d (rows of B vs columns of X_out)", "B", d, "X_out", X_out.shape[-1]
        )
        check_same(
            "n (number of tasks)", "X_in", X_in.shape[0], "X_out", X_out.shape[0]
        )
        if y_out.shape != X_out.shape[:-1]:
            raise ValueError(
                f"y_out must have shape {X_out.shape[:-1]} to match X_out, got {y_out.shape}"
            )
        r_out = np.einsum("nmd,nd->nm", X_out, w1 @ B.T) - y_out
        q = np.einsum("nmd,nm->nd", X_out, r_out) / X_out.shape[1]
    return q[:, :, None] * w1[:, None, :], q @ B


def sampled_fo_anil_update(
    rng,
    B,
    w,
    alpha,
    B_star,
    head_cov,
    m_in,
    m_out=None,
    sigma=0.0,
    n_tasks=10000,
    chunk=2000,
):
    """Monte-Carlo average of FO-ANIL directions over ``n_tasks`` fresh tasks, with standard errors.

    Draws heads ``theta ~ N(0, head_cov)`` and data with :func:`metalib.linrep.sample_task_data`, computes
    :func:`fo_anil_task_updates` per task and averages, ``chunk`` tasks at a time to bound memory.

    Parameters
    ----------
    rng : numpy.random.Generator
    B, w, alpha, B_star, head_cov : as in :func:`expected_fo_anil_update` (unbatched)
    m_in : int
    m_out : int, optional
        Outer batch size; ``None`` uses the population outer loss.
    sigma : float
    n_tasks : int
    chunk : int

    Returns
    -------
    mean_B : ndarray, shape (d, k')
    mean_w : ndarray, shape (k',)
    se_B : ndarray, shape (d, k')
        Standard error of each entry of ``mean_B`` (sample standard deviation over tasks / sqrt(n_tasks)).
    se_w : ndarray, shape (k',)
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    w = _check_head(as_array("w", w, ndim=1), B)
    m_in = _check_m("m_in", m_in, allow_inf=False)
    if m_out is not None:
        m_out = _check_m("m_out", m_out, allow_inf=False)
    sigma = check_nonnegative_float("sigma", sigma)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    chunk = check_positive_int("chunk", chunk)
    if n_tasks < 2:
        raise ValueError(
            f"n_tasks must be at least 2 to estimate a standard error, got {n_tasks}"
        )
    root = _sqrt_psd(head_cov)
    k = B_star.shape[1]
    sums = [np.zeros_like(B), np.zeros_like(w)]
    squares = [np.zeros_like(B), np.zeros_like(w)]
    done = 0
    while done < n_tasks:
        n = min(chunk, n_tasks - done)
        heads = sample_heads(rng, np.ones(k), (n,)) @ root
        X_in, y_in = sample_task_data(rng, B_star, heads, m_in, sigma)
        if m_out is None:
            G_B, G_w = fo_anil_task_updates(
                B, w, alpha, X_in, y_in, regressors=heads @ B_star.T
            )
        else:
            X_out, y_out = sample_task_data(rng, B_star, heads, m_out, sigma)
            G_B, G_w = fo_anil_task_updates(B, w, alpha, X_in, y_in, X_out, y_out)
        for j, G in enumerate((G_B, G_w)):
            sums[j] += G.sum(axis=0)
            squares[j] += np.sum(G**2, axis=0)
        done += n
    means = [s / n_tasks for s in sums]
    ses = [
        np.sqrt(np.maximum(q / n_tasks - mu**2, 0) * n_tasks / (n_tasks - 1) / n_tasks)
        for q, mu in zip(squares, means)
    ]
    return means[0], means[1], ses[0], ses[1]


# ----------------------------------------------------------------------------------------------------
# Adapting to a new task in one step
# ----------------------------------------------------------------------------------------------------


def _check_taus(tau):
    arr = np.asarray(tau)
    flat = [
        _check_m("tau", v.item() if hasattr(v, "item") else v, allow_inf=False)
        for v in arr.reshape(-1)
    ]
    return np.array(flat, dtype=float).reshape(arr.shape)


def optimal_head_preconditioner(head_cov, tau, sigma=0.0):
    """``Gamma*`` minimizing the one-step risk over preconditioners ``A = B_* Gamma B_*^T`` (eq. `eq-op-optimal-gamma`).

    ``Gamma* = Lambda_* ((tau+1)/tau Lambda_* + (tr Lambda_* + sigma^2)/tau I)^{-1}``; ``Gamma* = I`` when
    ``tau = inf``.

    Parameters
    ----------
    head_cov : array_like, shape (k, k)
    tau : int or inf
    sigma : float

    Returns
    -------
    ndarray, shape (k, k)
    """
    head_cov = _check_head_cov(head_cov)
    tau = _check_m("tau", tau)
    sigma = check_nonnegative_float("sigma", sigma)
    k = head_cov.shape[0]
    if tau == math.inf:
        return np.eye(k)
    shift = (tau + 1) / tau * head_cov + (np.trace(head_cov) + sigma**2) / tau * np.eye(
        k
    )
    gamma = np.linalg.solve(shift.T, head_cov.T).T  # Lambda shift^{-1}
    return 0.5 * (gamma + gamma.T)


def _risk_traces(B, w, B_star, head_cov):
    """``tr(C M^2)``, ``tr(C M)``, ``tr(M^2)``, ``tr C`` for ``M = B B^T`` and ``C = Bww^TB^T + B_* Lambda B_*^T``."""
    G = _swap(B) @ B
    P = B_star.T @ B
    BtCB = _swap(P) @ head_cov @ P
    trC = np.trace(head_cov)
    if w is not None:
        Gw = G @ w[..., None]
        BtCB = BtCB + Gw @ _swap(Gw)
        trC = trC + np.sum((B @ w[..., None]) ** 2, axis=(-2, -1))
    t1 = np.sum(G * BtCB, axis=(-2, -1))  # tr(B^T C B B^T B) = tr(C M^2)
    t2 = np.trace(BtCB, axis1=-2, axis2=-1)  # tr(C M)
    t3 = np.sum(G * G, axis=(-2, -1))  # tr(M^2)
    return t1, t2, t3, trC


def one_step_excess_risk(B, step, B_star, head_cov, tau, sigma=0.0, w=None):
    """Excess risk after one head step of size ``step`` on a new task with ``tau`` samples (eq. `eq-op-one-step-risk`).

    The adapted predictor is ``B w' = (I - A Sigma_hat) B w + A g_hat`` with ``A = step B B^T``; its excess
    risk ``E ||B w' - B_* theta||^2`` (the test loss minus ``sigma^2``, times 2) is

    ``R = tr(C [(tau+1)/tau A^2 - 2 A + I]) + (tr C + sigma^2)/tau tr(A^2)``,
    ``C = B w w^T B^T + B_* Lambda_* B_*^T``.

    Parameters
    ----------
    B : array_like, shape (..., d, k')
        Any width, for example ``B_star`` itself.
    step : float
        Step size of the head step (FO-ANIL's ``alpha``, or :func:`best_one_step_size`).
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)
    tau : int or array_like of int
        Samples of the new task; an array gives one risk per entry (broadcast against ``B``'s batch).
    sigma : float
    w : array_like, shape (..., k'), optional
        Starting head (default 0).

    Returns
    -------
    float or ndarray
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    step = (
        check_nonnegative_float("step", step)
        if np.ndim(step) == 0
        else as_array("step", step)
    )
    if np.any(np.asarray(step) < 0):
        raise ValueError("step must be non-negative")
    tau = _check_taus(tau)
    sigma = check_nonnegative_float("sigma", sigma)
    if w is not None:
        w = _check_head(w, B)
    t1, t2, t3, trC = _risk_traces(B, w, B_star, head_cov)
    risk = (
        step**2 * ((tau + 1) / tau * t1 + (trC + sigma**2) / tau * t3)
        - 2 * step * t2
        + trC
    )
    return float(risk) if np.ndim(risk) == 0 else risk


def best_one_step_size(B, B_star, head_cov, tau, sigma=0.0, w=None):
    """The step size minimizing :func:`one_step_excess_risk` (the risk is a quadratic in the step).

    ``step* = tr(C M) / [(tau+1)/tau tr(C M^2) + (tr C + sigma^2)/tau tr(M^2)]`` with ``M = B B^T``.

    Parameters
    ----------
    B, B_star, head_cov, tau, sigma, w : as in :func:`one_step_excess_risk`

    Returns
    -------
    float or ndarray
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    tau = _check_taus(tau)
    sigma = check_nonnegative_float("sigma", sigma)
    if w is not None:
        w = _check_head(w, B)
    t1, t2, t3, trC = _risk_traces(B, w, B_star, head_cov)
    step = t2 / ((tau + 1) / tau * t1 + (trC + sigma**2) / tau * t3)
    return float(step) if np.ndim(step) == 0 else step


def oracle_one_step_risk(head_cov, tau, sigma=0.0):
    """One-step risk of the best preconditioner inside ``col(B_*)``, ``A = B_* Gamma* B_*^T`` (eq. `eq-op-oracle-risk`).

    ``R* = tr(Lambda_*) - tr(Lambda_* Gamma*)``.

    Parameters
    ----------
    head_cov : array_like, shape (k, k)
    tau : int or array_like of int
    sigma : float

    Returns
    -------
    float or ndarray
    """
    head_cov = _check_head_cov(head_cov)
    taus = _check_taus(tau)
    sigma = check_nonnegative_float("sigma", sigma)
    risks = np.array(
        [
            np.trace(head_cov)
            - np.sum(head_cov * optimal_head_preconditioner(head_cov, int(v), sigma))
            for v in taus.reshape(-1)
        ]
    ).reshape(taus.shape)
    return float(risks) if risks.ndim == 0 else risks


def sampled_one_step_risk(
    rng, B, step, B_star, head_cov, tau, sigma=0.0, w=None, n_tasks=10000
):
    """Monte-Carlo estimate of :func:`one_step_excess_risk` on ``n_tasks`` fresh tasks, with its standard error.

    Parameters
    ----------
    rng : numpy.random.Generator
    B : array_like, shape (d, k')
    step, B_star, head_cov, sigma, w : as in :func:`one_step_excess_risk`
    tau : int
    n_tasks : int

    Returns
    -------
    mean : float
    se : float
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    step = check_nonnegative_float("step", step)
    tau = _check_m("tau", tau, allow_inf=False)
    sigma = check_nonnegative_float("sigma", sigma)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    w = np.zeros(B.shape[1]) if w is None else _check_head(as_array("w", w, ndim=1), B)
    heads = sample_heads(rng, np.ones(B_star.shape[1]), (n_tasks,)) @ _sqrt_psd(
        head_cov
    )
    X, y = sample_task_data(rng, B_star, heads, tau, sigma)
    r = X @ (B @ w) - y
    w1 = w - step * (np.einsum("nmd,nm->nd", X, r) / tau) @ B
    err = np.sum((w1 @ B.T - heads @ B_star.T) ** 2, axis=-1)
    return float(err.mean()), float(err.std(ddof=1) / np.sqrt(n_tasks))


# ----------------------------------------------------------------------------------------------------
# The multi-task learner: one head per task, trained jointly with B
# ----------------------------------------------------------------------------------------------------


def _check_tasks(B, W, regressors, X, y):
    B = as_array("B", B, ndim=2)
    W = as_array("W", W, ndim=2)
    check_same("k' (columns of B vs columns of W)", "B", B.shape[1], "W", W.shape[1])
    if (regressors is None) == (X is None and y is None):
        raise ValueError(
            "give either regressors (population task losses) or X and y (sampled task losses)"
        )
    if regressors is not None:
        regressors = as_array("regressors", regressors, ndim=2)
        if regressors.shape != (W.shape[0], B.shape[0]):
            raise ValueError(
                f"regressors must have shape {(W.shape[0], B.shape[0])}, got {regressors.shape}"
            )
        return B, W, regressors, None, None
    if X is None or y is None:
        raise ValueError("give both X and y")
    X = as_array("X", X, ndim=3)
    y = as_array("y", y, ndim=2)
    check_same("d (rows of B vs columns of X)", "B", B.shape[0], "X", X.shape[-1])
    check_same("n (number of tasks)", "W", W.shape[0], "X", X.shape[0])
    if y.shape != X.shape[:-1]:
        raise ValueError(f"y must have shape {X.shape[:-1]} to match X, got {y.shape}")
    return B, W, None, X, y


def _mtl_residuals(B, W, regressors, X, y):
    """Per-task gradient of each loss w.r.t. the prediction vector ``B w_i``: (n, d)."""
    if regressors is not None:
        return W @ B.T - regressors
    r = np.einsum("nmd,nd->nm", X, W @ B.T) - y
    return np.einsum("nmd,nm->nd", X, r) / X.shape[1]


def multitask_objective(B, W, regressors=None, X=None, y=None):
    """Multi-task loss with one head per task, averaged over the tasks (eq. `eq-op-mtl-objective`).

    ``F(B, W) = (1/n) sum_i l_i(B, w_i)`` with ``l_i = 1/2 ||B w_i - B_* theta_i||^2`` (population, give
    ``regressors``) or ``l_i = 1/(2m) ||X_i B w_i - y_i||^2`` (sampled, give ``X`` and ``y``).

    Parameters
    ----------
    B : array_like, shape (d, k')
    W : array_like, shape (n, k')
        One head per task.
    regressors : array_like, shape (n, d), optional
    X : array_like, shape (n, m, d), optional
    y : array_like, shape (n, m), optional

    Returns
    -------
    float
    """
    B, W, regressors, X, y = _check_tasks(B, W, regressors, X, y)
    if regressors is not None:
        return float(0.5 * np.mean(np.sum((W @ B.T - regressors) ** 2, axis=-1)))
    r = np.einsum("nmd,nd->nm", X, W @ B.T) - y
    return float(0.5 * np.mean(r**2))


def multitask_gradients(B, W, regressors=None, X=None, y=None):
    """The multi-task learner's update directions (eq. `eq-op-mtl-update`).

    ``G_B = grad_B F = (1/n) sum_i r_i w_i^T`` and, for each head, the gradient of its *own* loss
    ``G_{w_i} = grad_{w_i} l_i = B^T r_i = n grad_{w_i} F``, with ``r_i`` the gradient of ``l_i`` w.r.t.
    ``B w_i``.

    Parameters
    ----------
    B, W, regressors, X, y : as in :func:`multitask_objective`

    Returns
    -------
    G_B : ndarray, shape (d, k')
    G_W : ndarray, shape (n, k')
    """
    B, W, regressors, X, y = _check_tasks(B, W, regressors, X, y)
    r = _mtl_residuals(B, W, regressors, X, y)
    return r.T @ W / W.shape[0], r @ B


def expected_multitask_objective(B, L, B_star, head_cov):
    """Multi-task loss with infinitely many tasks whose heads are ``w = L theta`` (eq. `eq-op-mtl-limit`).

    ``F(B, L) = 1/2 E ||B L theta - B_* theta||^2 = 1/2 tr((B L - B_*) Lambda_* (B L - B_*)^T)``.

    Parameters
    ----------
    B : array_like, shape (..., d, k')
    L : array_like, shape (..., k', k)
        The linear map from a task's true head to its learned head.
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)

    Returns
    -------
    float or ndarray
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    L = _check_head_map(L, B, B_star)
    E = B @ L - B_star
    value = 0.5 * np.sum((E @ head_cov) * E, axis=(-2, -1))
    return float(value) if value.ndim == 0 else value


def _check_head_map(L, B, B_star):
    L = as_array("L", L, min_ndim=2)
    if L.shape[-2:] != (B.shape[-1], B_star.shape[1]):
        raise ValueError(
            f"L must have shape (..., {B.shape[-1]}, {B_star.shape[1]}) (k' x k), got {L.shape}"
        )
    return L


def expected_multitask_update(B, L, B_star, head_cov):
    """Infinite-task multi-task directions for ``B`` and the head map ``L`` (eq. `eq-op-mtl-limit`).

    ``G_B = (B L - B_*) Lambda_* L^T`` is the gradient of :func:`expected_multitask_objective`; each head
    ``w = L theta`` moves along the gradient of its own loss, ``B^T (B L - B_*) theta``, so the head map moves
    along ``G_L = B^T (B L - B_*)`` (the gradient w.r.t. ``L`` times ``Lambda_*^{-1}``).

    Parameters
    ----------
    B, L, B_star, head_cov : as in :func:`expected_multitask_objective`

    Returns
    -------
    G_B : ndarray, shape (..., d, k')
    G_L : ndarray, shape (..., k', k)
    """
    B, B_star, head_cov = _check_model(B, B_star, head_cov)
    L = _check_head_map(L, B, B_star)
    E = B @ L - B_star
    return E @ head_cov @ _swap(L), _swap(B) @ E


# ----------------------------------------------------------------------------------------------------
# Training: the deterministic recursions
# ----------------------------------------------------------------------------------------------------


@dataclass
class OverparamTrajectory:
    """What :func:`train_expected_fo_anil` and :func:`train_multitask` record.

    Attributes
    ----------
    iterations : ndarray of int, shape (R,)
        Recorded iteration numbers (0 is the start).
    perp_norm : ndarray, shape (..., R)
        ``||B_perp||_F``.
    singular_values : ndarray, shape (..., R, k')
        Singular values of ``B_t``, largest first.
    top_dist : ndarray, shape (..., R)
        ``dist`` between the top-``k`` left singular subspace of ``B_t`` and ``col(B_*)``.
    head_norm : ndarray, shape (..., R)
        ``||w_t||`` (FO-ANIL) or ``||L_t||_F`` (multi-task).
    gram_error : ndarray, shape (..., R)
        ``||B_*^T B B^T B_* - Lambda_lim||_F / ||Lambda_lim||_F`` (FO-ANIL; NaN for the multi-task learner).
    stopped_at : ndarray of int, shape (...)
        Iteration at which a blown-up run was detected and stopped (runs are checked every 25 iterations and at
        every recorded one), or -1.
    B : ndarray, shape (..., d, k')
        Final representation (the last finite one for a stopped run).
    head : ndarray
        Final ``w`` (..., k') for FO-ANIL, final head map ``L`` (..., k', k) for the multi-task learner.
    params : dict
    """

    iterations: np.ndarray
    perp_norm: np.ndarray
    singular_values: np.ndarray
    top_dist: np.ndarray
    head_norm: np.ndarray
    gram_error: np.ndarray
    stopped_at: np.ndarray
    B: np.ndarray
    head: np.ndarray
    params: dict = field(default_factory=dict)


def _record_points(iterations, record):
    if record is None:
        points = np.unique(
            np.concatenate(
                [[0], np.geomspace(1, iterations, 200).astype(int), [iterations]]
            )
        )
    else:
        points = np.unique(np.asarray(record, dtype=int))
        if points.size == 0 or points[0] < 0 or points[-1] > iterations:
            raise ValueError(f"record must hold iteration numbers in [0, {iterations}]")
        points = np.unique(np.concatenate([[0], points, [iterations]]))
    return points


def _diagnostics(B, head_norm, B_star, target):
    k = B_star.shape[1]
    B_perp = B - B_star @ (B_star.T @ B)
    perp = np.linalg.norm(B_perp, axis=(-2, -1))
    U, sv, _ = np.linalg.svd(B, full_matrices=False)
    top = (
        subspace_distance(U[..., :, :k], B_star)
        if np.all(sv[..., k - 1] > 0)
        else np.full(B.shape[:-2], np.nan)
    )
    if target is None:
        gram_err = np.full(B.shape[:-2], np.nan)
    else:
        P = B_star.T @ B
        gram_err = np.linalg.norm(
            P @ _swap(P) - target, axis=(-2, -1)
        ) / np.linalg.norm(target)
    return perp, sv, top, head_norm, gram_err


def _run(step, state, B_star, iterations, record, target, head_norm, check_every=25):
    """Iterate ``state = step(state)``; record diagnostics; stop runs that blow up (non-finite or huge)."""
    points = _record_points(iterations, record)
    B0 = state[0]
    batch = B0.shape[:-2]
    R, kw = len(points), B0.shape[-1]
    perp, top, hnorm, gerr = (np.full((*batch, R), np.nan) for _ in range(4))
    sv = np.full((*batch, R, kw), np.nan)
    start = np.linalg.norm(B0, axis=(-2, -1)) + 1.0
    limit = BLOWUP_FACTOR * start
    stopped_at = np.full(batch, -1)
    last_good = [np.array(s, copy=True) for s in state]
    running = np.ones(batch, dtype=bool)

    def record_at(col, st):
        values = _diagnostics(st[0], head_norm(st[1]), B_star, target)
        for arr, val in zip((perp, sv, top, hnorm, gerr), values):
            if arr is sv:
                arr[..., col, :] = np.where(running[..., None], val, np.nan)
            else:
                arr[..., col] = np.where(running, val, np.nan)

    record_at(0, state)
    col = 1
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, iterations + 1):
            state = step(state)
            due = col < R and t == points[col]
            if due or t % check_every == 0 or t == iterations:
                size = np.linalg.norm(state[0], axis=(-2, -1))
                ok = np.isfinite(size) & (size < limit)
                for j, s in enumerate(state):
                    s_ok = (
                        np.isfinite(s).all(axis=tuple(range(len(batch), s.ndim)))
                        if s.ndim > len(batch)
                        else True
                    )
                    ok = ok & s_ok
                newly = running & ~ok
                stopped_at[newly] = t
                running &= ok
                for j, s in enumerate(state):
                    mask = running.reshape(
                        running.shape + (1,) * (s.ndim - running.ndim)
                    )
                    last_good[j] = np.where(mask, s, last_good[j])
                if due:
                    record_at(col, last_good)
                    col += 1
                if not running.any():
                    break
    return points, perp, sv, top, hnorm, gerr, stopped_at, last_good


def _warn(name, stopped_at, advice):
    bad = np.flatnonzero(np.asarray(stopped_at).reshape(-1) >= 0)
    if bad.size:
        warnings.warn(
            f"{name} blew up in {bad.size} of {np.asarray(stopped_at).size} run(s), at iteration(s) "
            f"{np.asarray(stopped_at).reshape(-1)[bad].tolist()}; those runs were stopped there and are "
            f"not recorded beyond. To fix it, {advice}.",
            DivergenceWarning,
            stacklevel=3,
        )


def train_expected_fo_anil(
    B0, alpha, beta, B_star, head_cov, m_in, iterations, sigma=0.0, w0=None, record=None
):
    """Infinite-task FO-ANIL: iterate ``(B, w) <- (B, w) - beta E[G]`` (eq. `eq-op-recursion`).

    The expectation is :func:`expected_fo_anil_update`, so the dynamics are a deterministic matrix
    recursion. From ``w0 = 0`` the head stays exactly 0 and the recursion is
    ``B <- B + alpha beta Sigma_b B - alpha^2 beta B B^T [(m+1)/m Sigma_b + s I] B`` with
    ``Sigma_b = B_* Lambda_* B_*^T`` and ``s = (tr Lambda_* + sigma^2)/m``.

    Parameters
    ----------
    B0 : array_like, shape (..., d, k')
        Starting representation (for example :func:`metalib.linrep.initial_representation` with
        ``k_width=k'``); leading dimensions are independent runs.
    alpha, beta : float
        Inner and outer step sizes.
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)
    m_in : int or inf
    iterations : int
    sigma : float
    w0 : array_like, shape (..., k'), optional
        Starting head (default 0).
    record : array_like of int, optional
        Iterations at which to record the diagnostics (default: about 200 log-spaced ones); 0 and the last
        iteration are always recorded.

    Returns
    -------
    OverparamTrajectory
        ``gram_error`` is measured against :func:`fixed_point_gram`.

    Warns
    -----
    DivergenceWarning
        When a run blows up; it is stopped and the warning names the step size to lower.
    """
    B0, B_star, head_cov = _check_model(B0, B_star, head_cov)
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    m_in = _check_m("m_in", m_in)
    T = check_positive_int("iterations", iterations)
    sigma = check_nonnegative_float("sigma", sigma)
    w0 = np.zeros(B0.shape[:-2] + B0.shape[-1:]) if w0 is None else _check_head(w0, B0)
    if w0.shape != B0.shape[:-2] + B0.shape[-1:]:
        raise ValueError(
            f"w0 must have shape {B0.shape[:-2] + B0.shape[-1:]}, got {w0.shape}"
        )
    target = fixed_point_gram(alpha, head_cov, m_in, sigma)

    def step(state):
        B, w = state
        G_B, G_w = _expected_direction(B, w, alpha, B_star, head_cov, m_in, sigma)
        return B - beta * G_B, w - beta * G_w

    if not np.any(w0):
        # From w = 0 the expected head direction B^T (I - alpha M) B w vanishes, so w stays exactly 0 and
        # eq. `eq-op-recursion` needs only B: the same formula as `step` at w = 0, with fewer operations.
        c1 = 1.0 if m_in == math.inf else (m_in + 1) / m_in
        c2 = 0.0 if m_in == math.inf else (np.trace(head_cov) + sigma**2) / m_in
        ab, a2b, Bs_T, eye = (
            alpha * beta,
            alpha**2 * beta,
            B_star.T.copy(),
            np.eye(B0.shape[-1]),
        )

        def step(state):  # noqa: F811 (the fast path replaces the general step)
            B, w = state
            P = Bs_T @ B  # Q = B_*^T B
            LP = head_cov @ P
            H = c1 * (_swap(P) @ LP) + c2 * (_swap(B) @ B)  # B^T S B
            return B @ (eye - a2b * H) + B_star @ (ab * LP), w

    state = (B0.copy(), w0[..., None].copy())
    out = _run(
        step,
        state,
        B_star,
        T,
        record,
        target,
        lambda w: np.linalg.norm(w, axis=(-2, -1)),
    )
    points, perp, sv, top, hnorm, gerr, stopped_at, (B, w) = out
    gain0 = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
    if gain0 > 2:
        advice = (
            f"lower alpha (={alpha:g}) or rescale B0: the inner step overshoots from the start "
            f"(alpha * ||B0||^2 = {gain0:.3g} > 2)"
        )
    else:
        advice = f"lower beta (the outer step size, now {beta:g})"
    _warn("FO-ANIL", stopped_at, advice)
    params = dict(
        alpha=alpha,
        beta=beta,
        m_in=m_in,
        sigma=sigma,
        iterations=T,
        d=B0.shape[-2],
        k=B_star.shape[1],
        k_width=B0.shape[-1],
    )
    return OverparamTrajectory(
        points, perp, sv, top, hnorm, gerr, stopped_at, B, w[..., 0], params
    )


def train_multitask(B0, alpha, beta, B_star, head_cov, iterations, record=None):
    """Multi-task learning with infinitely many tasks, one head per task (eq. `eq-op-mtl-limit`).

    Every head starts at 0 and steps with size ``alpha`` along the gradient of its own population loss,
    ``B`` steps with size ``beta`` along the gradient of the average loss. Each head is then ``L_t theta``
    for a common ``L_t``, and ``L <- L - alpha B^T (B L - B_*)``, ``B <- B - beta (B L - B_*) Lambda_* L^T``.

    Parameters
    ----------
    B0 : array_like, shape (..., d, k')
    alpha : float
        Step size of every head.
    beta : float
        Step size of ``B``.
    B_star, head_cov : as in :func:`train_expected_fo_anil`
    iterations : int
    record : array_like of int, optional

    Returns
    -------
    OverparamTrajectory
        ``head`` is the final head map ``L``; ``head_norm`` records ``||L_t||_F``.

    Warns
    -----
    DivergenceWarning
    """
    B0, B_star, head_cov = _check_model(B0, B_star, head_cov)
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)

    def step(state):
        B, L = state
        E = B @ L - B_star
        return B - (beta * E) @ (head_cov @ _swap(L)), L - alpha * (_swap(B) @ E)

    L0 = np.zeros(B0.shape[:-2] + (B0.shape[-1], B_star.shape[1]))
    out = _run(
        step,
        (B0.copy(), L0),
        B_star,
        T,
        record,
        None,
        lambda L: np.linalg.norm(L, axis=(-2, -1)),
    )
    points, perp, sv, top, hnorm, gerr, stopped_at, (B, L) = out
    gain0 = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
    advice = (
        f"lower alpha (={alpha:g}): the head steps overshoot (alpha * ||B0||^2 = {gain0:.3g} > 2)"
        if gain0 > 2
        else f"lower beta (the step size of B, now {beta:g})"
    )
    _warn("Multi-task learning", stopped_at, advice)
    params = dict(
        alpha=alpha,
        beta=beta,
        iterations=T,
        d=B0.shape[-2],
        k=B_star.shape[1],
        k_width=B0.shape[-1],
    )
    return OverparamTrajectory(
        points, perp, sv, top, hnorm, gerr, stopped_at, B, L, params
    )


# ----------------------------------------------------------------------------------------------------
# Figures of the interactive panels (chapters 05 and 06)
# ----------------------------------------------------------------------------------------------------


def width_penalty_representation(B_star, head_cov, m_in, alpha, extra, rho, sigma=0.0):
    """FO-ANIL's limit plus ``extra`` leftover columns: ``[B_* (Gamma*/alpha)^{1/2}, rho U / sqrt(alpha)]``.

    ``U`` (d, extra) has orthonormal columns orthogonal to ``col(B_*)``, so ``alpha B_perp^T B_perp = rho^2 I``
    and the two parts use different hidden units (lemma `lem-op-width-penalty`: the one-step risk grows by
    ``(tr Lambda_* + sigma^2) extra rho^4 / tau``). ``U`` is fixed (the last ``extra`` columns of a complete
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
    B_star = as_array("B_star", B_star, ndim=2)
    d, k = B_star.shape
    head_cov = _check_head_cov(head_cov, k)
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


def plot_width_penalty(
    B_star, head_cov, alpha, m_in, extra=5, rho=1.0, sigma=2.0, m_max=200
):
    """One-step excess risk versus the new task's sample size, with and without leftover width (chapter 05).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    taus = np.unique(np.geomspace(2, m_max, 40).astype(int))
    narrow = width_penalty_representation(B_star, head_cov, m_in, alpha, 0, 0.0, sigma)
    wide = width_penalty_representation(
        B_star, head_cov, m_in, alpha, extra, rho, sigma
    )
    trace = np.trace(_check_head_cov(head_cov)) + sigma**2
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.loglog(
        taus,
        one_step_excess_risk(narrow, alpha, B_star, head_cov, taus, sigma),
        "C0-",
        lw=2,
        label=r"FO-ANIL's limit, width $k$, step $\alpha$",
    )
    ax.loglog(
        taus,
        one_step_excess_risk(wide, alpha, B_star, head_cov, taus, sigma),
        "C3-",
        lw=2,
        label=rf"plus {extra} leftover columns, step $\alpha$",
    )
    best = best_one_step_size(wide, B_star, head_cov, taus, sigma)
    ax.loglog(
        taus,
        one_step_excess_risk(wide, best, B_star, head_cov, taus, sigma),
        "C3--",
        lw=1.2,
        label=r"the same, best step for each $\tau$",
    )
    ax.loglog(
        taus,
        oracle_one_step_risk(head_cov, taus, sigma),
        "k:",
        lw=1.2,
        label=r"oracle $B_*\Gamma^*B_*^\top$",
    )
    ax.axvline(m_in, color="0.6", lw=0.8)
    ax.set_xlabel(r"samples of the new task $\tau$")
    ax.set_ylabel("one-step excess risk $R$")
    ax.set_ylim(top=3 * float(np.trace(head_cov)))
    at_m = float(
        one_step_excess_risk(wide, alpha, B_star, head_cov, m_in, sigma)
        - one_step_excess_risk(narrow, alpha, B_star, head_cov, m_in, sigma)
    )
    ax.set_title(
        f"penalty at tau = m_in = {m_in}: {at_m:.3g} (predicted {trace * extra * rho**4 / m_in:.3g})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower left")
    fig.subplots_adjust(
        left=0.13, right=0.97, bottom=0.14, top=0.9
    )  # tight_layout is slow
    return fig


def plot_unlearning(
    B_star,
    head_cov,
    sigma,
    k_width=10,
    m_in=20,
    alpha=0.1,
    beta=0.1,
    iterations=5000,
    seed=0,
):
    """FO-ANIL versus the multi-task learner from the same start: ``||B_perp||_F`` and singular values (chapter 06).

    Starts both learners from ``initial_representation(B_star, alpha, default_rng(seed), k_width=k_width)``
    and draws the predicted law ``sqrt(k' - k) (2 alpha^2 beta s t)^{-1/2}`` (eq. `eq-op-cubic-law`) and the
    floor ``sqrt((k' - k) / alpha)`` of lemma `lem-op-frozen-kernel`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    fo, mtl : OverparamTrajectory
    """
    import matplotlib.pyplot as plt

    from ..linrep import initial_representation

    B_star = as_array("B_star", B_star, ndim=2)
    k = B_star.shape[1]
    k_width = check_positive_int("k_width", k_width)
    if k_width < k:
        raise ValueError(f"k_width must be at least k = {k}, got {k_width}")
    B0 = initial_representation(
        B_star, alpha, np.random.default_rng(seed), k_width=k_width
    )
    record = np.unique(np.geomspace(1, iterations, 80).astype(int))
    fo = train_expected_fo_anil(
        B0, alpha, beta, B_star, head_cov, m_in, iterations, sigma, record=record
    )
    mtl = train_multitask(B0, alpha, beta, B_star, head_cov, iterations, record=record)
    t = fo.iterations[1:]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax0.loglog(t, fo.perp_norm[1:], "C0-", lw=2, label=f"FO-ANIL, m_in = {m_in}")
    ax0.loglog(t, mtl.perp_norm[1:], "C1-", lw=2, label="multi-task learner")
    if k_width > k:
        ax0.axhline(
            np.sqrt((k_width - k) / alpha),
            color="0.5",
            ls=":",
            lw=1,
            label="frozen-kernel floor",
        )
        if m_in != math.inf:
            s = (np.trace(head_cov) + sigma**2) / m_in
            ax0.loglog(
                t,
                np.sqrt(k_width - k) * (2 * alpha**2 * beta * s * t) ** -0.5,
                "k--",
                lw=1,
                label=r"law $\sqrt{k'-k}\,(2\alpha^2\beta s t)^{-1/2}$",
            )
    ax0.set_ylim(max(1e-3, 0.3 * np.nanmin(fo.perp_norm)), 2 * fo.perp_norm[0])
    ax0.set_xlabel("iteration $t$")
    ax0.set_ylabel(r"$\|B_\perp\|_F$")
    ratio_fo = fo.perp_norm[0] / fo.perp_norm[-1]
    ratio_mtl = mtl.perp_norm[0] / mtl.perp_norm[-1]
    ax0.set_title(
        f"start / end: FO-ANIL {ratio_fo:.3g}, multi-task {ratio_mtl:.3g}", fontsize=10
    )
    ax0.legend(fontsize=8, loc="lower left")
    ax1.loglog(t, fo.singular_values[1:, :k], "C0-", lw=1.5)
    if k_width > k:
        ax1.loglog(t, fo.singular_values[1:, k:], "C3-", lw=1.5)
    for value in np.sqrt(
        np.linalg.eigvalsh(fixed_point_gram(alpha, head_cov, m_in, sigma))
    ):
        ax1.axhline(value, color="0.5", ls=":", lw=1)
    ax1.set_xlabel("iteration $t$")
    ax1.set_ylabel(r"singular values of $B_t$ (FO-ANIL)")
    ax1.set_title(
        rf"top {k} (blue) settle at $\sqrt{{\mathrm{{eig}}\,\Lambda_{{\lim}}}}$; the other "
        f"{k_width - k} (red) decay",
        fontsize=10,
    )
    fig.subplots_adjust(
        left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.28
    )  # tight_layout is slow
    return fig, fo, mtl
