"""Training loops: the deterministic infinite-task recursions of FO-ANIL and of the multi-task
learner.

``chapters/05_misspecified_width`` and ``chapters/06_unlearning_and_adaptation``:

* :func:`train_expected_fo_anil`: iterate ``(B, w) <- (B, w) - beta E[G]``, eqs.
`eq-op-infinite-tasks`,
  `eq-op-recursion` (corollary `cor-op-recursion`);
* :func:`train_multitask`: the head-map recursion of the multi-task learner, eq. `eq-op-mtl-limit`;
* :class:`OverparamTrajectory`: what both record (``||B_perp||_F``, singular values, top-``k``
distance,
  head norm, distance of the signal part to ``Lambda_lim``, where a run stopped).

Runs that blow up are stopped by one :class:`metalib.divergence.BlowupGuard` per loop, which warns
once naming the step size to lower.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..divergence import BlowupGuard
from ..linalg import transpose
from ..subspace import subspace_distance
from ..validation import (
    as_array,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
)
from ._checks import check_B_star, check_head, check_m, check_model, check_record
from .moments import _expected_direction
from .theory import fixed_point_gram

__all__ = ["OverparamTrajectory", "train_expected_fo_anil", "train_multitask"]


@dataclass
class OverparamTrajectory:
    """What :func:`train_expected_fo_anil` and :func:`train_multitask` record.

    The loop stores ``B_t`` at the recorded iterations; every diagnostic is computed from these
    snapshots at once when the run ends (batched, without a decomposition per step), and
    :attr:`top_dist`, the only one that needs singular vectors, when it is first read.

    Attributes
    ----------
    iterations : ndarray of int, shape (R,)
        Recorded iteration numbers (0 is the start).
    perp_norm : ndarray, shape (..., R)
        ``||B_perp||_F``.
    singular_values : ndarray, shape (..., R, k')
        Singular values of ``B_t``, largest first.
    head_norm : ndarray, shape (..., R)
        ``||w_t||`` (FO-ANIL) or ``||L_t||_F`` (multi-task).
    gram_error : ndarray, shape (..., R)
        ``||B_*^T B B^T B_* - Lambda_lim||_F / ||Lambda_lim||_F`` (FO-ANIL; NaN for the multi-task
        learner).
    stopped_at : ndarray of int, shape (...)
        Iteration at which a blown-up run was detected and stopped (runs are checked every 25
        iterations and at every recorded one), or -1. Records from there on are NaN.
    B : ndarray, shape (..., d, k')
        Final representation (the last finite one for a stopped run).
    head : ndarray
        Final ``w`` (..., k') for FO-ANIL, final head map ``L`` (..., k', k) for the multi-task
        learner.
    B_history : ndarray, shape (R, ..., d, k')
        ``B_t`` at the recorded iterations (the last finite one for a stopped run).
    B_star : ndarray, shape (d, k)
        The ground truth the diagnostics are measured against.
    params : dict
    """

    iterations: np.ndarray
    perp_norm: np.ndarray
    singular_values: np.ndarray
    head_norm: np.ndarray
    gram_error: np.ndarray
    stopped_at: np.ndarray
    B: np.ndarray
    head: np.ndarray
    B_history: np.ndarray
    B_star: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        iterations = np.asarray(self.iterations)
        if (
            iterations.ndim != 1
            or iterations.size == 0
            or not np.issubdtype(iterations.dtype, np.integer)
            or iterations[0] < 0
            or np.any(np.diff(iterations) <= 0)
        ):
            raise ValueError("iterations must be increasing non-negative integers (R,)")
        self.stopped_at = np.asarray(self.stopped_at)
        if not np.issubdtype(self.stopped_at.dtype, np.integer):
            raise TypeError(
                "stopped_at must hold integers (-1 for runs that did not stop)"
            )
        batch, R = self.stopped_at.shape, iterations.size
        self.B_star = check_B_star(self.B_star)
        self.B = as_array("B", self.B, ndim=len(batch) + 2)
        d, k_width = self.B.shape[-2:]
        shapes = dict(
            perp_norm=batch + (R,),
            singular_values=batch + (R, min(d, k_width)),
            head_norm=batch + (R,),
            gram_error=batch + (R,),
            B=batch + (d, k_width),
            B_history=(R,) + batch + (d, k_width),
            B_star=(d, self.B_star.shape[1]),
        )
        for name, shape in shapes.items():
            value = as_array(name, getattr(self, name), finite=False)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)
        if not isinstance(self.params, dict):
            raise TypeError(f"params must be a dict, got {type(self.params).__name__}")

    @functools.cached_property
    def top_dist(self):
        """``dist`` between the top-``k`` left singular subspace of ``B_t`` and ``col(B_*)``.

        ndarray, shape (..., R); NaN where the run had stopped or ``B_t`` has rank below ``k``.
        """
        k = self.B_star.shape[1]
        U, sv, _ = np.linalg.svd(self.B_history, full_matrices=False)
        dist = np.full(sv.shape[:-1], np.nan)
        full = sv[..., k - 1] > 0
        if full.any():
            dist[full] = subspace_distance(U[full][..., :k], self.B_star)
        return np.where(self._valid(), np.moveaxis(dist, 0, -1), np.nan)

    def _valid(self):
        """Which records were taken before the run stopped, shape (..., R)."""
        stop = np.asarray(self.stopped_at)[..., None]
        return (stop < 0) | (self.iterations < stop)


def _diagnostics(B_hist, heads, B_star, target, valid):
    """Every diagnostic but ``top_dist`` from the snapshots ``B_hist`` (R, ..., d, k'), batched.

    Returns arrays with the record axis last (``(..., R)``, ``(..., R, k')`` for the singular
    values), NaN where ``valid`` (..., R) is False.
    """
    B_perp = B_hist - B_star @ (B_star.T @ B_hist)
    perp = np.sqrt(np.sum(B_perp**2, axis=(-2, -1)))
    sv = np.linalg.svd(B_hist, compute_uv=False)
    hnorm = np.sqrt(np.sum(heads**2, axis=(-2, -1)))
    if target is None:
        gram_err = np.full(perp.shape, np.nan)
    else:
        P = B_star.T @ B_hist
        gram_err = np.linalg.norm(
            P @ transpose(P) - target, axis=(-2, -1)
        ) / np.linalg.norm(target)
    last = lambda a: np.where(valid, np.moveaxis(a, 0, -1), np.nan)  # noqa: E731
    sv = np.where(valid[..., None], np.moveaxis(sv, 0, -2), np.nan)
    return last(perp), sv, last(hnorm), last(gram_err)


def _run(step, state, points, check_every=25):
    """Iterate ``state = step(state)``; keep ``state`` at the recorded iterations; stop blow-ups.

    One :class:`~metalib.divergence.BlowupGuard` watches ``||B||_F`` of every run (and that every
    parameter is finite), every ``check_every`` iterations and at every recorded one. A stopped run
    keeps its last finite state. Returns the recorded iterations, the snapshots of each part of
    the state (record axis first), the guard and the last finite state.
    """
    iterations = int(points[-1])
    B0 = state[0]
    batch = B0.shape[:-2]
    guard = BlowupGuard(np.linalg.norm(B0, axis=(-2, -1)))
    last_good = [np.array(s, copy=True) for s in state]
    snapshots = [[s.copy()] for s in state]

    def all_finite(s):
        if s.ndim == len(batch):
            return np.isfinite(s)
        return np.isfinite(s).all(axis=tuple(range(len(batch), s.ndim)))

    col, R = 1, len(points)
    next_record = points[1] if R > 1 else -1
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, iterations + 1):
            state = step(state)
            due = t == next_record
            if due or t % check_every == 0 or t == iterations:
                finite = np.logical_and.reduce([all_finite(s) for s in state])
                running = guard.check(
                    t, np.linalg.norm(state[0], axis=(-2, -1)), finite
                )
                if running.all():
                    last_good = list(state)
                else:
                    for j, s in enumerate(state):
                        mask = running.reshape(
                            running.shape + (1,) * (s.ndim - running.ndim)
                        )
                        last_good[j] = np.where(mask, s, last_good[j])
                if due:
                    for snap, s in zip(snapshots, last_good):
                        snap.append(s)
                    col += 1
                    next_record = points[col] if col < R else -1
                if not running.any():
                    break
    # a run stopped early has no snapshot from there on: repeat its last finite state
    while col < R:
        for snap, s in zip(snapshots, last_good):
            snap.append(s)
        col += 1
    return points, [np.stack(snap) for snap in snapshots], guard, last_good


def _trajectory(points, snapshots, guard, last_good, B_star, target, params):
    B_hist, head_hist = snapshots
    valid = (guard.stopped_at[..., None] < 0) | (points < guard.stopped_at[..., None])
    perp, sv, hnorm, gerr = _diagnostics(B_hist, head_hist, B_star, target, valid)
    B, head = last_good
    return OverparamTrajectory(
        points, perp, sv, hnorm, gerr, guard.stopped_at, B, head, B_hist, B_star, params
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
        Iterations at which to record the diagnostics (default: about 200 log-spaced ones); 0 and
        the last
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
    B0, B_star, head_cov = check_model(B0, B_star, head_cov, name="B0")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    m_in = check_m("m_in", m_in)
    T = check_positive_int("iterations", iterations)
    sigma = check_nonnegative_float("sigma", sigma)
    points = check_record(record, T)
    w0 = (
        np.zeros(B0.shape[:-2] + B0.shape[-1:])
        if w0 is None
        else check_head(w0, B0, name="w0", B_name="B0")
    )
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
        # From w = 0 the expected head direction B^T (I - alpha M) B w vanishes, so w stays
        # exactly 0 and eq. `eq-op-recursion` needs only B: the same formula as `step` at w = 0,
        # B <- B (I - alpha^2 beta B^T S B) + alpha beta B_* Lambda_* Q with Q = B_*^T B and
        # B^T S B = c1 Q^T Lambda_* Q + c2 B^T B, in fewer operations (in place on new arrays).
        c1 = 1.0 if m_in == math.inf else (m_in + 1) / m_in
        c2 = 0.0 if m_in == math.inf else (np.trace(head_cov) + sigma**2) / m_in
        Bs_T, eye = B_star.T.copy(), np.eye(B0.shape[-1])
        ab_cov, c1_alpha, c2_a2b = (
            alpha * beta * head_cov,
            c1 * alpha,
            c2 * alpha**2 * beta,
        )

        def step(state):  # noqa: F811 (the fast path replaces the general step)
            B, w = state
            Q = Bs_T @ B
            LQ = ab_cov @ Q  # alpha beta Lambda_* Q
            H = B.mT @ B  # .mT: the batched transpose, cheaper than a call in this loop
            H *= -c2_a2b
            H -= Q.mT @ (c1_alpha * LQ)  # now -alpha^2 beta B^T S B
            H += eye
            new = B @ H
            new += B_star @ LQ
            return new, w

    points, snapshots, guard, last_good = _run(
        step, (B0.copy(), w0[..., None].copy()), points
    )
    gain0 = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
    if gain0 > 2:
        advice = (
            f"lower alpha (={alpha:g}) or rescale B0: the inner step overshoots from the start "
            f"(alpha * ||B0||^2 = {gain0:.3g} > 2)"
        )
    else:
        advice = f"lower beta (the outer step size, now {beta:g})"
    guard.warn("FO-ANIL", advice)
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
    traj = _trajectory(points, snapshots, guard, last_good, B_star, target, params)
    traj.head = traj.head[..., 0]
    return traj


def train_multitask(B0, alpha, beta, B_star, head_cov, iterations, record=None):
    """Multi-task learning with infinitely many tasks, one head per task (eq. `eq-op-mtl-limit`).

    Every head starts at 0 and steps with size ``alpha`` along the gradient of its own population
    loss, ``B`` steps with size ``beta`` along the gradient of the average loss. Each head is then
    ``L_t theta`` for a common ``L_t``, and ``L <- L - alpha B^T (B L - B_*)``,
    ``B <- B - beta (B L - B_*) Lambda_* L^T``.

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
    B0, B_star, head_cov = check_model(B0, B_star, head_cov, name="B0")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)
    points = check_record(record, T)
    beta_cov = beta * head_cov

    def step(state):
        B, L = state
        E = B @ L - B_star
        return B - E @ (beta_cov @ L.mT), L - alpha * (B.mT @ E)

    L0 = np.zeros(B0.shape[:-2] + (B0.shape[-1], B_star.shape[1]))
    points, snapshots, guard, last_good = _run(step, (B0.copy(), L0), points)
    gain0 = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
    advice = (
        f"lower alpha (={alpha:g}): the head steps overshoot (alpha * ||B0||^2 = {gain0:.3g} > 2)"
        if gain0 > 2
        else f"lower beta (the step size of B, now {beta:g})"
    )
    guard.warn("Multi-task learning", advice)
    params = dict(
        alpha=alpha,
        beta=beta,
        iterations=T,
        d=B0.shape[-2],
        k=B_star.shape[1],
        k_width=B0.shape[-1],
    )
    return _trajectory(points, snapshots, guard, last_good, B_star, None, params)
