"""One gradient step on a new task: its excess risk in closed form and by Monte Carlo (chapters
05, 06).

``chapters/05_misspecified_width``:

* :func:`one_step_excess_risk`: ``R(A; tau)`` with ``A = step B B^T``, eq. `eq-op-one-step-risk`
  (proposition `prop-op-one-step-risk`);
* :func:`optimal_head_preconditioner`: ``Gamma*(tau)``, eq. `eq-op-optimal-gamma` (corollary
  `cor-op-oracle`);
* :func:`oracle_one_step_risk`: ``R*(tau)``, eq. `eq-op-oracle-risk`;
* :func:`best_one_step_size`: the step minimising the risk (a quadratic in the step);
* :func:`sampled_one_step_risk`: the Monte-Carlo referee of eq. `eq-op-one-step-risk`.

``chapters/06_unlearning_and_adaptation`` compares learned representations with these.
"""

from __future__ import annotations

import math

import numpy as np

from ..linalg import transpose
from ..linrep import sample_heads, sample_task_data
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_int,
    check_rng,
)
from ._checks import (
    check_batches,
    check_head,
    check_head_cov,
    check_m,
    check_model,
    check_taus,
    sqrt_psd,
)

__all__ = [
    "optimal_head_preconditioner",
    "one_step_excess_risk",
    "best_one_step_size",
    "oracle_one_step_risk",
    "sampled_one_step_risk",
]


def optimal_head_preconditioner(head_cov, tau, sigma=0.0):
    """``Gamma*`` minimizing the one-step risk over preconditioners ``A = B_* Gamma B_*^T`` (eq.
    `eq-op-optimal-gamma`).

    ``Gamma* = Lambda_* ((tau+1)/tau Lambda_* + (tr Lambda_* + sigma^2)/tau I)^{-1}``;
    ``Gamma* = I`` when ``tau = inf``.

    Parameters
    ----------
    head_cov : array_like, shape (k, k)
    tau : int or inf
    sigma : float

    Returns
    -------
    ndarray, shape (k, k)
    """
    return _optimal_gamma(head_cov, tau, sigma, "tau")


def _optimal_gamma(head_cov, tau, sigma, tau_name):
    """:func:`optimal_head_preconditioner`, with errors naming the sample size ``tau_name``."""
    head_cov = check_head_cov(head_cov)
    tau = check_m(tau_name, tau)
    sigma = check_nonnegative_float("sigma", sigma)
    k = head_cov.shape[0]
    if tau == math.inf:
        return np.eye(k)
    noise = (np.trace(head_cov) + sigma**2) / tau
    shift = (tau + 1) / tau * head_cov + noise * np.eye(k)
    gamma = np.linalg.solve(shift.T, head_cov.T).T  # Lambda shift^{-1}
    return 0.5 * (gamma + gamma.T)


def _risk_traces(B, w, B_star, head_cov):
    """``tr(C M^2)``, ``tr(C M)``, ``tr(M^2)``, ``tr C`` for ``M = B B^T`` and
    ``C = B w w^T B^T + B_* Lambda B_*^T``."""
    G = transpose(B) @ B
    P = B_star.T @ B
    BtCB = transpose(P) @ head_cov @ P
    trC = np.trace(head_cov)
    if w is not None:
        Gw = G @ w[..., None]
        BtCB = BtCB + Gw @ transpose(Gw)
        trC = trC + np.sum((B @ w[..., None]) ** 2, axis=(-2, -1))
    t1 = np.sum(G * BtCB, axis=(-2, -1))  # tr(B^T C B B^T B) = tr(C M^2)
    t2 = np.trace(BtCB, axis1=-2, axis2=-1)  # tr(C M)
    t3 = np.sum(G * G, axis=(-2, -1))  # tr(M^2)
    return t1, t2, t3, trC


def _check_risk_args(B, B_star, head_cov, tau, sigma, w):
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    tau = check_taus(tau)
    sigma = check_nonnegative_float("sigma", sigma)
    if w is not None:
        w = check_head(w, B)
    check_batches("tau", tau.shape, "B", B.shape[:-2])
    return B, B_star, head_cov, tau, sigma, w


def one_step_excess_risk(B, step, B_star, head_cov, tau, sigma=0.0, w=None):
    """Excess risk after one head step of size ``step`` on a new task with ``tau`` samples (eq.
    `eq-op-one-step-risk`).

    The adapted predictor is ``B w' = (I - A Sigma_hat) B w + A g_hat`` with ``A = step B B^T``;
    its excess risk ``E ||B w' - B_* theta||^2`` (the test loss minus ``sigma^2``, times 2) is

    ``R = tr(C [(tau+1)/tau A^2 - 2 A + I]) + (tr C + sigma^2)/tau tr(A^2)``,
    ``C = B w w^T B^T + B_* Lambda_* B_*^T``.

    Parameters
    ----------
    B : array_like, shape (..., d, k')
        Any width, for example ``B_star`` itself.
    step : float or array_like
        Step size of the head step (FO-ANIL's ``alpha``, or :func:`best_one_step_size`); an array
        broadcasts against ``tau`` and ``B``'s batch.
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)
    tau : int or array_like of int
        Samples of the new task; an array gives one risk per entry (broadcast against ``B``'s
        batch).
    sigma : float
    w : array_like, shape (..., k'), optional
        Starting head (default 0).

    Returns
    -------
    float or ndarray
    """
    if np.ndim(step) == 0:
        step = check_nonnegative_float("step", step)
    else:
        step = as_array("step", step)
        if np.any(step < 0):
            raise ValueError("step must be non-negative")
    B, B_star, head_cov, tau, sigma, w = _check_risk_args(
        B, B_star, head_cov, tau, sigma, w
    )
    check_batches(
        "step",
        np.shape(step),
        "tau and B",
        np.broadcast_shapes(tau.shape, B.shape[:-2]),
    )
    t1, t2, t3, trC = _risk_traces(B, w, B_star, head_cov)
    risk = (
        step**2 * ((tau + 1) / tau * t1 + (trC + sigma**2) / tau * t3)
        - 2 * step * t2
        + trC
    )
    return float(risk) if np.ndim(risk) == 0 else risk


def best_one_step_size(B, B_star, head_cov, tau, sigma=0.0, w=None):
    """The step size minimizing :func:`one_step_excess_risk` (the risk is a quadratic in the step).

    ``step* = tr(C M) / [(tau+1)/tau tr(C M^2) + (tr C + sigma^2)/tau tr(M^2)]`` with
    ``M = B B^T``.

    Parameters
    ----------
    B, B_star, head_cov, tau, sigma, w : as in :func:`one_step_excess_risk`
        ``B`` must not be zero (then every step gives the same risk).

    Returns
    -------
    float or ndarray
    """
    B, B_star, head_cov, tau, sigma, w = _check_risk_args(
        B, B_star, head_cov, tau, sigma, w
    )
    t1, t2, t3, trC = _risk_traces(B, w, B_star, head_cov)
    if np.any(t3 == 0):
        raise ValueError("B must not be zero: then every step size gives the same risk")
    step = t2 / ((tau + 1) / tau * t1 + (trC + sigma**2) / tau * t3)
    return float(step) if np.ndim(step) == 0 else step


def oracle_one_step_risk(head_cov, tau, sigma=0.0):
    """One-step risk of the best preconditioner inside ``col(B_*)``, ``A = B_* Gamma* B_*^T`` (eq.
    `eq-op-oracle-risk`).

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
    head_cov = check_head_cov(head_cov)
    taus = check_taus(tau)
    sigma = check_nonnegative_float("sigma", sigma)
    risks = np.array(
        [
            np.trace(head_cov)
            - np.sum(head_cov * _optimal_gamma(head_cov, int(v), sigma, "tau"))
            for v in taus.reshape(-1)
        ]
    ).reshape(taus.shape)
    return float(risks) if risks.ndim == 0 else risks


def sampled_one_step_risk(
    rng, B, step, B_star, head_cov, tau, sigma=0.0, w=None, n_tasks=10000
):
    """Monte-Carlo estimate of :func:`one_step_excess_risk` on ``n_tasks`` fresh tasks, with its
    standard error.

    Parameters
    ----------
    rng : numpy.random.Generator
    B : array_like, shape (d, k')
    step, B_star, head_cov, sigma, w : as in :func:`one_step_excess_risk`
    tau : int
    n_tasks : int
        At least 2 (for the standard error).

    Returns
    -------
    mean : float
    se : float
    """
    rng = check_rng("rng", rng)
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    if B.ndim != 2:
        raise ValueError(f"B must have 2 dimensions here, got shape {B.shape}")
    step = check_nonnegative_float("step", step)
    tau = check_m("tau", tau, allow_inf=False)
    sigma = check_nonnegative_float("sigma", sigma)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    if n_tasks < 2:
        raise ValueError(
            f"n_tasks must be at least 2 to estimate a standard error, got {n_tasks}"
        )
    w = np.zeros(B.shape[1]) if w is None else check_head(as_array("w", w, ndim=1), B)
    heads = sample_heads(rng, np.ones(B_star.shape[1]), (n_tasks,)) @ sqrt_psd(head_cov)
    X, y = sample_task_data(rng, B_star, heads, tau, sigma)
    r = X @ (B @ w) - y
    w1 = w - step * (np.einsum("nmd,nm->nd", X, r) / tau) @ B
    err = np.sum((w1 @ B.T - heads @ B_star.T) ** 2, axis=-1)
    return float(err.mean()), float(err.std(ddof=1) / np.sqrt(n_tasks))
