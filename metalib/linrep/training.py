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
from .gradients import _Batch, _kind, _merge, _meta_gradients, _sample_batch
from .model import (
    LABELS,
    METHODS,
    _check_orthonormal,
    _draw_gram_data,
    _draw_heads,
    head_scales,
)

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

    def __post_init__(self):
        self.methods = tuple(
            check_choice("method", m, METHODS) for m in _check_methods(self.methods)
        )
        iterations = np.asarray(self.iterations)
        if iterations.ndim != 1 or not np.issubdtype(iterations.dtype, np.integer):
            raise ValueError(
                f"iterations must be a 1-d array of integers, got {iterations.dtype} "
                f"{iterations.shape}"
            )
        self.iterations = iterations
        M, R = len(self.methods), iterations.shape[0]
        for name in ("dist", "conditioning", "head_norm"):
            value = as_array(name, getattr(self, name), ndim=3, finite=False)
            if value.shape[0] != M or value.shape[2] != R:
                raise ValueError(
                    f"{name} must have shape (methods={M}, trials, iterations={R}), "
                    f"got {value.shape}"
                )
            setattr(self, name, value)
        trials = self.dist.shape[1]
        for name in ("conditioning", "head_norm"):
            if getattr(self, name).shape != self.dist.shape:
                raise ValueError(
                    f"{name} must have the shape of dist {self.dist.shape}, "
                    f"got {getattr(self, name).shape}"
                )
        stopped = np.asarray(self.stopped_at)
        if stopped.shape != (M, trials) or not np.issubdtype(stopped.dtype, np.integer):
            raise ValueError(
                f"stopped_at must be integers of shape (methods, trials) = {(M, trials)}, "
                f"got {stopped.dtype} {stopped.shape}"
            )
        self.stopped_at = stopped
        if not isinstance(self.params, dict):
            raise TypeError(f"params must be a dict, got {type(self.params).__name__}")

    def series(self, method, quantity="dist"):
        """Array of shape (trials, R) of ``quantity`` for ``method``."""
        check_choice("method", method, self.methods)
        check_choice("quantity", quantity, ("dist", "conditioning", "head_norm"))
        return getattr(self, quantity)[self.methods.index(method)]


def _diagnostics(B, w, B_star, alpha):
    """Distance, conditioning and head norm of every run; ``w`` holds the heads as rows."""
    eig = np.linalg.eigvalsh(alpha * transpose(B) @ B)
    conditioning = np.max(np.abs(1 - eig), axis=-1)
    return (
        subspace_distance(B, B_star[None]),
        conditioning,
        np.linalg.norm(w, axis=(-2, -1)),
    )


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
    ``w <- w - beta grad_w`` (eq. `eq-outer-step`). All methods are updated in one vectorized
    pass. Two exact shortcuts keep long runs cheap: with population losses the loop runs in an
    orthonormal basis of ``span(B0, B_star)``, which the iterates never leave; with ``m > d``
    samples per task a batch is drawn through its Gram matrix (``X^T X`` and ``X^T y``, all the
    gradients use, with the law they have for ``x ~ N(0, I_d)``) instead of sample by sample.

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
    _check_orthonormal(B_star)
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
    groups = _groups(methods, alpha, finite)
    # Population losses: every update of B is a combination of B's columns and the tasks'
    # B_star theta_i, so B_t never leaves span(B0, B_star). The loop runs in an orthonormal basis
    # V of that subspace (dimension <= 2k), which is exact, and maps back at the end.
    V = None
    if not finite and 2 * k < d:
        V = np.linalg.qr(np.concatenate([B_star, B0], axis=-1))[0]  # (trials, d, 2k)
        B_star_run, B0_run = transpose(V) @ B_star, transpose(V) @ B0
    else:
        B_star_run, B0_run = B_star, B0
    B_starT = transpose(B_star_run)
    B = np.broadcast_to(B0_run, (M, *B0_run.shape)).copy()
    w = np.broadcast_to(w0[:, None, :], (M, trials, 1, k)).copy()  # heads as rows
    start = np.linalg.norm(B0, axis=(-2, -1)) + np.linalg.norm(w0, axis=-1)
    guard = BlowupGuard(np.broadcast_to(start, (M, trials)))
    running = guard.running
    recorded = sorted(set(range(0, T + 1, record_every)) | {T})
    R = len(recorded)
    dist, cond, hnorm = (np.full((M, trials, R), np.nan) for _ in range(3))
    dist[..., 0], cond[..., 0], hnorm[..., 0] = _diagnostics(B, w, B_star_run, alpha)
    column = 1

    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, T + 1):
            heads = _draw_heads(rng, scales, (trials, n))
            if finite:
                inner = _sample_batch(
                    *_draw_gram_data(rng, B_star, heads, m_in, sigma), m_in
                )
                outer = _sample_batch(
                    *_draw_gram_data(rng, B_star, heads, m_out, sigma), m_out
                )
            else:
                inner = outer = _Batch(None, 1, heads @ B_starT)
            if len(groups) == 1:  # the usual case: every method in one pass
                kind, merged = groups[0][1:]
                G_B, G_w = _meta_gradients(
                    B, w, inner, _merge(inner, outer, False) if merged else outer, kind
                )
            else:
                G_B, G_w = np.empty_like(B), np.empty_like(w)
                for index, kind, merged in groups:
                    G_B[index], G_w[index] = _meta_gradients(
                        B[index],
                        w[index],
                        inner,
                        _merge(inner, outer, False) if merged else outer,
                        kind,
                    )
            B_new = B - beta * G_B
            w_new = w - beta * G_w if learn_head else w
            size = np.sqrt(np.sum(B_new**2, axis=(-2, -1))) + np.sqrt(
                np.sum(w_new**2, axis=(-2, -1))
            )
            ok = guard.check(t, size)
            if ok.all():
                B, w = B_new, w_new
            else:
                B = np.where(ok[..., None, None], B_new, B)
                w = np.where(ok[..., None, None], w_new, w)
            if t == recorded[column]:
                values = _diagnostics(B, w, B_star_run, alpha)
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
    B_final = B if V is None else V[None] @ B
    return Trajectory(
        methods,
        np.array(recorded),
        dist,
        cond,
        hnorm,
        guard.stopped_at,
        B_final,
        w[..., 0, :],
        params,
    )


def _groups(methods, alpha, finite):
    """Methods computed together: ``(index, kind, merged)`` triples.

    All methods share one pass, except that with finite samples the average loss uses both
    batches of a task as one (``merged``) and so takes its own.
    """
    if not finite or "avg_loss" not in methods or len(methods) == 1:
        return [(None, _kind(methods, alpha), finite and methods == ("avg_loss",))]
    meta = [j for j, m in enumerate(methods) if m != "avg_loss"]
    avg = [methods.index("avg_loss")]
    return [
        (np.array(meta), _kind(tuple(methods[j] for j in meta), alpha), False),
        (np.array(avg), _kind(("avg_loss",), alpha), True),
    ]


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
