"""The multi-task learner: one head per task, trained jointly with ``B`` (chapter 06).

``chapters/06_unlearning_and_adaptation``:

* :func:`multitask_objective`, :func:`multitask_gradients`: the average loss over ``n`` tasks and
its
  update directions, eqs. `eq-op-mtl-objective`, `eq-op-mtl-update`;
* :func:`expected_multitask_objective`, :func:`expected_multitask_update`: the infinite-task limit
in
  which every head is ``L theta`` (lemma `lem-op-head-map`), eq. `eq-op-mtl-limit`.

The training loop is :func:`metalib.overparam.train_multitask`.
"""

from __future__ import annotations

import numpy as np

from ..linalg import transpose
from ..validation import as_array, check_same
from ._checks import check_batches, check_model

__all__ = [
    "multitask_objective",
    "multitask_gradients",
    "expected_multitask_objective",
    "expected_multitask_update",
]


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

    ``F(B, W) = (1/n) sum_i l_i(B, w_i)`` with ``l_i = 1/2 ||B w_i - B_* theta_i||^2`` (population,
    give
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
    ``G_{w_i} = grad_{w_i} l_i = B^T r_i = n grad_{w_i} F``, with ``r_i`` the gradient of ``l_i``
    w.r.t.
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
    """Multi-task loss with infinitely many tasks whose heads are ``w = L theta`` (eq.
    `eq-op-mtl-limit`).

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
    B, B_star, head_cov = check_model(B, B_star, head_cov)
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
    check_batches("L", L.shape[:-2], "B", B.shape[:-2])
    return L


def expected_multitask_update(B, L, B_star, head_cov):
    """Infinite-task multi-task directions for ``B`` and the head map ``L`` (eq. `eq-op-mtl-limit`).

    ``G_B = (B L - B_*) Lambda_* L^T`` is the gradient of :func:`expected_multitask_objective`; each
    head
    ``w = L theta`` moves along the gradient of its own loss, ``B^T (B L - B_*) theta``, so the head
    map moves
    along ``G_L = B^T (B L - B_*)`` (the gradient w.r.t. ``L`` times ``Lambda_*^{-1}``).

    Parameters
    ----------
    B, L, B_star, head_cov : as in :func:`expected_multitask_objective`

    Returns
    -------
    G_B : ndarray, shape (..., d, k')
    G_L : ndarray, shape (..., k', k)
    """
    B, B_star, head_cov = check_model(B, B_star, head_cov)
    L = _check_head_map(L, B, B_star)
    E = B @ L - B_star
    return E @ head_cov @ transpose(L), transpose(B) @ E
