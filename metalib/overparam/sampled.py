"""Sampled FO-ANIL directions: the Monte-Carlo referee of the closed form (chapter 05).

``chapters/05_misspecified_width``:

* :func:`fo_anil_task_updates`: per-task FO-ANIL outer directions on sampled batches,
  eq. `eq-op-sampled-update` (algorithm `alg-op-fo-anil`);
* :func:`sampled_fo_anil_update`: their average over fresh tasks with standard errors, against which
the
  chapter tests eq. `eq-op-expected-update`.

Tasks are drawn with Part I's data model, :func:`metalib.linrep.sample_heads` and
:func:`metalib.linrep.sample_task_data`.
"""

from __future__ import annotations

import numpy as np

from ..linrep import sample_heads, sample_task_data
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)
from ._checks import check_head, check_m, check_model, sqrt_psd

__all__ = ["fo_anil_task_updates", "sampled_fo_anil_update"]


def fo_anil_task_updates(
    B, w, alpha, X_in, y_in, X_out=None, y_out=None, regressors=None
):
    """Per-task FO-ANIL outer directions on sampled batches (eq. `eq-op-sampled-update`).

    Inner step on ``(X_in, y_in)``: ``w'_i = w - alpha B^T (X_in^T (X_in B w - y_in) / m_in)``. The
    outer
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
    w = check_head(as_array("w", w, ndim=1), B)
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
            "give either regressors (population outer loss) "
            "or X_out and y_out (a finite outer batch)"
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
    directions=None,
):
    """Monte-Carlo average of FO-ANIL directions over ``n_tasks`` fresh tasks, with standard errors.

    Draws heads ``theta ~ N(0, head_cov)`` and data with :func:`metalib.linrep.sample_task_data`,
    computes
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
    directions : array_like, shape (J, d, k'), optional
        Matrices ``D_j``; if given, the average of ``<G_B, D_j>`` (Frobenius) over the same tasks
        is returned too, with its standard error. The entries of ``mean_B`` share their tasks, so
        their errors are correlated; a projection has one exact standard error, which makes it
        the sharp test of a formula that differs from another along ``D_j``.

    Returns
    -------
    mean_B : ndarray, shape (d, k')
    mean_w : ndarray, shape (k',)
    se_B : ndarray, shape (d, k')
        Standard error of each entry of ``mean_B`` (sample standard deviation over tasks /
        sqrt(n_tasks)).
    se_w : ndarray, shape (k',)
    mean_along, se_along : ndarray, shape (J,)
        Only with ``directions``: the average of ``<G_B, D_j>`` and its standard error.
    """
    rng = check_rng("rng", rng)
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    w = check_head(as_array("w", w, ndim=1), B)
    m_in = check_m("m_in", m_in, allow_inf=False)
    if m_out is not None:
        m_out = check_m("m_out", m_out, allow_inf=False)
    sigma = check_nonnegative_float("sigma", sigma)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    chunk = check_positive_int("chunk", chunk)
    if n_tasks < 2:
        raise ValueError(
            f"n_tasks must be at least 2 to estimate a standard error, got {n_tasks}"
        )
    if directions is not None:
        directions = as_array("directions", directions, ndim=3)
        if directions.shape[1:] != B.shape:
            raise ValueError(
                f"directions must have shape (J, {B.shape[0]}, {B.shape[1]}) (J matrices "
                f"shaped like B), got {directions.shape}"
            )
    root = sqrt_psd(head_cov)
    k = B_star.shape[1]
    J = 0 if directions is None else directions.shape[0]
    sums = [np.zeros_like(B), np.zeros_like(w), np.zeros(J)]
    squares = [np.zeros_like(B), np.zeros_like(w), np.zeros(J)]
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
        along = np.zeros((n, 0)) if directions is None else _project(G_B, directions)
        for j, G in enumerate((G_B, G_w, along)):
            sums[j] += G.sum(axis=0)
            squares[j] += np.sum(G**2, axis=0)
        done += n
    means = [s / n_tasks for s in sums]
    ses = [
        np.sqrt(np.maximum(q / n_tasks - mu**2, 0) * n_tasks / (n_tasks - 1) / n_tasks)
        for q, mu in zip(squares, means)
    ]
    if directions is None:
        return means[0], means[1], ses[0], ses[1]
    return means[0], means[1], ses[0], ses[1], means[2], ses[2]


def _project(G_B, directions):
    """``<G_B[i], directions[j]>`` for every task ``i`` and direction ``j``: shape (n, J)."""
    n, J = G_B.shape[0], directions.shape[0]
    return G_B.reshape(n, -1) @ directions.reshape(J, -1).T
