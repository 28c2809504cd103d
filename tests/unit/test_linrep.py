"""metalib.linrep: every meta-gradient against finite differences of the objective it follows,
the data model, the training loop and its divergence guard, and bad input."""

import warnings

import numpy as np
import pytest

from metalib import (
    linrep,
    numerical_gradient,
    random_orthonormal,
    relative_error,
    subspace_distance,
)
from metalib.linrep.model import _draw_gram_data

EXACT = ("exact_anil", "exact_maml", "avg_loss")
FIRST_ORDER = ("fo_anil", "fo_maml")
TOL = 1e-6


@pytest.fixture
def problem(rng):
    """Random, non-special point: B not orthonormal or scaled, w nonzero, heads of mixed sizes."""
    d, k, n = 7, 3, 4
    return dict(
        B=rng.standard_normal((d, k)) * 0.6,
        w=rng.standard_normal(k) * 0.5,
        B_star=random_orthonormal(d, k, rng),
        heads=rng.standard_normal((n, k)),
        alpha=0.3,
    )


@pytest.fixture
def batches(rng, problem):
    n, d = problem["heads"].shape[0], problem["B"].shape[0]
    return dict(
        X_in=rng.standard_normal((n, 5, d)),
        y_in=rng.standard_normal((n, 5)),
        X_out=rng.standard_normal((n, 6, d)),
        y_out=rng.standard_normal((n, 6)),
    )


def fd_gradients(loss, B, w):
    return numerical_gradient(lambda Bv: loss(Bv, w), B), numerical_gradient(
        lambda wv: loss(B, wv), w
    )


@pytest.mark.parametrize("method", EXACT)
def test_population_gradient_matches_finite_differences(method, problem):
    p = problem
    grad_B, grad_w = linrep.population_meta_gradient(method, **p)
    loss = lambda B, w: linrep.population_meta_loss(
        method, B, w, p["B_star"], p["heads"], p["alpha"]
    )
    fd_B, fd_w = fd_gradients(loss, p["B"], p["w"])
    assert relative_error(grad_B, fd_B) < TOL
    assert relative_error(grad_w, fd_w) < TOL


@pytest.mark.parametrize("method", EXACT)
def test_sample_gradient_matches_finite_differences(method, problem, batches):
    p = problem
    grad_B, grad_w = linrep.sample_meta_gradient(
        method, p["B"], p["w"], **batches, alpha=p["alpha"]
    )
    loss = lambda B, w: linrep.sample_meta_loss(
        method, B, w, **batches, alpha=p["alpha"]
    )
    fd_B, fd_w = fd_gradients(loss, p["B"], p["w"])
    assert relative_error(grad_B, fd_B) < TOL
    assert relative_error(grad_w, fd_w) < TOL


@pytest.mark.parametrize("method", FIRST_ORDER)
def test_first_order_direction_is_gradient_with_adaptation_frozen(method, problem):
    p = problem
    grad_B, grad_w = linrep.population_meta_gradient(method, **p)
    fd_B, fd_w = fd_gradients(linrep.first_order_reference(method, **p), p["B"], p["w"])
    assert relative_error(grad_B, fd_B) < TOL
    assert relative_error(grad_w, fd_w) < TOL


@pytest.mark.parametrize("method", FIRST_ORDER)
def test_first_order_differs_from_exact(method, problem):
    """A sanity check that the FD tests above are not comparing a method with itself."""
    exact = method.replace("fo_", "exact_")
    fo_B, _ = linrep.population_meta_gradient(method, **problem)
    ex_B, _ = linrep.population_meta_gradient(exact, **problem)
    assert relative_error(fo_B, ex_B) > 1e-3


def test_population_is_the_limit_of_large_samples(rng, problem):
    """With many noiseless samples per task, the sample gradient approaches the population one."""
    p = problem
    X_in, y_in = linrep.sample_task_data(rng, p["B_star"], p["heads"], 40000)
    X_out, y_out = linrep.sample_task_data(rng, p["B_star"], p["heads"], 40000)
    for method in linrep.METHODS:
        pop = linrep.population_meta_gradient(method, **p)[0]
        smp = linrep.sample_meta_gradient(
            method, p["B"], p["w"], X_in, y_in, X_out, y_out, p["alpha"]
        )[0]
        assert relative_error(smp, pop) < 0.05, method


def test_batched_gradient_equals_stacked_single(rng, problem):
    p = problem
    B = np.stack([p["B"], 2 * p["B"]])
    w = np.stack([p["w"], -p["w"]])
    for method in linrep.METHODS:
        gB, gw = linrep.population_meta_gradient(
            method, B, w, p["B_star"], p["heads"], p["alpha"]
        )
        for i in range(2):
            gB1, gw1 = linrep.population_meta_gradient(
                method, B[i], w[i], p["B_star"], p["heads"], p["alpha"]
            )
            np.testing.assert_allclose(gB[i], gB1, atol=1e-13)
            np.testing.assert_allclose(gw[i], gw1, atol=1e-13)


def test_anil_and_maml_agree_at_zero_head(problem):
    """With w = 0 the inner step does not move B: MAML's B-gradient equals ANIL's (chapter 03)."""
    p = dict(problem, w=np.zeros(3))
    for fo in (True, False):
        a = linrep.population_meta_gradient("fo_anil" if fo else "exact_anil", **p)[0]
        m = linrep.population_meta_gradient("fo_maml" if fo else "exact_maml", **p)[0]
        np.testing.assert_allclose(a, m, atol=1e-14)


def test_anil_mechanism_at_zero_head(rng):
    """At w = 0, alpha B^T B = I: -G_FO = alpha (I - P_B) B_* Lambda B_*^T B (eq-anil-push)."""
    d, k, n, alpha = 9, 3, 6, 0.25
    B_star = random_orthonormal(d, k, rng)
    B = random_orthonormal(d, k, rng) / np.sqrt(alpha)
    heads = rng.standard_normal((n, k))
    grad_B, _ = linrep.population_meta_gradient(
        "fo_anil", B, np.zeros(k), B_star, heads, alpha
    )
    Lam = heads.T @ heads / n
    P_B = alpha * B @ B.T
    np.testing.assert_allclose(
        -grad_B, alpha * (np.eye(d) - P_B) @ B_star @ Lam @ B_star.T @ B, atol=1e-12
    )


# --- data model -------------------------------------------------------------------------------


def test_heads_have_the_prescribed_covariance(rng):
    scales = linrep.head_scales(3, mu=0.3)
    np.testing.assert_array_equal(scales, [1, 1, 0.3])
    heads = linrep.sample_heads(rng, scales, (200000,))
    # the standard error of a sample variance of N(0, s^2) is s^2 sqrt(2/N) ~ 0.003 here
    np.testing.assert_allclose(np.cov(heads.T), np.diag(scales**2), atol=0.015)


def test_task_data_follow_the_model(rng):
    B_star = random_orthonormal(6, 2, rng)
    heads = rng.standard_normal((3, 2))
    X, y = linrep.sample_task_data(rng, B_star, heads, 50)
    assert X.shape == (3, 50, 6) and y.shape == (3, 50)
    np.testing.assert_allclose(
        y, np.einsum("nmd,dk,nk->nm", X, B_star, heads), atol=1e-12
    )
    _, y_noisy = linrep.sample_task_data(rng, B_star, heads, 50, sigma=0.5)
    assert not np.allclose(y_noisy, np.einsum("nmd,dk,nk->nm", X, B_star, heads))


@pytest.mark.parametrize("dist0", [0.0, 0.3, 0.9, 1.0])
def test_initial_representation_at_prescribed_distance(rng, dist0):
    B_star = random_orthonormal(12, 3, rng, size=4)
    B0 = linrep.initial_representation(B_star, 0.2, rng, dist0=dist0)
    np.testing.assert_allclose(subspace_distance(B0, B_star), dist0, atol=1e-12)
    np.testing.assert_allclose(
        0.2 * np.swapaxes(B0, -1, -2) @ B0,
        np.broadcast_to(np.eye(3), (4, 3, 3)),
        atol=1e-12,
    )


# --- training ---------------------------------------------------------------------------------


def small_run(rng, methods=linrep.METHODS, **kw):
    trials, d, k = 3, 12, 2
    B_star = random_orthonormal(d, k, rng, size=trials)
    alpha = kw.pop("alpha", 0.2)
    B0 = kw.pop("B0", None)
    if B0 is None:
        B0 = linrep.initial_representation(B_star, alpha, rng, dist0=0.8)
    args = dict(alpha=alpha, beta=0.2, iterations=600, n=4)
    args.update(kw)
    return linrep.train(methods, B_star, B0, rng=rng, **args)


def test_meta_learning_recovers_the_subspace_and_average_loss_does_not(rng):
    traj = small_run(rng)
    assert traj.dist.shape == (5, 3, 601)
    for method in linrep.META_METHODS:
        assert np.all(traj.series(method)[:, -1] < 1e-3), method
    assert np.all(traj.series("avg_loss")[:, -1] > 0.5)
    assert np.all(traj.stopped_at == -1)


def test_training_is_deterministic_given_the_seed():
    a = small_run(np.random.default_rng(5), iterations=50)
    b = small_run(np.random.default_rng(5), iterations=50)
    np.testing.assert_array_equal(a.dist, b.dist)
    np.testing.assert_array_equal(a.B, b.B)


def test_methods_see_the_same_tasks(rng):
    """One method alone or among others gives the same trajectory: tasks are shared."""
    alone = small_run(np.random.default_rng(9), methods=("fo_anil",), iterations=40)
    together = small_run(
        np.random.default_rng(9), methods=("exact_maml", "fo_anil"), iterations=40
    )
    np.testing.assert_allclose(
        alone.series("fo_anil"), together.series("fo_anil"), atol=1e-14
    )


def test_frozen_head_stays_put(rng):
    traj = small_run(rng, methods=("exact_maml",), iterations=30, learn_head=False)
    assert np.all(traj.head_norm == 0)


def test_finite_samples_run_and_record_every(rng):
    traj = small_run(
        rng,
        methods=("fo_anil", "avg_loss"),
        iterations=100,
        m_in=10,
        m_out=10,
        sigma=0.1,
        record_every=25,
    )
    np.testing.assert_array_equal(traj.iterations, [0, 25, 50, 75, 100])
    assert np.all(np.isfinite(traj.dist))


@pytest.mark.parametrize(
    "methods", [linrep.METHODS, ("fo_anil", "exact_maml"), ("avg_loss",)]
)
@pytest.mark.parametrize("samples", [None, 4])
def test_one_training_step_is_the_public_gradient_step(samples, methods):
    """train's first update equals B0 - beta * (public meta-gradient) on the same tasks, for every
    method at once: the stacked pass, the population loop in span(B0, B_star) and the merged
    batches of the average loss change nothing."""
    trials, d, k, n, alpha, beta = 2, 12, 2, 3, 0.2, 0.3
    setup = np.random.default_rng(1)
    B_star = random_orthonormal(d, k, setup, size=trials)
    B0 = linrep.initial_representation(B_star, alpha, setup, dist0=0.7)
    w0 = 0.3 * setup.standard_normal((trials, k))
    finite = {} if samples is None else dict(m_in=samples, m_out=samples + 1)
    traj = linrep.train(
        methods,
        B_star,
        B0,
        alpha,
        beta,
        1,
        np.random.default_rng(2),
        n=n,
        w0=w0,
        **finite,
    )
    rng = np.random.default_rng(2)
    heads = linrep.sample_heads(rng, np.ones(k), (trials, n))
    if samples is not None:
        X_in, y_in = linrep.sample_task_data(rng, B_star, heads, samples)
        X_out, y_out = linrep.sample_task_data(rng, B_star, heads, samples + 1)
    for j, method in enumerate(methods):
        if samples is None:
            G_B, G_w = linrep.population_meta_gradient(
                method, B0, w0, B_star, heads, alpha
            )
        else:
            G_B, G_w = linrep.sample_meta_gradient(
                method, B0, w0, X_in, y_in, X_out, y_out, alpha
            )
        np.testing.assert_allclose(
            traj.B[j], B0 - beta * G_B, atol=1e-12, err_msg=method
        )
        np.testing.assert_allclose(
            traj.w[j], w0 - beta * G_w, atol=1e-12, err_msg=method
        )


def test_large_batches_are_drawn_through_their_gram_matrix(rng):
    """With m > d, training draws (F^T F, F^T y) instead of (X^T X, X^T y): same law.

    Mean and covariance of the entries of X^T X / m and of X^T y / m, over many draws, against
    the same statistics of samples drawn row by row with ``sample_task_data``.
    """
    d, k, m, draws, sigma = 3, 2, 7, 100000, 0.5
    B_star = random_orthonormal(d, k, rng)
    heads = np.broadcast_to(np.array([1.0, -0.5]), (draws, k))
    F, y = _draw_gram_data(rng, B_star, heads, m, sigma)
    assert F.shape == (draws, d, d), "m > d: d rows, not m"
    X, y_x = linrep.sample_task_data(rng, B_star, heads, m, sigma)
    stats = []
    for A, b in ((F, y), (X, y_x)):
        gram = (np.swapaxes(A, -1, -2) @ A / m).reshape(draws, -1)
        g = (np.swapaxes(A, -1, -2) @ b[..., None])[..., 0] / m
        both = np.concatenate([gram, g], axis=1)
        stats.append((both.mean(axis=0), np.cov(both.T)))
    np.testing.assert_allclose(stats[0][0], stats[1][0], atol=0.02)
    np.testing.assert_allclose(stats[0][1], stats[1][1], atol=0.03)


def test_divergence_is_stopped_and_blames_beta(rng):
    with pytest.warns(linrep.DivergenceWarning, match="lower beta"):
        traj = small_run(rng, methods=("fo_anil",), beta=50.0, iterations=200)
    stops = traj.stopped_at[0]
    assert np.all(stops > 0)
    for trial, stop in enumerate(stops):
        col = np.searchsorted(traj.iterations, stop)
        assert np.all(np.isfinite(traj.dist[0, trial, :col]))
        assert np.all(np.isnan(traj.dist[0, trial, col:]))
    assert np.all(np.isfinite(traj.B)), (
        "the stored final iterate must be the last finite one"
    )


def test_divergence_from_a_badly_scaled_start_blames_alpha(rng):
    B_star = random_orthonormal(12, 2, rng, size=3)
    B0 = (
        linrep.initial_representation(B_star, 0.2, rng, dist0=0.8) * 4.0
    )  # alpha ||B0||^2 = 16
    with pytest.warns(linrep.DivergenceWarning, match="lower alpha"):
        linrep.train(("exact_anil",), B_star, B0, 0.2, 0.2, 200, rng, n=4)


def test_no_warning_when_nothing_diverges(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_run(rng, methods=("exact_anil",), iterations=20)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(method="reptile"), "unknown method 'reptile'"),
        (dict(B=np.ones((7, 2))), "disagree on k"),
        (dict(w=np.ones(4)), "disagree on k"),
        (dict(B_star=np.ones((6, 3))), "disagree on d"),
        (dict(heads=np.ones((4, 2))), "heads"),
        (dict(alpha=0.0), "alpha must be a positive"),
        (dict(alpha=-1.0), "alpha must be a positive"),
        (
            dict(
                B=np.ones((2, 3)),
                w=np.ones(3),
                B_star=np.ones((2, 3)),
                heads=np.ones((4, 3)),
            ),
            "more columns",
        ),
        (dict(B=np.full((7, 3), np.nan)), "B contains NaN"),
    ],
)
def test_population_gradient_rejects_bad_input(problem, change, message):
    args = dict(method="exact_anil", **problem)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        linrep.population_meta_gradient(**args)


def test_sample_gradient_rejects_mismatched_batches(problem, batches):
    p = problem
    bad = dict(batches, y_in=batches["y_in"][:, :3])
    with pytest.raises(ValueError, match="y_in must have shape"):
        linrep.sample_meta_gradient("fo_anil", p["B"], p["w"], **bad, alpha=0.1)
    bad = dict(batches, X_out=batches["X_out"][:2], y_out=batches["y_out"][:2])
    with pytest.raises(ValueError, match="number of tasks"):
        linrep.sample_meta_gradient("fo_anil", p["B"], p["w"], **bad, alpha=0.1)
    bad = dict(batches, X_in=batches["X_in"][..., :5])
    with pytest.raises(ValueError, match="X_in"):
        linrep.sample_meta_gradient("fo_anil", p["B"], p["w"], **bad, alpha=0.1)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(n=0), "n must be a positive integer"),
        (dict(iterations=-5), "iterations must be a positive integer"),
        (dict(beta=0.0), "beta must be a positive"),
        (dict(m_in=10), "give both m_in and m_out"),
        (dict(m_in=0, m_out=5), "m_in must be a positive integer"),
        (dict(mu=-0.5), "mu must be a positive"),
        (dict(methods=("fo_anil", "maml++")), "unknown method"),
        (dict(methods=()), "at least one method"),
    ],
)
def test_train_rejects_bad_input(rng, change, message):
    with pytest.raises(ValueError, match=message):
        small_run(rng, **change)


def test_train_rejects_mismatched_start(rng):
    with pytest.raises(ValueError, match="B0 must have the shape"):
        small_run(rng, B0=np.ones((3, 12, 3)))


def test_initial_representation_rejects_bad_distance(rng):
    B_star = random_orthonormal(8, 2, rng)
    with pytest.raises(ValueError, match="dist0"):
        linrep.initial_representation(B_star, 0.1, rng, dist0=1.5)
    with pytest.raises(ValueError, match="alpha"):
        linrep.initial_representation(B_star, -0.1, rng)
