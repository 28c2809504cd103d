"""ERM versus MAML on tasks of mixed hardness (chapters 10 and 11, collins2020).

Monte-Carlo tolerances. A Monte-Carlo mean of n i.i.d. draws has standard error s / sqrt(n), with s
the
sample standard deviation; we accept a deviation of Z = 4.5 standard errors from the closed form.
Under the
central limit theorem a correct formula fails one such comparison with probability about 7e-6,
while a wrong
variance term (the quantities we check) moves the mean by many standard errors at the sample sizes
used. The
seeds are fixed, so the tests are deterministic.
"""

import warnings

import numpy as np
import pytest

from metalib import erm_vs_maml as em
from metalib import numerical_gradient, relative_error

Z = 4.5


def random_mixture(rng, J=4, d=5, spread=True):
    """A general mixture: random covariances (alpha * lambda_max <= 0.9 for alpha = 1), centers and
    spreads."""
    Q = rng.standard_normal((J, d, d))
    Sigma = np.einsum("jab,jcb->jac", Q, Q) / d + 0.05 * np.eye(d)
    Sigma *= 0.9 / np.linalg.eigvalsh(Sigma)[:, -1][:, None, None]
    C = rng.standard_normal((J, d, d))
    C = 0.3 * np.einsum("jab,jcb->jac", C, C) / d if spread else None
    w = rng.uniform(0.5, 1.5, J)
    return em.task_mixture(Sigma, 2 * rng.standard_normal((J, d)), w / w.sum(), C)


SETTING = dict(
    rho_H=0.1, rho_E=0.9, p_H=0.5, alpha=1.0
)  # the book's worked setting, R_E = 1


# -------------------------------------------------------------------------------------------------
# Objectives, gradients and closed forms
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [0, 1, 2, 3])
def test_meta_gradient_matches_finite_differences(rng, N):
    mix = random_mixture(rng)
    for _ in range(3):
        theta = rng.standard_normal(mix.d)
        g = em.meta_gradient("maml", theta, mix, 1.0, N)
        g_fd = numerical_gradient(
            lambda t: em.meta_objective("maml", t, mix, 1.0, N), theta
        )
        assert relative_error(g, g_fd) < 1e-7


@pytest.mark.parametrize("N", [0, 1, 2, 4])
def test_inner_loop_objective_equals_closed_form(rng, N):
    """Running the inner loop (meta_objective) and the matrix A of eq-adaptation-matrix give the
    same loss."""
    mix = random_mixture(rng)
    theta = rng.standard_normal((7, mix.d))
    np.testing.assert_allclose(
        em.meta_objective("maml", theta, mix, 0.8, N),
        em.post_adaptation_loss(theta, mix, 0.8, N),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        em.meta_objective("erm", theta, mix), em.erm_objective(theta, mix), rtol=1e-12
    )


@pytest.mark.parametrize(
    "method, N", [("erm", 0), ("maml", 1), ("maml", 2), ("maml", 3)]
)
def test_closed_forms_match_gradient_descent(rng, method, N):
    mix = random_mixture(rng, J=5, d=6)
    H = em.meta_hessian(method, mix, 1.0, N)
    eig = np.linalg.eigvalsh(H)
    assert eig[-1] / eig[0] > 2, "the test needs a non-trivial condition number"
    result = em.fit_gradient_descent(
        method, mix, beta=1 / eig[-1], alpha=1.0, N=N, tol=1e-13
    )
    closed = em.theta_erm(mix) if method == "erm" else em.theta_maml(mix, 1.0, N)
    assert result.converged and result.iterations > 10
    assert np.max(np.abs(result.theta - closed)) < 1e-8


def test_erm_is_maml_with_zero_inner_steps(rng):
    mix = random_mixture(rng)
    np.testing.assert_allclose(
        em.theta_maml(mix, 0.7, N=0), em.theta_erm(mix), atol=1e-12
    )
    assert relative_error(em.theta_maml(mix, 0.7, N=1), em.theta_erm(mix)) > 1e-3


@pytest.mark.parametrize("N, tau", [(1, None), (3, None), (1, 7), (1, 200)])
def test_gain_is_the_quadratic_form(rng, N, tau):
    mix = random_mixture(rng)
    comp = em.compare_erm_maml(mix, 1.0, N, tau, sigma=0.3)
    assert comp.difference > 0
    assert em.gain_quadratic_form(mix, 1.0, N, tau) == pytest.approx(
        comp.difference, rel=1e-10
    )
    # theta_MAML minimizes the post-adaptation loss: any perturbation increases it
    theta = comp.theta_maml + 1e-3 * rng.standard_normal((20, mix.d))
    assert np.all(
        em.post_adaptation_loss(theta, mix, 1.0, N, tau, 0.3) > comp.loss_maml
    )


def test_isotropic_weight_is_the_adaptation_matrix(rng):
    for rho, alpha, d, N, tau in [
        (0.3, 1.0, 4, 1, None),
        (0.9, 0.5, 3, 3, None),
        (0.4, 1.2, 5, 1, 6),
        (1.5, 1.0, 2, 1, 40),
        (0.2, 1.0, 3, 0, 10),
    ]:
        A = em.adaptation_matrix(rho * np.eye(d), alpha, N, tau)
        np.testing.assert_allclose(
            A, em.isotropic_weight(rho, alpha, d, N, tau) * np.eye(d), atol=1e-14
        )
        floor = em.noise_floor(rho * np.eye(d), alpha, 0.7, N, tau)
        assert floor == pytest.approx(
            float(em.isotropic_noise_floor(rho, alpha, d, 0.7, N, tau)), abs=1e-15
        )


@pytest.mark.parametrize(
    "N, tau, tau_train, sigma",
    [
        (1, None, "test", 0.0),
        (2, None, "test", 0.0),
        (1, 9, "test", 0.4),
        (1, 9, None, 0.4),
        (1, None, 5, 0.0),
    ],
)
def test_two_cluster_matches_general_closed_form(rng, N, tau, tau_train, sigma):
    d = 6
    for _ in range(5):
        rho_H, rho_E = np.sort(rng.uniform(0.05, 1.0, 2))
        p_H, R_H, R_E, D, alpha = (
            rng.uniform(0.1, 0.9),
            rng.uniform(0, 2),
            rng.uniform(0, 2),
            rng.uniform(0, 4),
            rng.uniform(0.5, 1.0),
        )
        mix = em.two_cluster_mixture(d, rho_H, rho_E, p_H, R_H, R_E, D)
        comp = em.compare_erm_maml(mix, alpha, N, tau, tau_train, sigma)
        res = em.two_cluster(
            R_H,
            D,
            rho_H=rho_H,
            rho_E=rho_E,
            p_H=p_H,
            alpha=alpha,
            d=d,
            N=N,
            tau=tau,
            tau_train=tau_train,
            R_E=R_E,
            sigma=sigma,
        )
        assert float(res.loss_erm) == pytest.approx(comp.loss_erm, rel=1e-10)
        assert float(res.loss_maml) == pytest.approx(comp.loss_maml, rel=1e-10)
        c_H = mix.centers[0]
        np.testing.assert_allclose(
            comp.theta_maml, float(res.omega_maml) * c_H, atol=1e-10
        )


@pytest.mark.parametrize(
    "R_H, D, N",
    [(0.1, 5.0, 1), (1.0, 5.0, 1), (0.1, 1.0, 1), (0.1, 5.0, 2), (2.0, 0.5, 3)],
)
def test_two_cluster_numbers_by_direct_minimization(R_H, D, N):
    """The scalar formulas of eqs. eq-two-cluster-omega/-loss against an independent route: minimize
    the objective computed by running the inner loop (meta_objective, back-propagated meta_gradient)
    by gradient descent, on the d = 10 mixture, and evaluate the loss there. No closed form is used
    on that route."""
    d = 10
    mix = em.two_cluster_mixture(d, 0.1, 0.9, 0.5, R_H, 1.0, D)
    res = em.two_cluster(R_H, D, d=d, N=N, R_E=1.0, **SETTING)
    c_H = mix.centers[0]
    for method, omega, loss in (
        ("erm", res.omega_erm, res.loss_erm),
        ("maml", res.omega_maml, res.loss_maml),
    ):
        fit = em.fit_gradient_descent(method, mix, beta=1.0, alpha=1.0, N=N, tol=1e-14)
        assert fit.converged
        np.testing.assert_allclose(fit.theta, float(omega) * c_H, atol=1e-9)
        direct = em.meta_objective("maml", fit.theta, mix, 1.0, N)
        np.testing.assert_allclose(direct, float(loss), rtol=1e-9)


def test_two_cluster_worked_setting_by_monte_carlo():
    """Row R_H = 0.1, D = 5 of the worked setting: the closed-form losses of both minimizers against
    one actual adaptation step on 40 000 sampled tasks (4.5 standard errors)."""
    rng = np.random.default_rng(7)
    mix = em.two_cluster_mixture(10, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0)
    res = em.two_cluster(0.1, 5.0, d=10, R_E=1.0, **SETTING)
    c_H = mix.centers[0]
    thetas = [float(res.omega_erm) * c_H, float(res.omega_maml) * c_H]
    sim = em.simulate_adaptation(rng, thetas, mix, 1.0, 40_000)
    exact = np.array([float(res.loss_erm), float(res.loss_maml)])
    assert np.all(np.abs(sim.mean() - exact) < Z * sim.stderr())


def test_no_gain_without_hardness_gap_or_distance(rng):
    R_H, D = rng.uniform(0.01, 3, 50), rng.uniform(0, 5, 50)
    same = em.two_cluster(R_H, D, rho_H=0.4, rho_E=0.4, p_H=0.3, alpha=1.0, d=5, N=2)
    np.testing.assert_allclose(same.gain, 1.0, atol=1e-12)
    near = em.two_cluster(
        R_H, 0.0, rho_H=0.1, rho_E=0.9, p_H=0.3, alpha=1.0, d=5, tau=30, sigma=0.2
    )
    np.testing.assert_allclose(near.gain, 1.0, atol=1e-12)
    overshoot = em.two_cluster(
        R_H, D, rho_H=0.3, rho_E=2 - 0.3, p_H=0.3, alpha=1.0, d=5
    )  # |1 - alpha rho| equal
    np.testing.assert_allclose(overshoot.gain, 1.0, atol=1e-12)


def test_one_step_solvable_easy_tasks_and_many_steps_limit():
    om = 0.05 / (0.05 + 0.5)
    exact = em.two_cluster(0.1, 5.0, rho_H=0.1, rho_E=1.0, p_H=0.5, alpha=1.0, d=10)
    assert float(exact.gain) == pytest.approx(1 + (1 - om) ** 2 * 25 / 0.01, rel=1e-12)
    assert float(exact.gain) == pytest.approx(2067.1, abs=0.05)
    limit = em.two_cluster(0.1, 5.0, d=10, N=60, **SETTING)
    assert float(limit.gain) == pytest.approx(1 + 0.9**2 * 25 / 0.01, rel=1e-6)


def test_gain_bound(rng):
    R_H, D = rng.uniform(0.01, 3, 200), rng.uniform(0, 5, 200)
    res = em.two_cluster(
        R_H, D, rho_H=0.2, rho_E=0.7, p_H=0.4, alpha=1.2, d=5, tau=50, sigma=0.1
    )
    a_H = em.isotropic_weight(0.2, 1.2, 5, 1, 50)
    a_bar = 0.4 * a_H + 0.6 * em.isotropic_weight(0.7, 1.2, 5, 1, 50)
    assert np.all(res.gain >= 1 - 1e-12)
    assert np.all(res.gain <= 1 + a_bar * D**2 / (0.4 * a_H * R_H**2) + 1e-12)


# -------------------------------------------------------------------------------------------------
# Monte Carlo against closed forms
# -------------------------------------------------------------------------------------------------


def test_monte_carlo_gain_matches_closed_form_population(rng):
    mix = em.two_cluster_mixture(10, 0.1, 0.9, 0.5, 0.1, 1.0, 5.0)
    comp = em.compare_erm_maml(mix, 1.0)
    sim = em.simulate_adaptation(
        rng, [comp.theta_erm, comp.theta_maml], mix, 1.0, 40_000
    )
    mean, se = sim.mean(), sim.stderr()
    assert np.all(np.abs(mean - [comp.loss_erm, comp.loss_maml]) < Z * se)
    diff, se_diff = sim.difference()
    assert abs(diff - em.gain_quadratic_form(mix, 1.0)) < Z * se_diff
    ratio, se_ratio = sim.ratio()
    assert abs(ratio - comp.ratio) < Z * se_ratio
    assert se_ratio < 0.05 * comp.ratio, (
        "the test must be able to tell G = 7.8 from G = 1"
    )


@pytest.mark.parametrize("tau", [3, 8, 25, 400])
def test_monte_carlo_matches_closed_form_finite_tau(rng, tau):
    """tau < d uses explicit samples, tau >= d the Bartlett sampler; both must give
    eq-adaptation-matrix-tau."""
    mix = random_mixture(rng, J=3, d=8)
    comp = em.compare_erm_maml(mix, 1.0, 1, tau, sigma=0.5)
    sim = em.simulate_adaptation(
        rng, [comp.theta_erm, comp.theta_maml], mix, 1.0, 30_000, tau=tau, sigma=0.5
    )
    assert np.all(
        np.abs(sim.mean() - [comp.loss_erm, comp.loss_maml]) < Z * sim.stderr()
    )
    diff, se_diff = sim.difference()
    assert abs(diff - comp.difference) < Z * se_diff


def test_population_limit_of_the_simulator(rng):
    """With tau -> infinity the sampled step becomes the population step, also for several steps."""
    mix = random_mixture(rng, J=2, d=4)
    theta = rng.standard_normal((2, 4))
    exact = em.post_adaptation_loss(theta, mix, 1.0, N=3)
    sim = em.simulate_adaptation(rng, theta, mix, 1.0, 20_000, N=3, tau=10**7)
    assert np.all(np.abs(sim.mean() - exact) < Z * sim.stderr() + 1e-4 * exact)


def test_gaussian_fourth_moment_by_explicit_samples(rng):
    """E[(I - a S_hat) Sigma (I - a S_hat)] from explicit Gaussian batches, against
    eq-adaptation-matrix-tau."""
    d, tau, alpha, draws = 4, 6, 0.7, 100_000
    Q = rng.standard_normal((d, d))
    Sigma = Q @ Q.T / d + 0.2 * np.eye(d)
    X = rng.standard_normal((draws, tau, d)) @ np.linalg.cholesky(Sigma).T
    S_hat = np.swapaxes(X, -1, -2) @ X / tau
    M = np.eye(d) - alpha * S_hat
    samples = M @ Sigma @ M
    mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(draws)
    A = em.adaptation_matrix(Sigma, alpha, 1, tau)
    assert np.all(np.abs(mean - A) < Z * se)
    population = em.adaptation_matrix(Sigma, alpha, 1)
    assert np.max(np.abs(population - A) / se) > 20, (
        "the variance term must be detectable here"
    )


@pytest.mark.parametrize("tau, d", [(3, 5), (5, 5), (12, 5), (1000, 3)])
def test_gram_factor_has_wishart_moments(rng, tau, d):
    """E W = tau I, Var W_ab = tau (1 + delta_ab), and the noise vector S g has covariance tau I."""
    draws = 50_000
    S = em.sample_gram_factor(rng, tau, d, (draws,))
    assert S.shape == (draws, d, min(tau, d))
    W = S @ np.swapaxes(S, -1, -2)
    eye = np.eye(d)
    assert np.all(np.abs(W.mean(0) - tau * eye) < Z * W.std(0, ddof=1) / np.sqrt(draws))
    var = W.var(0, ddof=1)
    # the variance of a sample variance of W_ab has standard error ~ sqrt(Var(W_ab^2) / draws);
    # use a 10% band
    np.testing.assert_allclose(var, tau * (1 + eye), rtol=0.1)
    v = (S @ rng.standard_normal((draws, S.shape[-1], 1)))[..., 0]
    cov = v.T @ v / draws
    np.testing.assert_allclose(cov, tau * eye, atol=Z * tau * np.sqrt(2 / draws) * 1.5)


def test_representation_step_has_effective_dimension_k(rng):
    """Adapting in a k-dim subspace of R^d behaves as the d = k closed form
    (eq-representation-step)."""
    d, k, tau = 12, 2, 6
    basis = np.linalg.qr(rng.standard_normal((d, k)))[0]
    mix = em.two_cluster_mixture(d, 0.1, 0.9, 0.5, 0.3, 1.0, 3.0, basis=basis)
    res_k = em.two_cluster(0.3, 3.0, d=k, tau=tau, sigma=0.3, **SETTING)
    res_d = em.two_cluster(0.3, 3.0, d=d, tau=tau, sigma=0.3, **SETTING)
    c_H = mix.centers[0]
    thetas = [float(res_k.omega_erm) * c_H, float(res_k.omega_maml) * c_H]
    sim = em.simulate_adaptation(
        rng, thetas, mix, 1.0, 40_000, tau=tau, sigma=0.3, basis=basis
    )
    expected = [float(res_k.loss_erm), float(res_k.loss_maml)]
    assert np.all(np.abs(sim.mean() - expected) < Z * sim.stderr())
    full = em.simulate_adaptation(rng, thetas, mix, 1.0, 40_000, tau=tau, sigma=0.3)
    assert abs(full.mean()[1] - float(res_k.loss_maml)) > 10 * full.stderr()[1], (
        "d and k must differ here"
    )
    assert float(res_d.loss_erm) > 0


def test_sgd_training_finds_the_closed_forms(rng):
    """Averaged SGD iterates of 12 independent runs scatter around the closed forms (t-type
    tolerance)."""
    mix = em.two_cluster_mixture(3, 0.1, 0.9, 0.5, 0.5, 1.0, 3.0)
    m_in = 4
    run = em.train_sgd(
        rng,
        ("erm", "maml"),
        mix,
        alpha=1.0,
        beta=0.4,
        iterations=3000,
        n=16,
        m_in=m_in,
        m_out=4,
        trials=12,
    )
    targets = {"erm": em.theta_erm(mix), "maml": em.theta_maml(mix, 1.0, 1, tau=m_in)}
    for method, target in targets.items():
        avg = run.series(method)
        mean, se = avg.mean(0), avg.std(0, ddof=1) / np.sqrt(avg.shape[0])
        assert np.all(np.abs(mean - target) < 6 * se + 1e-3), (
            method,
            mean,
            target,
        )  # 6 s.e.: t with 11 d.o.f.
    population = em.theta_maml(mix, 1.0)
    avg = run.series("maml")
    assert np.linalg.norm(avg.mean(0) - population) > 0.5, (
        "training with m_in samples is not the population MAML"
    )


# -------------------------------------------------------------------------------------------------
# Divergence and bad input
# -------------------------------------------------------------------------------------------------


def test_gradient_descent_divergence_warns_and_names_beta(rng):
    mix = random_mixture(rng)
    with pytest.warns(em.DivergenceWarning, match="lower beta"):
        result = em.fit_gradient_descent("erm", mix, beta=50.0, max_iter=10_000)
    assert not result.converged and np.all(np.isfinite(result.theta))


def test_sgd_divergence_warns_and_names_beta(rng):
    mix = em.two_cluster_mixture(3, 0.1, 0.9, 0.5, 0.5, 1.0, 3.0)
    with pytest.warns(em.DivergenceWarning, match="lower beta"):
        run = em.train_sgd(
            rng,
            ("erm",),
            mix,
            1.0,
            beta=40.0,
            iterations=300,
            n=4,
            m_in=2,
            m_out=2,
            trials=2,
        )
    assert np.all(run.stopped_at >= 0)
    assert np.all(np.isnan(run.theta_avg))


def test_no_warning_on_a_stable_run(rng):
    mix = random_mixture(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.fit_gradient_descent("maml", mix, beta=1.0, alpha=1.0, N=1, tol=1e-8)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: em.task_mixture(
                np.stack([np.eye(2)] * 2), np.zeros((2, 2)), [0.5, 0.6]
            ),
            "weights",
        ),
        (
            lambda: em.task_mixture(
                np.stack([np.eye(2), -np.eye(2)]), np.zeros((2, 2)), [0.5, 0.5]
            ),
            "Sigma",
        ),
        (
            lambda: em.task_mixture(
                np.stack([np.eye(2)] * 2), np.zeros((3, 2)), [0.5, 0.5]
            ),
            "Sigma and centers",
        ),
        (
            lambda: em.task_mixture(
                np.stack([np.eye(2)] * 2),
                np.zeros((2, 2)),
                [0.5, 0.5],
                spread_cov=np.stack([-np.eye(2)] * 2),
            ),
            "spread_cov",
        ),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, N=2, tau=5), "N = 1"),
        (lambda: em.adaptation_matrix(np.eye(2), -1.0), "alpha"),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, tau=0), "tau"),
        (lambda: em.adaptation_matrix(np.eye(2), 1.0, N=-1), "N"),
        (
            lambda: em.two_cluster(
                0.1, 1.0, rho_H=0.1, rho_E=0.9, p_H=1.0, alpha=1.0, d=3
            ),
            "p_H",
        ),
        (
            lambda: em.two_cluster(
                -0.1, 1.0, rho_H=0.1, rho_E=0.9, p_H=0.5, alpha=1.0, d=3
            ),
            "R_H",
        ),
        (
            lambda: em.two_cluster(
                0.1, 1.0, rho_H=1.0, rho_E=1.0, p_H=0.5, alpha=1.0, d=3
            ),
            "flat",
        ),
        (
            lambda: em.two_cluster(
                0.1, 1.0, rho_H=0.1, rho_E=0.9, p_H=0.5, alpha=1.0, d=3, tau=-2
            ),
            "tau",
        ),
        (
            lambda: em.two_cluster_mixture(
                3, 0.1, 0.9, 0.5, 0.1, 1.0, 2.0, basis=np.ones((3, 2))
            ),
            "basis",
        ),
        (lambda: em.theta_maml("not a mixture", 1.0), "mixture"),
        (
            lambda: em.meta_gradient(
                "ANIL",
                np.zeros(2),
                em.two_cluster_mixture(2, 0.1, 0.9, 0.5, 0.1, 1, 1),
                1.0,
            ),
            "method",
        ),
        (
            lambda: em.post_adaptation_loss(
                np.zeros(3), em.two_cluster_mixture(2, 0.1, 0.9, 0.5, 0.1, 1, 1), 1.0
            ),
            "theta and mixture",
        ),
        (
            lambda: em.simulate_adaptation(
                0,
                np.zeros(2),
                em.two_cluster_mixture(2, 0.1, 0.9, 0.5, 0.1, 1, 1),
                1.0,
                10,
            ),
            "rng",
        ),
        (lambda: em.sample_gram_factor(np.random.default_rng(0), 0, 3), "tau"),
        (
            lambda: em.train_sgd(
                np.random.default_rng(0),
                ("erm",),
                em.two_cluster_mixture(2, 0.1, 0.9, 0.5, 0.1, 1, 1),
                1.0,
                0.1,
                10,
                n=2,
                m_in=0,
                m_out=2,
            ),
            "m_in",
        ),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
