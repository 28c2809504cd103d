"""Monte Carlo of test-time adaptation: draw tasks and samples, adapt, measure the excess loss.

Chapter ``10_easy_and_hard_tasks`` checks the population closed forms with it; chapter
``11_maml_gain_samples_and_representations`` checks adaptation with ``tau`` samples
(eq. `eq-adaptation-matrix-tau`) and the projected step of a learned representation
(eq. `eq-representation-step`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..linalg import transpose
from ..validation import (
    as_array,
    check_in_range,
    check_nonnegative_float,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_rng,
    check_same,
)
from .model import (
    _check_mixture,
    _check_tau,
    _psd_factor,
    sample_gram_factor,
    sample_tasks,
)

__all__ = ["AdaptationSample", "simulate_adaptation"]


@dataclass(frozen=True)
class AdaptationSample:
    """Per-task excess losses after test-time adaptation (see :func:`simulate_adaptation`).

    Attributes
    ----------
    losses : ndarray, shape (M, n)
        Loss of initialization ``m`` on task ``i``; all initializations meet the same tasks and
        samples.
    cluster : ndarray of int, shape (n,)
    """

    losses: np.ndarray
    cluster: np.ndarray

    def __post_init__(self):
        losses = np.asarray(self.losses)
        if losses.ndim != 2 or losses.shape[1] < 2:
            raise ValueError(
                f"losses must have shape (M, n) with n >= 2, got {losses.shape}"
            )
        if np.shape(self.cluster) != losses.shape[1:]:
            raise ValueError(
                f"cluster must have shape (n,) = {losses.shape[1:]}, got {np.shape(self.cluster)}"
            )

    def _index(self, name, value):
        return check_in_range(name, value, 0, self.losses.shape[0] - 1, integer=True)

    @property
    def n(self):
        """Number of simulated tasks."""
        return self.losses.shape[-1]

    def mean(self):
        """Monte-Carlo estimate of the post-adaptation loss of each initialization, shape (M,)."""
        return self.losses.mean(axis=-1)

    def stderr(self):
        """Standard error of :meth:`mean`, shape (M,)."""
        return self.losses.std(axis=-1, ddof=1) / np.sqrt(self.n)

    def difference(self, a=0, b=1):
        """Mean of ``losses[a] - losses[b]`` and its standard error (paired: common random
        numbers)."""
        a, b = self._index("a", a), self._index("b", b)
        diff = self.losses[a] - self.losses[b]
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(self.n))

    def ratio(self, a=0, b=1):
        """``mean(losses[a]) / mean(losses[b])`` and its delta-method standard error.

        For ``R = mu_a / mu_b``, ``Var(R_hat) ~ Var(l_a - R l_b) / (n mu_b^2)``.
        """
        a, b = self._index("a", a), self._index("b", b)
        mu_a, mu_b = self.losses[a].mean(), self.losses[b].mean()
        r = mu_a / mu_b
        se = np.std(self.losses[a] - r * self.losses[b], ddof=1) / (
            np.sqrt(self.n) * mu_b
        )
        return float(r), float(se)


def simulate_adaptation(
    rng,
    thetas,
    mixture,
    alpha,
    n_tasks,
    N=1,
    tau=None,
    sigma=0.0,
    basis=None,
    chunk=4096,
):
    """Monte Carlo of test-time adaptation, vectorized over tasks: draw tasks, adapt, measure the
    excess loss.

    For each of ``n_tasks`` fresh tasks, every initialization in ``thetas`` takes ``N`` gradient
    steps of size
    ``alpha`` on the task's loss: the population loss (``tau=None``) or the empirical loss of one
    batch of
    ``tau`` labelled samples, reused by all ``N`` steps (eq. `eq-adaptation-matrix-tau` for ``N =
    1``). With a
    ``basis`` ``B`` the step is restricted to its span, ``theta <- theta - alpha B B^T grad``: the
    head of a
    fixed representation is fine-tuned (eq. `eq-representation-step`). The excess population loss
    ``1/2 e^T Sigma e`` after the steps is recorded. Samples are drawn through
    :func:`sample_gram_factor`, so
    the cost per task is ``O(d^2)`` whatever ``tau``.

    Parameters
    ----------
    rng : numpy.random.Generator
    thetas : array_like, shape (M, d) or (d,)
        Initializations, evaluated on the same tasks and samples.
    mixture : TaskMixture
    alpha : float
    n_tasks : int
    N : int
    tau : int or None
    sigma : float
        Label-noise standard deviation.
    basis : array_like, shape (d, k), optional
        Orthonormal columns; restricts adaptation to their span.
    chunk : int
        Tasks per vectorized block (bounds the memory to about ``chunk * d^2`` floats).

    Returns
    -------
    AdaptationSample
        ``losses`` of shape (M, n_tasks) (M = 1 for a single initialization).
    """
    rng = check_rng("rng", rng)
    mixture = _check_mixture(mixture)
    thetas = as_array("thetas", thetas, min_ndim=1)
    thetas = thetas[None] if thetas.ndim == 1 else thetas
    if thetas.ndim != 2:
        raise ValueError(f"thetas must have shape (M, d) or (d,), got {thetas.shape}")
    d = mixture.d
    check_same("d", "thetas", thetas.shape[-1], "mixture", d)
    alpha = check_positive_float("alpha", alpha)
    n_tasks = check_positive_int("n_tasks", n_tasks)
    N = check_nonnegative_int("N", N)
    tau = _check_tau("tau", tau)
    sigma = check_nonnegative_float("sigma", sigma)
    chunk = check_positive_int("chunk", chunk)
    P = None
    if basis is not None:
        basis = as_array("basis", basis, ndim=2)
        check_same("d", "basis", basis.shape[0], "mixture", d)
        k = basis.shape[1]
        if k > d or np.max(np.abs(basis.T @ basis - np.eye(k))) > 1e-10:
            raise ValueError(
                "basis must have orthonormal columns (shape (d, k), k <= d)"
            )
        P = basis @ basis.T
    # isotropic clusters (Sigma_j = s_j I, the book's two-cluster mixture) multiply by scalars
    scale = np.einsum("jdd->j", mixture.Sigma) / d
    isotropic = np.allclose(
        mixture.Sigma, scale[:, None, None] * np.eye(d), rtol=0, atol=1e-14
    )
    root = _psd_factor(mixture.Sigma)  # Sigma^{1/2}, (J, d, d)
    losses, clusters = [], []
    for start in range(0, n_tasks, chunk):
        n = min(chunk, n_tasks - start)
        cluster, theta_star = sample_tasks(rng, mixture, n)
        if isotropic:
            Sig = scale[cluster][:, None, None]  # (n, 1, 1), broadcasts as s_j I
            Rt = np.sqrt(Sig)
        else:
            Sig, Rt = mixture.Sigma[cluster], root[cluster]  # (n, d, d)
        e = thetas[:, None, :] - theta_star  # (M, n, d)
        if np.isfinite(tau):
            S = sample_gram_factor(rng, int(tau), d, (n,))  # (n, d, r)
            RS = Rt * S if isotropic else Rt @ S  # X^T X = RS RS^T, X^T z = RS g
            noise = (
                sigma * (RS @ rng.standard_normal((n, S.shape[-1], 1)))[..., 0] / tau
            )
        e = e[..., None]  # (M, n, d, 1): batched matrix products below
        if np.isfinite(tau):
            RS_T = transpose(RS)
        for _ in range(N):
            if np.isfinite(tau):  # Sigma_hat e - X^T z sigma / tau
                grad = RS @ (RS_T @ e) / tau - noise[..., None]
            else:
                grad = Sig * e if isotropic else Sig @ e
            if P is not None:  # one matrix product for all tasks (P is symmetric)
                grad = (grad[..., 0] @ P)[..., None]
            e = e - alpha * grad
        curv_e = Sig * e if isotropic else Sig @ e
        losses.append(0.5 * np.sum(e * curv_e, axis=(-2, -1)))
        clusters.append(cluster)
    return AdaptationSample(np.concatenate(losses, axis=1), np.concatenate(clusters))
