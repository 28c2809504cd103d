"""FO-ANIL and the multi-task learner on a fixed, finite set of ``T`` tasks.

This is the setting of the paper's experiment (yuksel2023: ``T = 5000`` tasks).

Implements the finite-task part of Part II (``chapters/07_finite_tasks``):

* :func:`sample_finite_tasks` draws the fixed task set once: ``T`` heads
  ``theta_i ~ N(0, Lambda_*)``, ``m_in`` inner and ``m_out`` outer samples each (eq.
  `eq-ft-task-set`), and precomputes each task's inner and outer correlations ``g = X^T y / m``;
* :func:`finite_fo_anil_update` is the full-batch FO-ANIL direction over the ``T`` tasks (eq.
  `eq-ft-update`), computed a block of tasks at a time: matrix-vector products with each task's
  samples, made for the whole block in one call, and matrix products over the block's tasks (no
  ``d x d`` matrix per task, no Python loop over tasks; ``O(T m d + T d k')`` per step);
* :func:`train_finite_fo_anil` iterates it (the paper's experiment), :func:`train_finite_multitask`
  trains one head per task jointly with ``B`` on all ``m_in + m_out`` samples (the baseline);
* :func:`finite_residual_matrix` is the matrix ``K_T(M)`` with which FO-ANIL's finite-task
  direction at ``w = 0`` is ``alpha K_T(B B^T) B`` (eq. `eq-ft-residual`); what it leaves at the
  infinite-task fixed point predicts the distance plateau and the stall of the leftover width;
* :func:`gaussian_start` is the start with i.i.d. ``N(0, 1/d)`` entries.

Speed: at the paper's sizes a step reads the whole task set (30 MB: the inputs are stored in single
precision, see :class:`FiniteTasks`) and is bound by memory traffic and the per-task products; the
singular values and subspace distances of ``B`` are computed once, after training, at the
recorded iterations. Two options trade exactness to rounding for time: ``precision="single"``
makes the per-task products in single precision (sums over tasks and the parameters stay in
double; a step changes by about 1e-7 of its size), and ``workers=2`` shares each step's task set
between two threads. Nothing here changes numpy's or OpenBLAS's settings; on a machine whose cores
are busy, run with ``OPENBLAS_NUM_THREADS=1`` (OpenBLAS's threads then wait far longer than they
compute).

The infinite-task recursion they are compared with is
:func:`metalib.overparam.train_expected_fo_anil`.
Notation as in :mod:`metalib.overparam`: ``B`` is ``(d, k')``, ``w`` is ``(k',)``, losses are
``1/(2m) ||X B w - y||^2``, the inner step has size ``alpha`` and the outer step size ``beta``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..divergence import BlowupGuard
from ..linalg import transpose
from ..linrep import sample_heads
from ..subspace import subspace_distance
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)

__all__ = [
    "FiniteTasks",
    "FiniteTrajectory",
    "sample_finite_tasks",
    "finite_fo_anil_update",
    "finite_residual_matrix",
    "train_finite_fo_anil",
    "train_finite_multitask",
    "gaussian_start",
]

#: bound on the size ``c d max(d, k')`` of the matrix products of one block of ``c`` tasks: each
#: block of task data is read from memory once per step and used twice (``X`` then ``X^T``) while
#: it is still in cache, and its products stay small enough for OpenBLAS to run them on the calling
#: thread (at 500 tasks of the paper's size it started its threads, 10 to 20 times slower on a busy
#: 2-core machine); at the paper's sizes a block is 200 tasks
_BLOCK_WORK = 500_000


def _blocks(n_tasks, d, width):
    size = max(1, _BLOCK_WORK // (d * max(d, width)))
    return [slice(a, a + size) for a in range(0, n_tasks, size)]


def _matvec(X, P):
    """``X_i p_{r,i}`` for every task ``i`` and run ``r``: ``X`` (c, m, d), ``P`` (R, c, d).

    Returns shape (c, m, R). ``P`` of shape (R, 1, d) is the same vector for every task. One
    call makes the small products of all tasks of the block (faster, on a block in cache, than one
    ``einsum`` contraction over the block).
    """
    if P.shape[0] == 1:  # one run
        if P.shape[1] == 1:  # one vector: a single matrix-vector product over the block
            return (X.reshape(-1, X.shape[2]) @ P[0, 0]).reshape(*X.shape[:2], 1)
        return np.matvec(X, P[0])[:, :, None]
    if P.shape[1] == 1:
        return X @ P[:, 0].T
    return X @ np.moveaxis(P, 0, 2)


def _rmatvec(X, Q):
    """``X_i^T q_{i,r}`` for every task and run: ``X`` (c, m, d), ``Q`` (c, m, R) -> (R, c, d)."""
    if Q.shape[2] == 1:
        return np.vecmat(Q[:, :, 0], X)[None]
    return np.swapaxes(transpose(Q) @ X, 0, 1)


@dataclass
class FiniteTasks:
    """A fixed set of ``T`` training tasks and what each contributes to an FO-ANIL step.

    Attributes
    ----------
    X_in : ndarray, shape (T, m_in, d)
        Inner inputs. :func:`sample_finite_tasks` stores them in single precision (drawn in double
        precision and rounded once; the labels are computed from the rounded inputs, and every
        computation with them is in double precision): a step reads all of them, and half the
        bytes make it faster.
    y_in : ndarray, shape (T, m_in)
    X_out : ndarray, shape (T, m_out, d)
        Outer inputs, stored like ``X_in``.
    y_out : ndarray, shape (T, m_out)
    g_in : ndarray, shape (T, d)
        Inner correlations ``X_in,i^T y_in,i / m_in``.
    g_out : ndarray, shape (T, d)
        Outer correlations ``X_out,i^T y_out,i / m_out``.
    heads : ndarray, shape (T, k)
        The tasks' true heads ``theta_i``.
    B_star : ndarray, shape (d, k)
    head_cov : ndarray, shape (k, k)
    sigma : float
    """

    X_in: np.ndarray
    y_in: np.ndarray
    X_out: np.ndarray
    y_out: np.ndarray
    g_in: np.ndarray
    g_out: np.ndarray
    heads: np.ndarray
    B_star: np.ndarray
    head_cov: np.ndarray
    sigma: float

    @property
    def n_tasks(self):
        """``T``, the number of tasks."""
        return self.X_in.shape[0]

    @property
    def m_in(self):
        return self.X_in.shape[1]

    @property
    def m_out(self):
        return self.X_out.shape[1]

    @property
    def d(self):
        return self.X_in.shape[2]


def _check_head_cov(head_cov, k):
    head_cov = as_array("head_cov", head_cov, ndim=2)
    if head_cov.shape != (k, k):
        raise ValueError(
            f"head_cov must have shape {(k, k)} to match B_star, got {head_cov.shape}"
        )
    if not np.allclose(head_cov, head_cov.T) or np.linalg.eigvalsh(head_cov).min() < 0:
        raise ValueError("head_cov must be symmetric positive semidefinite")
    return head_cov


def sample_finite_tasks(rng, B_star, head_cov, n_tasks, m_in, m_out, sigma=0.0):
    """Draw the fixed task set of the paper's experiment (eq. `eq-ft-task-set`).

    Parameters
    ----------
    rng : numpy.random.Generator
    B_star : array_like, shape (d, k)
        Ground truth with orthonormal columns.
    head_cov : array_like, shape (k, k)
        ``Lambda_*``; heads are ``theta_i ~ N(0, Lambda_*)``.
    n_tasks : int
        ``T``, the number of tasks.
    m_in, m_out : int
        Inner and outer samples per task.
    sigma : float
        Label-noise standard deviation.

    Returns
    -------
    FiniteTasks
    """
    rng = check_rng("rng", rng)
    B_star = as_array("B_star", B_star, ndim=2)
    d, k = B_star.shape
    if k > d:
        raise ValueError(
            f"B_star must have at most as many columns as rows, got shape {B_star.shape}"
        )
    head_cov = _check_head_cov(head_cov, k)
    T = check_positive_int("n_tasks", n_tasks)
    m_in = check_positive_int("m_in", m_in)
    m_out = check_positive_int("m_out", m_out)
    sigma = check_nonnegative_float("sigma", sigma)
    vals, vecs = np.linalg.eigh(head_cov)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    heads = sample_heads(rng, np.ones(k), (T,)) @ root
    regressors = heads @ B_star.T  # B_* theta_i
    X_in, y_in = _draw(rng, regressors, m_in, sigma)
    X_out, y_out = _draw(rng, regressors, m_out, sigma)
    g_in = np.einsum("tmd,tm->td", X_in, y_in) / m_in
    g_out = np.einsum("tmd,tm->td", X_out, y_out) / m_out
    return FiniteTasks(
        X_in, y_in, X_out, y_out, g_in, g_out, heads, B_star, head_cov, sigma
    )


def _draw(rng, regressors, m, sigma):
    """``m`` samples per task, as :func:`metalib.linrep.sample_task_data` (same draws), with the
    inputs rounded to single precision and the labels computed from the rounded inputs."""
    X = rng.standard_normal((*regressors.shape[:-1], m, regressors.shape[-1]))
    X = X.astype(np.float32)
    y = np.matvec(X.astype(np.float64), regressors)
    if sigma > 0:
        y = y + sigma * rng.standard_normal(y.shape)
    return X, y


def _f64(X):
    """A block of inputs in double precision (a copy that stays in cache, or ``X`` itself)."""
    return X.astype(np.float64, copy=False)


def _check_tasks(tasks):
    if not isinstance(tasks, FiniteTasks):
        raise TypeError(
            f"tasks must be a FiniteTasks (from sample_finite_tasks), got {type(tasks).__name__}"
        )
    return tasks


def _check_B(B, tasks, name="B"):
    B = as_array(name, B, min_ndim=2)
    check_same(
        "d (rows of B vs the tasks' input dimension)",
        name,
        B.shape[-2],
        "tasks",
        tasks.d,
    )
    return B


def _check_w(w, B, name="w"):
    w = as_array(name, w, min_ndim=1)
    if w.shape != B.shape[:-2] + B.shape[-1:]:
        raise ValueError(
            f"{name} must have shape {B.shape[:-2] + B.shape[-1:]}, got {w.shape}"
        )
    return w


#: the precision of the products with each task's samples: name -> dtype
_PRECISIONS = {"double": np.float64, "single": np.float32}


class _Workers(ThreadPoolExecutor):
    """A thread pool that knows its number of workers (the shares of the task set per step)."""

    def __init__(self, workers):
        super().__init__(max_workers=workers)
        self.workers = workers


def _check_speed_options(precision, workers):
    """``(dtype, workers)`` from the ``precision`` and ``workers`` arguments, checked by name."""
    dtype = _PRECISIONS[check_choice("precision", precision, tuple(_PRECISIONS))]
    return dtype, check_positive_int("workers", workers)


@contextmanager
def _pool(workers):
    """A pool of ``workers`` threads for the steps of one call, or None for one worker."""
    if workers == 1:
        yield None
    else:
        with _Workers(workers) as pool:
            yield pool


# region: finite-update
def _block_sums(V, M, tasks, dtype, blocks):
    """``m_out sum_i r_i`` and ``m_in m_out sum_i r_i h_i^T`` over the tasks of ``blocks``.

    Per-task products in ``dtype``, sums in double precision; ``V`` (R, d) and ``M`` (R, d, d) as
    in :func:`_fo_anil_directions`.
    """
    R, d = V.shape
    r_sum, rh_sum = np.zeros((R, d)), np.zeros((R, d, d))
    for block in blocks:
        X_in = tasks.X_in[block].astype(dtype, copy=False)
        X_out = tasks.X_out[block].astype(dtype, copy=False)
        y_in = tasks.y_in[block, :, None].astype(dtype, copy=False)
        y_out = tasks.y_out[block, :, None].astype(dtype, copy=False)
        # m_in h_i = X_in,i^T (y_in,i - X_in,i v), (R, c, d)
        H = _rmatvec(X_in, y_in - _matvec(X_in, V[:, None]))
        P = H @ M + V[:, None]  # B w'_i = v + alpha M h_i
        # m_out r_i = X_out,i^T (X_out,i B w'_i - y_out,i)
        r = _rmatvec(X_out, _matvec(X_out, P) - y_out)
        r_sum += r.sum(axis=1, dtype=np.float64)
        rh_sum += transpose(r) @ H
    return r_sum, rh_sum


def _fo_anil_directions(Bs, ws, alpha, tasks, dtype=np.float64, pool=None):
    """Unvalidated full-batch FO-ANIL directions for runs ``Bs`` (R, d, k'), ``ws`` (R, k').

    With ``v = B w``, ``M = B B^T`` and, for task ``i``, ``h_i = g_in,i - Sigma_in,i v`` (minus the
    inner gradient, so that ``w'_i = w + alpha B^T h_i``) and ``r_i = Sigma_out,i B w'_i - g_out,i``
    (the outer residual), ``G_B = (1/T) sum_i r_i w'_i^T = rbar w^T + alpha/T (sum_i r_i h_i^T) B``
    and ``G_w = B^T rbar`` with ``rbar = (1/T) sum_i r_i``. No ``d x d`` matrix per task: with
    ``g = X^T y / m``, ``h_i = X_in,i^T (y_in,i - X_in,i v) / m_in`` and
    ``r_i = X_out,i^T (X_out,i B w'_i - y_out,i) / m_out`` are matrix-vector products with each
    task's data, made for all tasks of a block at once; ``B w'_i = v + alpha M h_i`` and
    ``sum_i r_i h_i^T`` are matrix products over the tasks of the block (:func:`_block_sums`).
    """
    d = Bs.shape[1]
    V = ((Bs @ ws[:, :, None])[:, :, 0]).astype(dtype)  # v = B w, one per run
    M = ((alpha / tasks.m_in) * (Bs @ transpose(Bs))).astype(dtype)  # alpha M / m_in
    sums = partial(_block_sums, V, M, tasks, dtype)
    r_sum, rh_sum = _over_shares(sums, _blocks(tasks.n_tasks, d, Bs.shape[2]), pool)
    T = tasks.n_tasks
    r_bar = r_sum / (T * tasks.m_out)
    G_B = r_bar[:, :, None] * ws[:, None, :] + (
        alpha / (T * tasks.m_in * tasks.m_out)
    ) * (rh_sum @ Bs)
    G_w = (r_bar[:, None, :] @ Bs)[:, 0]
    return G_B, G_w


# endregion: finite-update


def _over_shares(sums, blocks, pool):
    """``sums(blocks)``; with a pool, each of its threads sums a contiguous share of the blocks,
    and the shares' results are added in order (so a result does not depend on thread timing)."""
    if pool is None:
        return sums(blocks)
    n = pool.workers
    shares = [
        blocks[j * len(blocks) // n : (j + 1) * len(blocks) // n] for j in range(n)
    ]
    parts = [future.result() for future in [pool.submit(sums, s) for s in shares]]
    return tuple(sum(values) for values in zip(*parts, strict=True))


def finite_fo_anil_update(B, w, alpha, tasks, precision="double", workers=1):
    """Full-batch FO-ANIL outer direction over a fixed task set (eq. `eq-ft-update`).

    For each task the inner step ``w'_i = w - alpha B^T (Sigma_in,i B w - g_in,i)`` uses the
    ``m_in`` inner samples; the outer gradient at ``(B, w'_i)`` with ``w'_i`` held fixed uses the
    ``m_out`` outer samples; the direction is their average over the ``T`` tasks.

    Parameters
    ----------
    B : array_like, shape (..., d, k')
    w : array_like, shape (..., k')
    alpha : float
        Inner step size.
    tasks : FiniteTasks
    precision : {"double", "single"}
        Precision of the products with each task's samples (the inputs are stored in single
        precision either way). The sums over tasks, ``B`` and ``w`` stay in double precision. At the
        paper's sizes "single" makes a step about 1.6 times faster and changes it by about 1e-7
        of its size.
    workers : int
        Threads that share the task set (numpy's matrix products run outside Python's lock). Their
        sums are added in a fixed order, so a result does not depend on the threads' timing; it
        agrees with ``workers=1`` to rounding.

    Returns
    -------
    G_B : ndarray, shape (..., d, k')
    G_w : ndarray, shape (..., k')
    """
    tasks = _check_tasks(tasks)
    B = _check_B(B, tasks)
    w = _check_w(w, B)
    alpha = check_positive_float("alpha", alpha)
    dtype, workers = _check_speed_options(precision, workers)
    with _pool(workers) as pool:
        G_B, G_w = _fo_anil_directions(
            B.reshape(-1, *B.shape[-2:]),
            w.reshape(-1, w.shape[-1]),
            alpha,
            tasks,
            dtype,
            pool,
        )
    return G_B.reshape(B.shape), G_w.reshape(w.shape)


def finite_residual_matrix(M, alpha, tasks):
    """The matrix ``K_T(M)`` of FO-ANIL's finite-task direction at ``w = 0`` (eq. `eq-ft-residual`).

    ``K_T(M) = (1/T) sum_i (alpha Sigma_out,i M g_in,i - g_out,i) g_in,i^T``, and at ``w = 0`` the
    direction is ``G_B = alpha K_T(B B^T) B``. Over fresh task sets
    ``E K_T(M) = alpha M S - B_* Lambda_* B_*^T`` with
    ``S = (m_in+1)/m_in B_* Lambda_* B_*^T + s I`` (the infinite-task recursion); the rest is an
    average of ``T`` independent zero-mean terms.

    Parameters
    ----------
    M : array_like, shape (d, d)
        Typically ``B B^T``.
    alpha : float
    tasks : FiniteTasks

    Returns
    -------
    ndarray, shape (d, d)
    """
    tasks = _check_tasks(tasks)
    M = as_array("M", M, ndim=2)
    if M.shape != (tasks.d, tasks.d):
        raise ValueError(f"M must have shape {(tasks.d, tasks.d)}, got {M.shape}")
    alpha = check_positive_float("alpha", alpha)
    K = np.zeros((tasks.d, tasks.d))
    M_out = (alpha / tasks.m_out) * M
    for block in _blocks(tasks.n_tasks, tasks.d, tasks.d):
        X_out, g = _f64(tasks.X_out[block]), tasks.g_in[block]
        r = _rmatvec(X_out, _matvec(X_out, (g @ M_out)[None]))[0] - tasks.g_out[block]
        K += r.T @ g
    return K / tasks.n_tasks


def gaussian_start(rng, d, k_width):
    """The Gaussian start: i.i.d. ``N(0, 1/d)`` entries, shape ``(d, k_width)``.

    Parameters
    ----------
    rng : numpy.random.Generator
    d, k_width : int

    Returns
    -------
    ndarray, shape (d, k_width)
    """
    rng = check_rng("rng", rng)
    d = check_positive_int("d", d)
    k_width = check_positive_int("k_width", k_width)
    return rng.standard_normal((d, k_width)) / np.sqrt(d)


@dataclass
class FiniteTrajectory:
    """What :func:`train_finite_fo_anil` and :func:`train_finite_multitask` record.

    Attributes
    ----------
    iterations : ndarray of int, shape (R,)
    perp_norm : ndarray, shape (..., R)
        ``||B_perp||_F``.
    singular_values : ndarray, shape (..., R, k')
    top_dist : ndarray, shape (..., R)
        Distance between the top-``k`` left singular subspace of ``B_t`` and ``col(B_*)``.
    head_norm : ndarray, shape (..., R)
        ``||w_t||`` (FO-ANIL) or the root mean square ``||w_i||`` over tasks (multi-task).
    stopped_at : ndarray of int, shape (...)
        Iteration at which a run blew up and was stopped, or -1.
    B : ndarray, shape (..., d, k')
        Final (last finite) representation.
    head : ndarray
        Final ``w`` (..., k') for FO-ANIL, final heads (..., T, k') for the multi-task learner.
    params : dict
    """

    iterations: np.ndarray
    perp_norm: np.ndarray
    singular_values: np.ndarray
    top_dist: np.ndarray
    head_norm: np.ndarray
    stopped_at: np.ndarray
    B: np.ndarray
    head: np.ndarray
    params: dict = field(default_factory=dict)


def _record_points(iterations, record):
    if record is None:
        pts = np.geomspace(1, iterations, 60).astype(int)
    else:
        pts = np.asarray(record)
        if pts.size == 0 and pts.ndim == 1:
            pts = pts.astype(int)
        if pts.ndim != 1 or not np.issubdtype(pts.dtype, np.integer):
            raise ValueError("record must be a 1-D array of iteration numbers")
        if pts.size and (pts.min() < 0 or pts.max() > iterations):
            raise ValueError(f"record must hold iteration numbers in [0, {iterations}]")
    return np.unique(np.concatenate([[0], pts, [iterations]]).astype(int))


def _diagnostics(snapshots, B_star):
    """``||B_perp||_F``, singular values and top-``k`` distance of recorded ``B`` (..., d, k').

    Computed once for all recorded iterations after training, not inside the loop; entries of
    runs that had stopped are NaN and stay NaN.
    """
    shape = snapshots.shape[:-2]
    flat = snapshots.reshape(-1, *snapshots.shape[-2:])
    k = B_star.shape[1]
    perp = np.full(len(flat), np.nan)
    top = np.full(len(flat), np.nan)
    sv = np.full((len(flat), flat.shape[-1]), np.nan)
    ok = np.flatnonzero(np.isfinite(flat).all(axis=(-2, -1)))
    if ok.size:
        B = flat[ok]
        perp[ok] = np.linalg.norm(B - B_star @ (B_star.T @ B), axis=(-2, -1))
        s = np.linalg.svd(B, compute_uv=False)
        sv[ok] = s
        if B.shape[-1] >= k:
            # top-k left singular vectors: eigenvectors of B B^T (cheaper than a full SVD)
            U = np.linalg.eigh(B @ transpose(B))[1][..., ::-1][..., :k]
            rank_k = s[:, k - 1] > 0
            top[ok[rank_k]] = subspace_distance(U[rank_k], B_star)
    return perp.reshape(shape), sv.reshape(*shape, -1), top.reshape(shape)


def _train(step, B0, head0, head_norm, B_star, iterations, record, what, advice):
    """Iterate every run with ``step(B, head) -> (B, head)``; record; stop runs that blow up.

    ``advice()`` gives the warning's advice; it is called only when a run blew up.
    """
    points = _record_points(iterations, record)
    batch = B0.shape[:-2]
    Bf = B0.reshape(-1, *B0.shape[-2:]).copy()
    Hf = head0.reshape(Bf.shape[0], *head0.shape[len(batch) :]).copy()
    n_runs = Bf.shape[0]
    snapshots = np.full((n_runs, len(points), *Bf.shape[1:]), np.nan)
    hn = np.full((n_runs, len(points)), np.nan)
    guard = BlowupGuard(np.linalg.norm(Bf, axis=(-2, -1)))

    def record_at(col, Bf, Hf):
        for j in np.flatnonzero(guard.running):
            snapshots[j, col] = Bf[j]
            hn[j, col] = head_norm(Hf[j])

    record_at(0, Bf, Hf)
    col = 1
    limit = guard.limit.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, iterations + 1):
            every = guard.running.all()
            idx = np.flatnonzero(guard.running)
            B_new, H_new = step(Bf, Hf) if every else step(Bf[idx], Hf[idx])
            size = np.linalg.norm(B_new, axis=(-2, -1))
            finite = np.isfinite(H_new.reshape(len(idx), -1).sum(axis=1))
            ok = np.isfinite(size) & (size < limit[idx]) & finite
            if every and ok.all():  # the common case: no copies
                Bf, Hf = B_new, H_new
            else:
                Bf[idx[ok]], Hf[idx[ok]] = B_new[ok], H_new[ok]
                guard.running[idx[~ok]] = False
                guard.stopped_at[idx[~ok]] = t
            if t == points[col]:
                record_at(col, Bf, Hf)
                col += 1
            if not guard.running.any():
                break
    if np.any(guard.stopped_at >= 0):
        guard.warn(what, advice(), stacklevel=4)
    perp, sv, top = _diagnostics(snapshots, B_star)

    def shaped(a):
        return a.reshape(*batch, *a.shape[1:])

    return FiniteTrajectory(
        points,
        shaped(perp),
        shaped(sv),
        shaped(top),
        shaped(hn),
        guard.stopped_at.reshape(batch) if batch else guard.stopped_at.reshape(()),
        Bf.reshape(B0.shape),
        Hf.reshape(head0.shape),
    )


def train_finite_fo_anil(
    B0,
    alpha,
    beta,
    tasks,
    iterations,
    w0=None,
    record=None,
    precision="double",
    workers=1,
):
    """FO-ANIL on a fixed task set, full batch: ``(B, w) <- (B, w) - beta G`` (eq. `eq-ft-update`).

    Parameters
    ----------
    B0 : array_like, shape (..., d, k')
        Starting representation(s); leading dimensions are independent runs on the same tasks.
    alpha, beta : float
        Inner and outer step sizes.
    tasks : FiniteTasks
    iterations : int
    w0 : array_like, shape (..., k'), optional
        Starting head (default 0); it is meta-learned.
    record : array_like of int, optional
        Iterations at which to record (default: 60 log-spaced); 0 and the last are always recorded.
    precision : {"double", "single"}
        Precision of the products with each task's samples, as in :func:`finite_fo_anil_update`.
    workers : int
        Threads that share the task set at each step, as in :func:`finite_fo_anil_update`.

    Returns
    -------
    FiniteTrajectory

    Warns
    -----
    DivergenceWarning
        When a run blows up; it is stopped and the warning names the step size to lower.
    """
    tasks = _check_tasks(tasks)
    B0 = _check_B(B0, tasks, "B0")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    iterations = check_positive_int("iterations", iterations)
    w0 = (
        np.zeros(B0.shape[:-2] + B0.shape[-1:])
        if w0 is None
        else _check_w(w0, B0, "w0")
    )

    dtype, workers = _check_speed_options(precision, workers)

    def step(Bs, ws):  # called only inside the pool's block below
        G_B, G_w = _fo_anil_directions(Bs, ws, alpha, tasks, dtype, pool)
        return Bs - beta * G_B, ws - beta * G_w

    def advice():
        gain = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
        if gain > 2:
            return (
                f"lower alpha (={alpha:g}): the inner step overshoots "
                f"(alpha ||B0||^2 = {gain:.3g} > 2)"
            )
        return f"lower beta (the outer step size, now {beta:g})"

    with _pool(workers) as pool:
        traj = _train(
            step,
            B0,
            w0,
            np.linalg.norm,
            tasks.B_star,
            iterations,
            record,
            "FO-ANIL",
            advice,
        )
    traj.params = dict(
        alpha=alpha, beta=beta, iterations=iterations, n_tasks=tasks.n_tasks, m_in=tasks.m_in,
        m_out=tasks.m_out, sigma=tasks.sigma, k_width=B0.shape[-1], precision=precision,
    )  # fmt: skip
    return traj


def train_finite_multitask(B0, alpha, beta, tasks, iterations, record=None):
    """The multi-task learner on a fixed task set: one head per task, all ``m_in + m_out`` samples.

    Each head starts at 0 and steps with size ``alpha`` along the gradient of its own loss
    ``1/(2m) ||X_i B w_i - y_i||^2``; ``B`` steps with size ``beta`` along the gradient of the
    average loss, ``(1/T) sum_i (Sigma_i B w_i - g_i) w_i^T``. No penalty.

    Parameters
    ----------
    B0 : array_like, shape (..., d, k')
    alpha, beta : float
    tasks : FiniteTasks
    iterations : int
    record : array_like of int, optional

    Returns
    -------
    FiniteTrajectory
        ``head`` holds the final heads (..., T, k').

    Warns
    -----
    DivergenceWarning
    """
    tasks = _check_tasks(tasks)
    B0 = _check_B(B0, tasks, "B0")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    iterations = check_positive_int("iterations", iterations)
    X = np.concatenate([tasks.X_in, tasks.X_out], axis=1)
    y = np.concatenate([tasks.y_in, tasks.y_out], axis=1)
    m = X.shape[1]
    T = tasks.n_tasks

    def step(Bs, Ws):
        # m r_i = m (Sigma_i B w_i - g_i) = X_i^T (X_i B w_i - y_i) for every task
        G_B = np.zeros_like(Bs)
        W_new = np.empty_like(Ws)
        for block in _blocks(T, tasks.d, Bs.shape[2]):
            W, Xb = Ws[:, block], _f64(X[block])
            r = _rmatvec(Xb, _matvec(Xb, W @ transpose(Bs)) - y[block, :, None])
            G_B += transpose(r) @ W
            W_new[:, block] = W - (alpha / m) * (r @ Bs)
        return Bs - (beta / (T * m)) * G_B, W_new

    W0 = np.zeros(B0.shape[:-2] + (T, B0.shape[-1]))

    def advice():
        gain = alpha * float(np.max(np.linalg.norm(B0, ord=2, axis=(-2, -1)) ** 2))
        if gain > 1:
            return (
                f"lower alpha (={alpha:g}): the head steps overshoot "
                f"(alpha ||B0||^2 = {gain:.3g})"
            )
        return f"lower beta (the step size of B, now {beta:g})"

    traj = _train(
        step,
        B0,
        W0,
        lambda W: np.sqrt(np.mean(np.sum(W**2, axis=-1))),
        tasks.B_star,
        iterations,
        record,
        "Multi-task learning",
        advice,
    )
    traj.params = dict(alpha=alpha, beta=beta, iterations=iterations, n_tasks=T, m=m)
    return traj
