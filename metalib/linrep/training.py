"""Meta-training for Part I (collins2022): the outer loop, vectorized over trials, and its record.

Chapter map: ``chapters/01_linrep_problem`` .. ``chapters/04_collins2022_reproduction``, the
outer step, eq. `eq-outer-step` (:func:`train`, :class:`Trajectory`). Runs that blow up are
stopped by the shared :class:`metalib.divergence.BlowupGuard`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..divergence import BlowupGuard
from ..linalg import transpose
from ..subspace import subspace_distance
from ..validation import (
    as_array,
    check_choice,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_rng,
)
from .gradients import _average, _batch, _merge_batches, _task_gradients
from .model import LABELS, METHODS, _draw_heads, _draw_task_data, head_scales

__all__ = ["Trajectory", "train"]


@dataclass
class Trajectory:
    """What :func:`train` records, per method, trial and recorded iteration.

    Attributes
    ----------
    methods : tuple of str
    iterations : ndarray, shape (R,)
        The recorded iteration numbers (0 is the start).
    dist : ndarray, shape (M, trials, R)
        ``dist(B_t, B_star)``; NaN after a run was stopped.
    conditioning : ndarray, shape (M, trials, R)
        ``||I - alpha B_t^T B_t||_2``.
    head_norm : ndarray, shape (M, trials, R)
        ``||w_t||``.
    stopped_at : ndarray of int, shape (M, trials)
        Iteration at which a run blew up and was stopped, or -1.
    B, w : ndarray
        Final iterates, shapes (M, trials, d, k) and (M, trials, k) (last finite values for
        stopped runs).
    params : dict
        The arguments of the run.
    """

    methods: tuple
    iterations: np.ndarray
    dist: np.ndarray
    conditioning: np.ndarray
    head_norm: np.ndarray
    stopped_at: np.ndarray
    B: np.ndarray
    w: np.ndarray
    params: dict = field(default_factory=dict)

    def series(self, method, quantity="dist"):
        """Array of shape (trials, R) of ``quantity`` for ``method``."""
        check_choice("method", method, self.methods)
        check_choice("quantity", quantity, ("dist", "conditioning", "head_norm"))
        return getattr(self, quantity)[self.methods.index(method)]


def _diagnostics(B, w, B_star, alpha):
    eig = np.linalg.eigvalsh(alpha * transpose(B) @ B)
    conditioning = np.max(np.abs(1 - eig), axis=-1)
    return subspace_distance(B, B_star[None]), conditioning, np.linalg.norm(w, axis=-1)


def _check_methods(methods):
    if isinstance(methods, str):
        methods = (methods,)  # a single method name
    try:
        methods = tuple(methods)
    except TypeError:
        raise TypeError(
            f"methods must be a method name or a sequence of them, got {type(methods).__name__}"
        ) from None
    if not methods:
        raise ValueError("methods must name at least one method")
    return tuple(check_choice("method", m, METHODS) for m in methods)


def train(
    methods,
    B_star,
    B0,
    alpha,
    beta,
    iterations,
    rng,
    n,
    mu=1.0,
    w0=None,
    m_in=None,
    m_out=None,
    sigma=0.0,
    learn_head=True,
    record_every=1,
):
    """Run meta-training for several methods on shared tasks, vectorized over trials.

    Every outer iteration draws ``n`` fresh tasks per trial (and, with finite samples, fresh
    batches) and gives the same tasks to every method, then updates ``B <- B - beta grad_B``,
    ``w <- w - beta grad_w`` (eq. `eq-outer-step`).

    Parameters
    ----------
    methods : str or sequence of str
        Any of :data:`METHODS` (a single name trains one method).
    B_star : array_like, shape (trials, d, k)
        Ground truth, one per trial.
    B0 : array_like, shape (trials, d, k)
        Starting representation (see :func:`initial_representation`); shared by all methods.
    alpha, beta : float
        Inner and outer step sizes.
    iterations : int
        Number of outer iterations ``T``.
    rng : numpy.random.Generator
    n : int
        Tasks per iteration.
    mu : float or array_like of shape (trials,)
        Task diversity (see :func:`head_scales`); one value per trial lets a single call
        compare several.
    w0 : array_like, shape (trials, k), optional
        Starting head (default 0).
    m_in, m_out : int, optional
        Samples per task for the inner step and the outer loss; both ``None`` means population
        losses.
    sigma : float
        Label-noise standard deviation (finite samples only).
    learn_head : bool
        Meta-learn the head initialization ``w``; if False it stays at ``w0``.
    record_every : int
        Record the diagnostics every this many iterations (and at the last).

    Returns
    -------
    Trajectory

    Warns
    -----
    DivergenceWarning
        When a run blows up (non-finite values, or a norm above ``BLOWUP_FACTOR`` times one
        plus its start, see :mod:`metalib.divergence`); the run is stopped there, its records
        are NaN from then on, and the warning says which step size to lower.
    """
    methods = _check_methods(methods)
    B_star = as_array("B_star", B_star, ndim=3)
    B0 = as_array("B0", B0, ndim=3)
    if B0.shape != B_star.shape:
        raise ValueError(
            f"B0 must have the shape of B_star {B_star.shape}, got {B0.shape}"
        )
    trials, d, k = B_star.shape
    if k > d:
        raise ValueError(f"B_star must have k <= d columns, got k={k} > d={d}")
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    T = check_positive_int("iterations", iterations)
    rng = check_rng("rng", rng)
    n = check_positive_int("n", n)
    record_every = check_positive_int("record_every", record_every)
    if np.ndim(mu):
        mus = as_array("mu", mu, ndim=1)
        if mus.shape != (trials,):
            raise ValueError(
                f"mu must be a number or have one value per trial, shape {(trials,)}; "
                f"got {mus.shape}"
            )
        mus = [float(v) for v in mus]
    else:
        mus = [mu] * trials
    scales = np.stack([head_scales(k, value) for value in mus])  # (trials, k)
    sigma = check_nonnegative_float("sigma", sigma)
    if (m_in is None) != (m_out is None):
        raise ValueError(
            "give both m_in and m_out (finite samples) or neither (population losses)"
        )
    finite = m_in is not None
    if finite:
        m_in, m_out = (
            check_positive_int("m_in", m_in),
            check_positive_int("m_out", m_out),
        )
    if not isinstance(learn_head, (bool, np.bool_)):
        raise TypeError(f"learn_head must be True or False, got {learn_head!r}")
    w0 = np.zeros((trials, k)) if w0 is None else as_array("w0", w0, ndim=2)
    if w0.shape != (trials, k):
        raise ValueError(f"w0 must have shape {(trials, k)}, got {w0.shape}")

    M = len(methods)
    B = np.broadcast_to(B0, (M, trials, d, k)).copy()
    w = np.broadcast_to(w0, (M, trials, k)).copy()
    start = np.linalg.norm(B0, axis=(-2, -1)) + np.linalg.norm(w0, axis=-1)
    guard = BlowupGuard(np.broadcast_to(start, (M, trials)))
    running = guard.running
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    R = len(recorded)
    dist, cond, hnorm = (np.full((M, trials, R), np.nan) for _ in range(3))
    dist[..., 0], cond[..., 0], hnorm[..., 0] = _diagnostics(B, w, B_star, alpha)
    column = 1
    B_starT = transpose(B_star)

    for t in range(1, T + 1):
        heads = _draw_heads(rng, scales, (trials, n))
        if finite:
            inner = _batch(*_draw_task_data(rng, B_star, heads, m_in, sigma))
            outer = _batch(*_draw_task_data(rng, B_star, heads, m_out, sigma))
        else:
            inner = outer = (None, (heads @ B_starT)[..., None], None)
        for j, method in enumerate(methods):
            if not running[j].any():
                continue
            out_j = (
                _merge_batches(inner, outer)
                if (finite and method == "avg_loss")
                else outer
            )
            with np.errstate(over="ignore", invalid="ignore"):
                G_B, G_w = _average(
                    *_task_gradients(
                        method,
                        B[j][:, None],
                        w[j][:, None, :, None],
                        inner,
                        out_j,
                        alpha,
                    )
                )
                B_new = B[j] - beta * G_B
                w_new = w[j] - beta * G_w if learn_head else w[j]
                size = np.sqrt(np.einsum("tdk,tdk->t", B_new, B_new)) + np.sqrt(
                    np.einsum("tk,tk->t", w_new, w_new)
                )
            was = running[j].copy()
            ok = guard.check(t, _stack_row(size, j, M, was))[j]
            if ok.all():  # the usual case: no masking
                B[j], w[j] = B_new, w_new
                continue
            B[j][ok] = B_new[ok]
            w[j][ok] = w_new[ok]
        if t == recorded[column]:
            values = _diagnostics(B, w, B_star, alpha)
            for array, value in zip((dist, cond, hnorm), values):
                array[..., column] = np.where(running, value, np.nan)
            column += 1
        if not running.any():
            break

    _warn_divergence(guard, methods, alpha, beta, B0)
    params = dict(
        alpha=alpha,
        beta=beta,
        iterations=T,
        n=n,
        mu=mu,
        m_in=m_in,
        m_out=m_out,
        sigma=sigma,
        learn_head=learn_head,
        d=d,
        k=k,
        trials=trials,
    )
    return Trajectory(
        methods, np.array(recorded), dist, cond, hnorm, guard.stopped_at, B, w, params
    )


def _stack_row(size, j, M, was):
    """Sizes of all runs for the guard: row ``j`` is checked, the others pass (size 0).

    Runs that had already stopped keep their record: the guard only stops running runs.
    """
    sizes = np.zeros((M, size.shape[0]))
    sizes[j] = np.where(was, size, 0.0)
    return sizes


def _warn_divergence(guard, methods, alpha, beta, B0):
    """Warn once if any run blew up, naming the methods and the step size to lower.

    The inner step on the head is gradient descent on a quadratic with Hessian ``B^T B``
    (population); it overshoots when ``alpha * lambda_max(B^T B) > 2``. If that already held at
    the start, the inner step is to blame; otherwise the inner step was stable and the outer
    dynamics blew up, so ``beta`` is.
    """
    if not guard.any_stopped:
        return
    trials = guard.stopped_at.shape[1]
    what = ", ".join(
        f"{LABELS[m]} ({int(np.sum(guard.stopped_at[j] >= 0))} of {trials} trials)"
        for j, m in enumerate(methods)
        if np.any(guard.stopped_at[j] >= 0)
    )
    inner_gain0 = alpha * np.linalg.eigvalsh(transpose(B0) @ B0)[..., -1].max()
    if inner_gain0 > 2:
        advice = (
            f"lower alpha (={alpha:g}) or rescale B0: the inner step overshoots from the start "
            f"(alpha * ||B0||^2 = {inner_gain0:.3g} > 2)"
        )
    else:
        advice = f"lower beta (the outer step size, now {beta:g})"
    guard.warn(what, advice, stacklevel=4)
