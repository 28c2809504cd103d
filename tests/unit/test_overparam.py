"""FO-ANIL with a too-wide representation (chapters 05 and 06, yuksel2023).

Three independent referees check every closed form of ``metalib.overparam``:

* exact Gaussian quadrature: a tensor grid of 3-point Gauss-Hermite nodes integrates every
polynomial of
  degree <= 5 in each variable exactly, and every quantity here is a polynomial of degree <= 4 in
  the data
  and <= 2 in the head and the noise; so on small problems the expectation is computed *exactly*;
* Monte Carlo with a tolerance derived from the sample count (a few standard errors per entry);
* ``metalib.numerical_gradient`` of the objective each update claims to follow.
"""

import itertools
import math
import warnings

import numpy as np
import pytest

from metalib import numerical_gradient, relative_error
from metalib import overparam as op
from metalib.divergence import DivergenceWarning
from metalib.linrep import (
    initial_representation,
    sample_heads,
    sample_meta_gradient,
    sample_task_data,
)
from metalib.subspace import random_orthonormal

# Monte-Carlo tolerance: each entry of an average of n i.i.d. terms is within Z standard errors of
# its mean
# except with probability 2 * Phi(-Z) ~ 6e-7 for Z = 5; a union bound over the <= 600 entries
# compared in a test
# keeps the chance of a false alarm below 4e-4 (and the seeds are fixed, so a passing test stays
# passing).
Z = 5.0


def gauss_hermite_grid(dims):
    """Nodes (N, dims) and weights (N,) of the 3-point probabilists' Gauss-Hermite rule, tensorised.

    ``sum_j weights[j] f(nodes[j]) = E f(z)`` for ``z ~ N(0, I_dims)`` whenever ``f`` is a
    polynomial of degree
    at most 5 in each coordinate.
    """
    x1, w1 = (
        np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)]),
        np.array([1 / 6, 2 / 3, 1 / 6]),
    )
    nodes = np.array(list(itertools.product(x1, repeat=dims)))
    weights = np.prod(np.array(list(itertools.product(w1, repeat=dims))), axis=1)
    return nodes, weights


def small_problem(rng, d=3, k=2, kw=3, scale=0.6):
    B_star = random_orthonormal(d, k, rng)
    A = rng.standard_normal((k, k))
    head_cov = A @ A.T + 0.3 * np.eye(k)  # a general, non-diagonal Lambda_*
    B = scale * rng.standard_normal((d, kw))
    w = scale * rng.standard_normal(kw)
    return B_star, head_cov, B, w


def quadrature_tasks(B_star, head_cov, m, sigma):
    """Exact quadrature over (theta, X, noise): heads, X, y of every node, and the weights."""
    d, k = B_star.shape
    nodes, weights = gauss_hermite_grid(k + m * d + m)
    root = np.linalg.cholesky(head_cov)
    heads = nodes[:, :k] @ root.T
    X = nodes[:, k : k + m * d].reshape(-1, m, d)
    noise = nodes[:, k + m * d :]
    y = np.einsum("nmd,nd->nm", X, heads @ B_star.T) + sigma * noise
    return heads, X, y, weights


# ------------------------------------------------------------------------------------------
# The moment identity on its own
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2])
def test_moment_identity_is_exact_by_quadrature(rng, m):
    d = 3
    nodes, weights = gauss_hermite_grid(m * d)
    X = nodes.reshape(-1, m, d)
    S = np.swapaxes(X, -1, -2) @ X / m  # one sample covariance per node
    for A in (
        rng.standard_normal((d, d)),
        np.diag([1.0, 2.0, -0.5]),
    ):  # non-symmetric and symmetric
        exact = np.einsum("n,nij->ij", weights, S @ A @ S)
        np.testing.assert_allclose(op.sample_covariance_moment(A, m), exact, atol=1e-12)
    # the symmetric form quoted in the chapter: (m+1)/m A + tr(A)/m I
    A = rng.standard_normal((d, d))
    A = A + A.T
    np.testing.assert_allclose(
        op.sample_covariance_moment(A, m),
        (m + 1) / m * A + np.trace(A) / m * np.eye(d),
        atol=1e-13,
    )


def test_moment_identity_matches_monte_carlo(rng):
    d, m, draws = 4, 5, 200_000
    A = rng.standard_normal((d, d))
    X = rng.standard_normal((draws, m, d))
    S = np.swapaxes(X, -1, -2) @ X / m
    samples = S @ A @ S
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(draws)
    z = (mean - op.sample_covariance_moment(A, m)) / se
    assert np.abs(z).max() < Z, np.abs(z).max()
    # the referee can fail: forgetting the 1/m corrections is many standard errors off
    assert np.abs((mean - A) / se).max() > 10


def test_moment_identity_infinite_m_and_batches(rng):
    A = rng.standard_normal((2, 4, 4))
    np.testing.assert_array_equal(op.sample_covariance_moment(A, math.inf), A)
    batched = op.sample_covariance_moment(A, 3)
    np.testing.assert_allclose(batched[1], op.sample_covariance_moment(A[1], 3))


# ------------------------------------------------------------------------------------------
# The expected FO-ANIL update
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d, k, kw, m", [(3, 2, 3, 1), (2, 1, 2, 2)])
def test_expected_update_is_exact_by_quadrature(rng, d, k, kw, m):
    B_star, head_cov, B, w = small_problem(rng, d, k, kw)
    alpha, sigma = 0.4, 0.8
    heads, X, y, weights = quadrature_tasks(B_star, head_cov, m, sigma)
    G_B, G_w = op.fo_anil_task_updates(B, w, alpha, X, y, regressors=heads @ B_star.T)
    exact_B = np.einsum("n,nij->ij", weights, G_B)
    exact_w = weights @ G_w
    closed_B, closed_w = op.expected_fo_anil_update(
        B, w, alpha, B_star, head_cov, m, sigma
    )
    np.testing.assert_allclose(closed_B, exact_B, atol=1e-12)
    np.testing.assert_allclose(closed_w, exact_w, atol=1e-12)
    # and it is not the infinite-sample formula, nor the one without the noise term
    assert (
        np.abs(
            op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, math.inf, sigma)[
                0
            ]
            - exact_B
        ).max()
        > 1e-3
    )
    assert (
        np.abs(
            op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m, 0.0)[0]
            - exact_B
        ).max()
        > 1e-3
    )


def test_outer_batch_size_drops_out_exactly(rng):
    """With a finite outer batch (m_out = 1, 2) the exact expectation is still the closed form."""
    d, k, kw, m_in = 2, 1, 2, 1
    B_star, head_cov, B, w = small_problem(rng, d, k, kw)
    alpha, sigma = 0.4, 0.8
    closed_B, closed_w = op.expected_fo_anil_update(
        B, w, alpha, B_star, head_cov, m_in, sigma
    )
    for m_out in (1, 2):
        m = m_in + m_out  # quadrature over the whole batch, then split it
        heads, X, y, weights = quadrature_tasks(B_star, head_cov, m, sigma)
        G_B, G_w = op.fo_anil_task_updates(
            B, w, alpha, X[:, :m_in], y[:, :m_in], X[:, m_in:], y[:, m_in:]
        )
        np.testing.assert_allclose(
            np.einsum("n,nij->ij", weights, G_B), closed_B, atol=1e-12
        )
        np.testing.assert_allclose(weights @ G_w, closed_w, atol=1e-12)


@pytest.mark.parametrize("m_out", [None, 3])
def test_expected_update_matches_monte_carlo(rng, m_out):
    """The closed form agrees with a Monte-Carlo average within Z standard errors per entry."""
    B_star, head_cov, B, w = small_problem(rng, d=6, k=2, kw=4)
    alpha, m_in, sigma = 0.3, 4, 0.7
    mean_B, mean_w, se_B, se_w = op.sampled_fo_anil_update(
        rng, B, w, alpha, B_star, head_cov, m_in, m_out, sigma, n_tasks=200_000
    )
    G_B, G_w = op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma)
    assert np.abs((mean_B - G_B) / se_B).max() < Z
    assert np.abs((mean_w - G_w) / se_w).max() < Z
    # the referee can fail: dropping the sigma^2 term or the finite-m terms is detected
    for wrong in (
        op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, 0.0)[0],
        op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, math.inf, sigma)[0],
    ):
        assert np.abs((mean_B - wrong) / se_B).max() > 3 * Z


def test_projections_along_directions(rng):
    """The projections are the same tasks' <G_B, D_j>: their mean is <mean_B, D_j>, and along
    the difference between the closed form and a wrong formula the wrong one is far off."""
    B_star, head_cov, B, w = small_problem(rng, d=6, k=2, kw=4)
    alpha, m_in, sigma = 0.3, 4, 0.7
    G_B = op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma)[0]
    wrong = op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, 0.0)[0]
    D = np.stack([G_B - wrong, rng.standard_normal(B.shape)])
    state = np.random.default_rng(3)
    args = (B, w, alpha, B_star, head_cov, m_in, 3, sigma, 100_000)
    plain = op.sampled_fo_anil_update(state, *args)
    mean_B, _, _, _, along, se = op.sampled_fo_anil_update(
        np.random.default_rng(3), *args, directions=D
    )
    np.testing.assert_array_equal(mean_B, plain[0])  # the same draws
    np.testing.assert_allclose(along, np.sum(mean_B * D, axis=(1, 2)), rtol=1e-10)
    assert np.all(se > 0)
    z_right = (along - np.sum(G_B * D, axis=(1, 2))) / se
    z_wrong = (along[0] - np.sum(wrong * D[0])) / se[0]
    assert np.abs(z_right).max() < Z and z_wrong > 2 * Z, (z_right, z_wrong)
    with pytest.raises(ValueError, match="directions"):
        op.sampled_fo_anil_update(
            rng, B, w, alpha, B_star, head_cov, m_in, directions=np.ones((2, 3, 3))
        )


def test_sampled_updates_agree_with_linrep(rng):
    """Our per-task FO-ANIL directions agree with Part I's independent implementation."""
    B_star, head_cov, B, w = small_problem(rng, d=7, k=3, kw=5)
    heads = sample_heads(rng, np.ones(3), (40,)) @ np.linalg.cholesky(head_cov).T
    X_in, y_in = sample_task_data(rng, B_star, heads, 4, 0.5)
    X_out, y_out = sample_task_data(rng, B_star, heads, 6, 0.5)
    G_B, G_w = op.fo_anil_task_updates(B, w, 0.2, X_in, y_in, X_out, y_out)
    ref_B, ref_w = sample_meta_gradient("fo_anil", B, w, X_in, y_in, X_out, y_out, 0.2)
    np.testing.assert_allclose(G_B.mean(axis=0), ref_B, atol=1e-13)
    np.testing.assert_allclose(G_w.mean(axis=0), ref_w, atol=1e-13)


@pytest.mark.parametrize("m_in", [3, math.inf])
def test_expected_update_is_gradient_of_frozen_objective(rng, m_in):
    B_star, head_cov, B, w = small_problem(rng, d=6, k=2, kw=4)
    alpha, sigma = 0.3, 0.5
    f = op.frozen_objective(B, w, alpha, B_star, head_cov, m_in, sigma)
    G_B, G_w = op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma)
    assert relative_error(numerical_gradient(lambda Bv: f(Bv, w), B), G_B) < 1e-7
    assert relative_error(numerical_gradient(lambda wv: f(B, wv), w), G_w) < 1e-7
    # at the point itself the frozen objective is the expected ANIL loss
    assert f(B, w) == pytest.approx(
        op.expected_anil_loss(B, w, alpha, B_star, head_cov, m_in, sigma), rel=1e-12
    )


def test_frozen_objective_is_exact_away_from_the_point(rng):
    """f(B_v, w_v) = 1/2 E||B_v (w_v + delta) - B_* theta||^2, by exact quadrature, at a point B_v
    != B."""
    B_star, head_cov, B, w = small_problem(rng, d=2, k=1, kw=2)
    alpha, sigma, m = 0.4, 0.6, 2
    Bv, wv = rng.standard_normal(B.shape), rng.standard_normal(w.shape)
    heads, X, y, weights = quadrature_tasks(B_star, head_cov, m, sigma)
    delta = -alpha * (np.einsum("nmd,nm->nd", X, X @ (B @ w) - y) / m) @ B
    loss = 0.5 * np.sum(((wv + delta) @ Bv.T - heads @ B_star.T) ** 2, axis=1)
    f = op.frozen_objective(B, w, alpha, B_star, head_cov, m, sigma)
    assert f(Bv, wv) == pytest.approx(weights @ loss, rel=1e-12)


def test_expected_anil_loss_is_exact_and_its_gradient_at_w0(rng):
    B_star, head_cov, B, w = small_problem(rng, d=3, k=2, kw=3)
    alpha, sigma, m = 0.35, 0.9, 1
    heads, X, y, weights = quadrature_tasks(B_star, head_cov, m, sigma)
    w1 = w - alpha * (np.einsum("nmd,nm->nd", X, X @ (B @ w) - y) / m) @ B
    exact = weights @ (0.5 * np.sum((w1 @ B.T - heads @ B_star.T) ** 2, axis=1))
    assert op.expected_anil_loss(
        B, w, alpha, B_star, head_cov, m, sigma
    ) == pytest.approx(exact, rel=1e-12)
    # exact ANIL at w = 0 follows -2 alpha Sigma_beta B + alpha^2 (M S + S M) B, FO-ANIL half of the
    # first term
    # and only M S B: not the same direction (eq. eq-op-anil-gradient)
    z = np.zeros(B.shape[1])
    Sigma_beta = B_star @ head_cov @ B_star.T
    S = (m + 1) / m * Sigma_beta + (np.trace(head_cov) + sigma**2) / m * np.eye(
        B.shape[0]
    )
    M = B @ B.T
    grad = numerical_gradient(
        lambda Bv: op.expected_anil_loss(Bv, z, alpha, B_star, head_cov, m, sigma), B
    )
    assert (
        relative_error(
            grad, -2 * alpha * Sigma_beta @ B + alpha**2 * (M @ S + S @ M) @ B
        )
        < 1e-7
    )
    fo = op.expected_fo_anil_update(B, z, alpha, B_star, head_cov, m, sigma)[0]
    assert relative_error(fo, -alpha * Sigma_beta @ B + alpha**2 * M @ S @ B) < 1e-12
    assert relative_error(fo, grad) > 0.05


def test_fixed_point(rng):
    """B = B_* Lambda_lim^{1/2} O (O with orthonormal rows) is a fixed point of FO-ANIL and of exact
    ANIL."""
    d, k, kw = 8, 3, 5
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag([0.5, 1.0, 2.0])
    alpha, m_in, sigma = 0.2, 6, 1.5
    gram = op.fixed_point_gram(alpha, head_cov, m_in, sigma)
    vals, vecs = np.linalg.eigh(gram)
    O = random_orthonormal(kw, k, rng).T  # (k, k'), O O^T = I
    B = B_star @ (vecs * np.sqrt(vals)) @ vecs.T @ O
    z = np.zeros(kw)
    G_B, G_w = op.expected_fo_anil_update(B, z, alpha, B_star, head_cov, m_in, sigma)
    assert np.abs(G_B).max() < 1e-13 and np.abs(G_w).max() == 0
    anil = numerical_gradient(
        lambda Bv: op.expected_anil_loss(Bv, z, alpha, B_star, head_cov, m_in, sigma), B
    )
    assert np.abs(anil).max() < 1e-8
    # a different scale is not a fixed point
    assert (
        np.abs(
            op.expected_fo_anil_update(
                1.1 * B, z, alpha, B_star, head_cov, m_in, sigma
            )[0]
        ).max()
        > 1e-3
    )
    # the explicit formula for Lambda_* = c I
    c = 1.7
    expected = m_in * c / ((m_in + 1 + k) * c + sigma**2) / alpha * np.eye(k)
    np.testing.assert_allclose(
        op.fixed_point_gram(alpha, c * np.eye(k), m_in, sigma), expected, rtol=1e-13
    )
    np.testing.assert_allclose(
        op.fixed_point_gram(alpha, head_cov, math.inf), np.eye(k) / alpha
    )


# ------------------------------------------------------------------------------------------
# One-step adaptation
# ------------------------------------------------------------------------------------------


def test_one_step_risk_is_exact_by_quadrature(rng):
    B_star, head_cov, B, w = small_problem(rng, d=3, k=2, kw=2)
    step, sigma, M = 0.7, 0.8, 1
    heads, X, y, weights = quadrature_tasks(B_star, head_cov, M, sigma)
    w1 = w - step * (np.einsum("nmd,nm->nd", X, X @ (B @ w) - y) / M) @ B
    exact = weights @ np.sum((w1 @ B.T - heads @ B_star.T) ** 2, axis=1)
    assert op.one_step_excess_risk(
        B, step, B_star, head_cov, M, sigma, w=w
    ) == pytest.approx(exact, rel=1e-12)


def test_one_step_risk_matches_monte_carlo(rng):
    B_star, head_cov, B, _ = small_problem(rng, d=10, k=3, kw=6, scale=0.3)
    for tau in (2, 15):
        mean, se = op.sampled_one_step_risk(
            rng, B, 0.5, B_star, head_cov, tau, 0.5, n_tasks=100_000
        )
        closed = op.one_step_excess_risk(B, 0.5, B_star, head_cov, tau, 0.5)
        assert abs(mean - closed) < Z * se, (mean, closed, se)
    # arrays of sample sizes give one risk each
    many = op.one_step_excess_risk(B, 0.5, B_star, head_cov, [2, 15], 0.5)
    assert many.shape == (2,) and many[0] == pytest.approx(
        op.one_step_excess_risk(B, 0.5, B_star, head_cov, 2, 0.5)
    )


def test_best_step_and_optimal_preconditioner(rng):
    d, k = 9, 3
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag([1.0, 2.0, 3.0])
    sigma, M = 1.2, 7
    B = rng.standard_normal((d, 5))
    step = op.best_one_step_size(B, B_star, head_cov, M, sigma)
    risk = lambda s: op.one_step_excess_risk(B, s[0], B_star, head_cov, M, sigma)  # noqa: E731
    assert abs(numerical_gradient(risk, np.array([step]))[0]) < 1e-7
    assert risk([step]) < min(risk([0.9 * step]), risk([1.1 * step]))
    # Gamma* zeroes the gradient of R(B_* Gamma B_*^T) over all (not only symmetric) k x k matrices
    # Gamma
    gamma = op.optimal_head_preconditioner(head_cov, M, sigma)
    Sb = B_star @ head_cov @ B_star.T
    trC = np.trace(head_cov)

    def risk_gamma(G):
        A = B_star @ G @ B_star.T
        return np.trace(Sb @ ((M + 1) / M * A.T @ A - A - A.T + np.eye(d))) + (
            trC + sigma**2
        ) / M * np.sum(A * A)

    assert np.abs(numerical_gradient(risk_gamma, gamma)).max() < 1e-7
    assert op.oracle_one_step_risk(head_cov, M, sigma) == pytest.approx(
        risk_gamma(gamma), rel=1e-12
    )
    # with B = B_* Gamma*^{1/2} and step 1 the one-step risk is the oracle's
    vals, vecs = np.linalg.eigh(gamma)
    B_opt = B_star @ (vecs * np.sqrt(vals)) @ vecs.T
    assert op.one_step_excess_risk(
        B_opt, 1.0, B_star, head_cov, M, sigma
    ) == pytest.approx(op.oracle_one_step_risk(head_cov, M, sigma), rel=1e-12)
    # FO-ANIL's limit is the best one-step preconditioner for tau = m_in
    alpha = 0.3
    np.testing.assert_allclose(
        alpha * op.fixed_point_gram(alpha, head_cov, M, sigma), gamma, rtol=1e-13
    )


# ------------------------------------------------------------------------------------------
# The multi-task learner
# ------------------------------------------------------------------------------------------


def test_multitask_gradients_population_and_sampled(rng):
    d, k, kw, n = 6, 2, 4, 5
    B_star = random_orthonormal(d, k, rng)
    heads = rng.standard_normal((n, k))
    B, W = rng.standard_normal((d, kw)), rng.standard_normal((n, kw))
    X, y = sample_task_data(rng, B_star, heads, 3, 0.4)
    for kwargs in (dict(regressors=heads @ B_star.T), dict(X=X, y=y)):
        G_B, G_W = op.multitask_gradients(B, W, **kwargs)
        assert (
            relative_error(
                numerical_gradient(
                    lambda Bv, kwargs=kwargs: op.multitask_objective(Bv, W, **kwargs), B
                ),
                G_B,
            )
            < 1e-7
        )
        # each head follows the gradient of its own loss: n times the gradient of the average
        num_W = numerical_gradient(
            lambda Wv, kwargs=kwargs: op.multitask_objective(B, Wv, **kwargs), W
        )
        assert relative_error(n * num_W, G_W) < 1e-7


def test_expected_multitask_update_is_a_preconditioned_gradient(rng):
    d, k, kw = 7, 3, 5
    B_star = random_orthonormal(d, k, rng)
    A = rng.standard_normal((k, k))
    head_cov = A @ A.T + np.eye(k)
    B, L = rng.standard_normal((d, kw)), rng.standard_normal((kw, k))
    G_B, G_L = op.expected_multitask_update(B, L, B_star, head_cov)
    f = lambda Bv, Lv: op.expected_multitask_objective(Bv, Lv, B_star, head_cov)  # noqa: E731
    assert relative_error(numerical_gradient(lambda Bv: f(Bv, L), B), G_B) < 1e-7
    assert (
        relative_error(numerical_gradient(lambda Lv: f(B, Lv), L), G_L @ head_cov)
        < 1e-7
    )


def test_per_task_heads_follow_the_head_map(rng):
    """Training one head per task (population losses) is the L-recursion with the empirical head
    moment."""
    d, k, kw, n, alpha, beta, T = 8, 2, 4, 30, 0.5, 0.3, 40
    B_star = random_orthonormal(d, k, rng)
    heads = rng.standard_normal((n, k)) * [1.0, 1.5]
    B = initial_representation(B_star, alpha, rng, k_width=kw)
    W = np.zeros((n, kw))
    B_loop = B.copy()
    for _ in range(T):
        G_B, G_W = op.multitask_gradients(B_loop, W, regressors=heads @ B_star.T)
        B_loop, W = B_loop - beta * G_B, W - alpha * G_W
    traj = op.train_multitask(
        B, alpha, beta, B_star, heads.T @ heads / n, T, record=[T]
    )
    np.testing.assert_allclose(traj.B, B_loop, atol=1e-12)
    np.testing.assert_allclose(heads @ traj.head.T, W, atol=1e-12)


# ------------------------------------------------------------------------------------------
# The recursions
# ------------------------------------------------------------------------------------------


def setup_run(rng, d=12, k=2, kw=4, alpha=0.2):
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag([1.0, 2.0])
    return B_star, head_cov, initial_representation(B_star, alpha, rng, k_width=kw)


def test_recursion_steps_along_the_expected_update(rng):
    B_star, head_cov, B0 = setup_run(rng)
    alpha, beta, m_in, sigma = 0.2, 0.3, 5, 0.5
    w0 = rng.standard_normal(B0.shape[1])
    traj = op.train_expected_fo_anil(
        B0, alpha, beta, B_star, head_cov, m_in, 1, sigma, w0=w0
    )
    G_B, G_w = op.expected_fo_anil_update(B0, w0, alpha, B_star, head_cov, m_in, sigma)
    np.testing.assert_allclose(traj.B, B0 - beta * G_B, atol=1e-14)
    np.testing.assert_allclose(traj.head, w0 - beta * G_w, atol=1e-14)
    # the fast path (w0 = 0) and the general path agree, and w stays exactly 0
    fast = op.train_expected_fo_anil(B0, alpha, beta, B_star, head_cov, m_in, 50, sigma)
    general = op.train_expected_fo_anil(
        B0,
        alpha,
        beta,
        B_star,
        head_cov,
        m_in,
        50,
        sigma,
        w0=np.full(B0.shape[1], 1e-300),
    )
    np.testing.assert_allclose(fast.B, general.B, atol=1e-13)
    assert np.all(fast.head == 0) and np.all(fast.head_norm == 0)
    # leading batch dimensions are independent runs
    both = op.train_expected_fo_anil(
        np.stack([B0, 2 * B0]), alpha, beta, B_star, head_cov, m_in, 50, sigma
    )
    np.testing.assert_allclose(both.B[0], fast.B, atol=1e-14)
    assert both.perp_norm.shape == (2, len(both.iterations))


def test_kernel_is_frozen_without_inner_noise_and_for_multitask(rng):
    """With m_in = inf, and for the multi-task learner, B_t u = B_0 u on ker(B_*^T B_0)."""
    B_star, head_cov, B0 = setup_run(rng, d=12, k=2, kw=5)
    _, _, Vt = np.linalg.svd(B_star.T @ B0)
    K = Vt[2:].T  # (k', k'-k) basis of ker Q_0
    runs = {
        "fo_inf": op.train_expected_fo_anil(
            B0, 0.2, 0.3, B_star, head_cov, math.inf, 400, 0.5
        ),
        "mtl": op.train_multitask(B0, 0.2, 0.3, B_star, head_cov, 400),
        "fo_finite": op.train_expected_fo_anil(
            B0, 0.2, 0.3, B_star, head_cov, 5, 400, 0.5
        ),
    }
    np.testing.assert_allclose(runs["fo_inf"].B @ K, B0 @ K, atol=1e-12)
    np.testing.assert_allclose(runs["mtl"].B @ K, B0 @ K, atol=1e-12)
    assert np.abs(runs["fo_finite"].B @ K - B0 @ K).max() > 0.1


def test_fo_anil_converges_to_the_fixed_point_and_unlearns(rng):
    B_star, head_cov, B0 = setup_run(rng, d=12, k=2, kw=4, alpha=0.2)
    alpha, beta, m_in, sigma, T = 0.2, 0.5, 4, 1.0, 20000
    traj = op.train_expected_fo_anil(B0, alpha, beta, B_star, head_cov, m_in, T, sigma)
    assert traj.gram_error[-1] < 1e-3
    assert traj.top_dist[-1] < 1e-3
    np.testing.assert_allclose(
        traj.singular_values[-1, :2] ** 2,
        np.sort(np.linalg.eigvalsh(op.fixed_point_gram(alpha, head_cov, m_in, sigma)))[
            ::-1
        ],
        rtol=1e-3,
    )
    # the k' - k leftover singular values follow the cubic law x_{t+1} = x_t - alpha^2 beta s x_t^3
    # ~ (2 a^2 b s t)^-1/2
    s = (np.trace(head_cov) + sigma**2) / m_in
    law = (2 * alpha**2 * beta * s * T) ** -0.5
    np.testing.assert_allclose(traj.singular_values[-1, 2:], law, rtol=0.03)
    assert traj.perp_norm[-1] < traj.perp_norm[0] / 10


def test_divergence_is_stopped_and_named(rng):
    B_star, head_cov, B0 = setup_run(rng)
    with pytest.warns(DivergenceWarning, match="lower beta"):
        traj = op.train_expected_fo_anil(B0, 0.2, 50.0, B_star, head_cov, 5, 200, 0.5)
    assert traj.stopped_at >= 0 and np.all(np.isfinite(traj.B))
    assert np.all(np.isnan(traj.perp_norm[traj.iterations > traj.stopped_at]))
    with pytest.warns(DivergenceWarning, match="lower alpha"):
        op.train_expected_fo_anil(B0 * 10, 0.2, 0.1, B_star, head_cov, 5, 200, 0.5)
    with pytest.warns(DivergenceWarning, match="lower alpha"):
        op.train_multitask(B0 * 10, 0.2, 0.1, B_star, head_cov, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        op.train_expected_fo_anil(B0, 0.2, 0.1, B_star, head_cov, 5, 200, 0.5)


def test_split_representation(rng):
    B_star = random_orthonormal(9, 3, rng)
    B = rng.standard_normal((2, 9, 5))
    B_par, B_perp = op.split_representation(B, B_star)
    np.testing.assert_allclose(B_par + B_perp, B, atol=1e-14)
    assert np.abs(B_star.T @ B_perp).max() < 1e-13
    np.testing.assert_allclose(B_par, B_star @ B_star.T @ B, atol=1e-14)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_bad_input_is_named(rng):
    B_star, head_cov, B, w = small_problem(rng, d=5, k=2, kw=3)
    call = op.expected_fo_anil_update
    with pytest.raises(ValueError, match="m_in"):
        call(B, w, 0.1, B_star, head_cov, 0)
    with pytest.raises(ValueError, match="m_in"):
        call(B, w, 0.1, B_star, head_cov, 2.5)
    with pytest.raises(ValueError, match="alpha"):
        call(B, w, -0.1, B_star, head_cov, 3)
    with pytest.raises(ValueError, match="sigma"):
        call(B, w, 0.1, B_star, head_cov, 3, sigma=-1.0)
    with pytest.raises(ValueError, match="head_cov must be symmetric"):
        call(B, w, 0.1, B_star, np.array([[1.0, 0.5], [0.0, 1.0]]), 3)
    with pytest.raises(ValueError, match="positive semi-definite"):
        call(B, w, 0.1, B_star, np.diag([1.0, -1.0]), 3)
    with pytest.raises(ValueError, match="head_cov"):
        call(B, w, 0.1, B_star, np.eye(3), 3)
    with pytest.raises(ValueError, match="w"):
        call(B, np.ones(4), 0.1, B_star, head_cov, 3)
    with pytest.raises(ValueError, match="B_star"):
        call(np.ones((6, 3)), w, 0.1, B_star, head_cov, 3)
    with pytest.raises(ValueError, match="A must be square"):
        op.sample_covariance_moment(np.ones((2, 3)), 2)
    with pytest.raises(ValueError, match="m_out"):
        op.sampled_fo_anil_update(rng, B, w, 0.1, B_star, head_cov, 3, m_out=0)
    with pytest.raises(ValueError, match="m_in"):
        op.sampled_fo_anil_update(rng, B, w, 0.1, B_star, head_cov, math.inf)
    with pytest.raises(TypeError, match="rng"):
        op.sampled_fo_anil_update(0, B, w, 0.1, B_star, head_cov, 3)
    with pytest.raises(ValueError, match="tau"):
        op.one_step_excess_risk(B, 0.1, B_star, head_cov, [3, 0])
    with pytest.raises(ValueError, match="step"):
        op.one_step_excess_risk(B, -0.1, B_star, head_cov, 3)
    with pytest.raises(ValueError, match="regressors"):
        op.fo_anil_task_updates(B, w, 0.1, np.ones((2, 3, 5)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="y_in"):
        op.fo_anil_task_updates(
            B, w, 0.1, np.ones((2, 3, 5)), np.ones((2, 4)), regressors=np.ones((2, 5))
        )
    with pytest.raises(ValueError, match="L must have shape"):
        op.expected_multitask_update(B, np.ones((2, 2)), B_star, head_cov)
    with pytest.raises(ValueError, match="regressors"):
        op.multitask_gradients(B, np.ones((4, 3)))
    with pytest.raises(ValueError, match="iterations"):
        op.train_expected_fo_anil(B, 0.1, 0.1, B_star, head_cov, 3, 0)
    with pytest.raises(ValueError, match="beta"):
        op.train_multitask(B, 0.1, 0.0, B_star, head_cov, 10)
    with pytest.raises(ValueError, match="record"):
        op.train_multitask(B, 0.1, 0.1, B_star, head_cov, 10, record=[20])
    with pytest.raises(ValueError, match="w0"):
        op.train_expected_fo_anil(
            B, 0.1, 0.1, B_star, head_cov, 3, 5, w0=np.ones((2, 3))
        )


# ------------------------------------------------------------------------------------------
# The helpers behind the chapters' figures and panels
# ------------------------------------------------------------------------------------------


def test_width_penalty_representation_obeys_the_lemma(rng):
    """Lemma lem-op-width-penalty: the leftover columns add (tr Lambda + sigma^2) extra rho^4 / M,
    exactly."""
    B_star = random_orthonormal(12, 3, rng)
    head_cov = np.diag([1.0, 2.0, 3.0])
    alpha, m_in, sigma, extra, rho = 0.2, 8, 1.5, 4, 0.7
    narrow = op.width_penalty_representation(
        B_star, head_cov, m_in, alpha, 0, 0.0, sigma
    )
    wide = op.width_penalty_representation(
        B_star, head_cov, m_in, alpha, extra, rho, sigma
    )
    _, B_perp = op.split_representation(wide, B_star)
    np.testing.assert_allclose(
        alpha * B_perp.T @ B_perp, np.diag([0.0] * 3 + [rho**2] * extra), atol=1e-13
    )
    np.testing.assert_allclose(
        alpha * B_star.T @ narrow @ narrow.T @ B_star,
        op.optimal_head_preconditioner(head_cov, m_in, sigma),
        atol=1e-13,
    )
    M = np.array([2, 8, 50])
    penalty = op.one_step_excess_risk(
        wide, alpha, B_star, head_cov, M, sigma
    ) - op.one_step_excess_risk(narrow, alpha, B_star, head_cov, M, sigma)
    np.testing.assert_allclose(
        penalty, (np.trace(head_cov) + sigma**2) * extra * rho**4 / M, rtol=1e-10
    )
    with pytest.raises(ValueError, match="extra"):
        op.width_penalty_representation(B_star, head_cov, m_in, alpha, 10, 1.0)


def test_panels_draw_at_their_extremes():
    """The panel callbacks work at the corners of their sliders (k' = k, k' = d, m_in = inf, no
    noise)."""
    from metalib import viz

    rng = np.random.default_rng(1)
    B_star = random_orthonormal(12, 2, rng)
    head_cov = np.diag([1.0, 2.0])
    for k_width, m_in in ((2, 5), (12, math.inf)):
        fig, fo, mtl = viz.overparam.plot_unlearning(
            B_star, head_cov, 1.0, k_width, m_in, 0.1, 0.1, 300, seed=3
        )
        assert len(fig.axes) == 2 and fo.stopped_at == -1 and mtl.stopped_at == -1
    with pytest.raises(ValueError, match="k_width"):
        viz.overparam.plot_unlearning(B_star, head_cov, 1.0, 1)
    fig = viz.overparam.plot_width_penalty(
        B_star, head_cov, 0.1, 5, extra=0, rho=0.0, sigma=0.0
    )
    assert len(fig.axes) == 1


def test_alpha_and_beta_enter_only_through_their_product():
    """From alpha B0^T B0 = I, sqrt(alpha) B_t depends on (alpha, beta) only through alpha * beta
    (both learners)."""
    rng = np.random.default_rng(2)
    B_star = random_orthonormal(10, 2, rng)
    head_cov = np.diag([1.0, 2.0])
    Q0 = random_orthonormal(10, 4, rng)
    runs = []
    for alpha, beta in ((0.2, 0.1), (0.1, 0.2)):
        B0 = Q0 / np.sqrt(alpha)
        fo = op.train_expected_fo_anil(B0, alpha, beta, B_star, head_cov, 5, 300, 0.5)
        mtl = op.train_multitask(B0, alpha, beta, B_star, head_cov, 300)
        runs.append((np.sqrt(alpha) * fo.B, np.sqrt(alpha) * mtl.B))
    np.testing.assert_allclose(runs[0][0], runs[1][0], atol=1e-12)
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-12)
