"""ANIL and MAML through N inner steps on a tanh network (chapters 20 and 21,
metalib.anil_steps)."""

import numpy as np
import pytest

from metalib import numerical_gradient, relative_error
from metalib.anil_steps import (
    HEAD_KEYS,
    DivergenceWarning,
    Tasks,
    compare_heads,
    count_params,
    features,
    first_order_reference,
    head_hessian,
    init_params,
    inner_loop,
    meta_gradient,
    meta_loss,
    meta_smoothness,
    multiply_adds,
    predict,
    sample_sinusoid_tasks,
    stable_step_search,
    time_meta_gradient,
    train,
    train_runs,
)

ALPHA, RIDGE = 0.1, 0.1


def small_problem(rng, head, n=3, m_in=4, m_out=5):
    """Small sizes, float64, a non-zero head everywhere (so that no gradient block vanishes)."""
    params = init_params(rng, hidden=5, k_width=3, head=head, head_hidden=3)
    if head == "ridge":
        params["w"] = rng.standard_normal(3)
    return params, sample_sinusoid_tasks(rng, n, m_in, m_out)


def fd_gradient(f, params):
    """Central finite differences of ``f(params)`` with respect to every parameter block."""
    out = {}
    for key in params:

        def g(value, key=key):
            return f({**params, key: value})

        out[key] = numerical_gradient(g, params[key])
    return out


def flat(grads, keys):
    return np.concatenate([np.ravel(grads[key]) for key in keys])


# ------------------------------------------------------------------------------------------------
# The meta-gradients against central finite differences (the 1e-6 relative error)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["ridge", "mlp"])
@pytest.mark.parametrize("method", ["exact_anil", "exact_maml"])
@pytest.mark.parametrize("N", [1, 3, 10])
def test_exact_meta_gradient_matches_finite_differences(rng, head, method, N):
    params, tasks = small_problem(rng, head)
    loss, grads, _ = meta_gradient(method, params, tasks, ALPHA, N, RIDGE)
    assert loss == pytest.approx(
        meta_loss(method, params, tasks, ALPHA, N, RIDGE), rel=1e-14
    )
    fd = fd_gradient(lambda p: meta_loss(method, p, tasks, ALPHA, N, RIDGE), params)
    for key in params:  # each block on its own: none may hide behind another
        assert relative_error(grads[key], fd[key]) < 1e-6, (
            key,
            relative_error(grads[key], fd[key]),
        )


@pytest.mark.parametrize("head", ["ridge", "mlp"])
@pytest.mark.parametrize("N", [1, 3, 10])
def test_first_order_direction_is_gradient_of_frozen_objective(rng, head, N):
    params, tasks = small_problem(rng, head)
    _, grads, cost = meta_gradient("fo_anil", params, tasks, ALPHA, N, RIDGE)
    fd = fd_gradient(first_order_reference(params, tasks, ALPHA, N, RIDGE), params)
    keys = list(params)
    assert relative_error(flat(grads, keys), flat(fd, keys)) < 1e-6
    assert cost["hvp"] == 0 and cost["madds"]["second_order"] == 0
    # and it is not the exact gradient (the test above could not pass for a wrong reason)
    _, exact, _ = meta_gradient("exact_anil", params, tasks, ALPHA, N, RIDGE)
    assert relative_error(flat(grads, keys), flat(exact, keys)) > 1e-3


def test_zero_inner_steps_anil_and_maml_agree_with_plain_gradient(rng):
    params, tasks = small_problem(rng, "mlp")
    _, g_anil, _ = meta_gradient("exact_anil", params, tasks, ALPHA, 0, RIDGE)
    _, g_maml, _ = meta_gradient("exact_maml", params, tasks, ALPHA, 0, RIDGE)
    _, g_fo, _ = meta_gradient("fo_anil", params, tasks, ALPHA, 0, RIDGE)
    keys = list(params)
    assert relative_error(flat(g_anil, keys), flat(g_maml, keys)) < 1e-12
    assert relative_error(flat(g_anil, keys), flat(g_fo, keys)) < 1e-12


def test_anil_and_maml_differ_once_the_body_adapts(rng):
    params, tasks = small_problem(rng, "ridge")
    assert (
        abs(
            meta_loss("exact_anil", params, tasks, ALPHA, 3, RIDGE)
            - meta_loss("exact_maml", params, tasks, ALPHA, 3, RIDGE)
        )
        > 1e-6
    )


# ------------------------------------------------------------------------------------------------
# Closed forms for the ridge head
# ------------------------------------------------------------------------------------------------


def test_ridge_inner_loop_matches_closed_form(rng):
    """w_N = P^N w_0 + (I - P^N) w*, P = I - alpha H, w* the ridge solution (digest eq. in 2.7)."""
    params, tasks = small_problem(rng, "ridge", n=4, m_in=6)
    N = 7
    heads, support_loss = inner_loop(params, tasks.X_in, tasks.y_in, ALPHA, N, RIDGE)
    Phi = features(params, tasks.X_in)  # (n, m, k)
    m, k = Phi.shape[1], Phi.shape[2]
    H = np.swapaxes(Phi, -1, -2) @ Phi / m + RIDGE * np.eye(k)
    w_star = np.linalg.solve(H, np.swapaxes(Phi, -1, -2) @ tasks.y_in[..., None] / m)[
        ..., 0
    ]
    P_N = np.linalg.matrix_power(np.eye(k) - ALPHA * H, N)
    expected = (P_N @ params["w"]) + w_star - (P_N @ w_star[..., None])[..., 0]
    np.testing.assert_allclose(heads[-1]["w"], expected, atol=1e-12)
    assert support_loss.shape == (N + 1, 4)
    assert np.all(np.diff(support_loss, axis=0) <= 1e-12), (
        "GD with alpha < 1/L must not raise the loss"
    )


def test_head_hessian_ridge_closed_form_and_strong_convexity(rng):
    params, tasks = small_problem(rng, "ridge", n=5, m_in=6)
    H = head_hessian(params, tasks.X_in, tasks.y_in, RIDGE)
    Phi = features(params, tasks.X_in)
    k = Phi.shape[-1]
    np.testing.assert_allclose(
        H, np.swapaxes(Phi, -1, -2) @ Phi / 6 + RIDGE * np.eye(k), atol=1e-12
    )
    eig = np.linalg.eigvalsh(H)
    assert eig.min() >= RIDGE - 1e-12  # mu_sc >= lambda
    assert (
        eig.max() <= k + RIDGE + 1e-12
    )  # L <= k' + lambda (tanh features are bounded by 1)


def test_mlp_head_inner_loss_is_nonconvex(rng):
    params = init_params(rng, hidden=16, k_width=8, head="mlp")
    tasks = sample_sinusoid_tasks(rng, 20, 10, 10)
    H = head_hessian(params, tasks.X_in, tasks.y_in, 0.0)
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2), atol=1e-10)
    assert np.linalg.eigvalsh(H).min() < -0.1, (
        "the two-layer head should have negative curvature"
    )
    # and head_hessian agrees with finite differences of the head gradient (FO-ANIL at N=0 is that
    # gradient)
    small, tasks1 = small_problem(rng, "mlp", n=1)
    H1 = head_hessian(small, tasks1.X_in, tasks1.y_in, RIDGE)[0]
    keys = HEAD_KEYS["mlp"]
    x0 = np.concatenate([np.ravel(small[key]) for key in keys])

    def head_grad(x):
        p = dict(small, V=x[:9].reshape(3, 3), a=x[9:])
        # gradient of the support loss: query = support, N = 0
        t = Tasks(
            tasks1.X_in,
            tasks1.y_in,
            tasks1.X_in,
            tasks1.y_in,
            tasks1.amplitude,
            tasks1.phase,
        )
        g = meta_gradient("fo_anil", p, t, ALPHA, 0, 0.0)[1]
        return np.concatenate([np.ravel(g[key]) for key in keys]) + RIDGE * x

    fd = np.stack(
        [
            (head_grad(x0 + 1e-6 * e) - head_grad(x0 - 1e-6 * e)) / 2e-6
            for e in np.eye(x0.size)
        ],
        axis=1,
    )
    assert relative_error(H1, fd) < 1e-6


def test_ridge_head_block_contracts_like_one_minus_alpha_mu(rng):
    """dF_i/dw_0 = (I - alpha H_i)^N g_i exactly, with norm <= (1 - alpha mu_sc)^N ||g_i||."""
    params, tasks = small_problem(rng, "ridge", n=4, m_in=6)
    N = 10
    H = head_hessian(params, tasks.X_in, tasks.y_in, RIDGE)
    mu = np.linalg.eigvalsh(H)[:, 0]
    g = meta_gradient("fo_anil", params, tasks, ALPHA, N, RIDGE, per_task=True)[1][
        "w"
    ]  # (n, k')
    exact = meta_gradient("exact_anil", params, tasks, ALPHA, N, RIDGE, per_task=True)[
        1
    ]["w"]
    P_N = np.linalg.matrix_power(np.eye(3) - ALPHA * H, N)
    np.testing.assert_allclose(exact, (P_N @ g[..., None])[..., 0], atol=1e-12)
    assert np.all(
        np.linalg.norm(exact, axis=1)
        <= (1 - ALPHA * mu) ** N * np.linalg.norm(g, axis=1) + 1e-14
    )


@pytest.mark.parametrize("method", ["exact_anil", "exact_maml"])
def test_per_task_gradients_average_to_the_meta_gradient(rng, method):
    params, tasks = small_problem(rng, "mlp", n=4)
    _, mean, _ = meta_gradient(method, params, tasks, ALPHA, 3, RIDGE)
    _, each, _ = meta_gradient(method, params, tasks, ALPHA, 3, RIDGE, per_task=True)
    one = Tasks(*(np.asarray(a)[2:3] for a in tasks))
    _, third, _ = meta_gradient(method, params, one, ALPHA, 3, RIDGE)
    for key in params:
        assert each[key].shape == (4, *params[key].shape)
        np.testing.assert_allclose(each[key].mean(axis=0), mean[key], atol=1e-14)
        np.testing.assert_allclose(each[key][2], third[key], atol=1e-14)


# ------------------------------------------------------------------------------------------------
# Cost counters
# ------------------------------------------------------------------------------------------------


def test_cost_counters(rng):
    params, tasks = small_problem(rng, "ridge", n=3)
    sizes = count_params(params)
    assert sizes == {"body": 5 * 2 + 3 * 5, "head": 3, "total": 28}
    _, _, anil = meta_gradient("exact_anil", params, tasks, ALPHA, 4, RIDGE)
    _, _, maml = meta_gradient("exact_maml", params, tasks, ALPHA, 4, RIDGE)
    assert (anil["hvp"], anil["hvp_dim"], anil["mixed"]) == (12, 3, 12)
    assert (maml["hvp"], maml["hvp_dim"], maml["mixed"]) == (12, 28, 0)
    assert anil["madds"]["total"] == sum(
        v for k, v in anil["madds"].items() if k != "total"
    )
    # deterministic, and MAML's second-order work grows with the body N times per task, ANIL's does
    # not
    assert meta_gradient("exact_anil", params, tasks, ALPHA, 4, RIDGE)[2] == anil
    big = init_params(rng, hidden=50, k_width=3, head="ridge")
    _, _, anil_big = meta_gradient("exact_anil", big, tasks, ALPHA, 4, RIDGE)
    _, _, maml_big = meta_gradient("exact_maml", big, tasks, ALPHA, 4, RIDGE)
    slope_anil = anil_big["madds"]["total"] - anil["madds"]["total"]
    slope_maml = maml_big["madds"]["total"] - maml["madds"]["total"]
    assert slope_maml > 4 * slope_anil


def test_anil_second_order_work_is_linear_in_N_and_small(rng):
    params = init_params(rng, hidden=64, k_width=4, head="ridge")
    tasks = sample_sinusoid_tasks(rng, 2, 5, 5)
    work = [
        meta_gradient("exact_anil", params, tasks, ALPHA, N, RIDGE)[2]["madds"][
            "second_order"
        ]
        for N in (1, 2, 3)
    ]
    assert work[2] - work[1] == work[1] - work[0] > 0  # exactly linear in N
    body_pass = meta_gradient("fo_anil", params, tasks, ALPHA, 1, RIDGE)[2]["madds"][
        "outer"
    ]
    assert (
        work[1] - work[0] < body_pass / 10
    )  # one more step costs far less than a body pass


# ------------------------------------------------------------------------------------------------
# Tasks, predictions, training
# ------------------------------------------------------------------------------------------------


def test_sinusoid_tasks_shapes_and_second_moment(rng):
    tasks = sample_sinusoid_tasks(rng, 4000, 7, 3)
    assert tasks.X_in.shape == tasks.y_in.shape == (4000, 7)
    assert tasks.X_out.shape == (4000, 3)
    assert np.all((tasks.amplitude >= 0.1) & (tasks.amplitude <= 5.0))
    assert np.all((tasks.X_in >= -5) & (tasks.X_in <= 5))
    np.testing.assert_allclose(
        tasks.y_in, tasks.amplitude[:, None] * np.sin(tasks.X_in - tasks.phase[:, None])
    )
    # E[y^2] = E[A^2] E[sin^2(x - psi)]. sin^2 = (1 - cos(2(x - psi)))/2, and 2 psi covers a full
    # period when
    # psi ~ U[0, pi], so E[sin^2] = 1/2 for every x; E[A^2] = (b^3 - a^3) / (3 (b - a)). Hence
    # E[y^2] = 4.2517.
    a, b = 0.1, 5.0
    expected = (b**3 - a**3) / (3 * (b - a)) / 2
    y2 = tasks.y_in.reshape(-1) ** 2
    # tasks are independent; samples within a task are not, so the standard error uses per-task
    # means
    per_task = np.mean(tasks.y_in**2, axis=1)
    tol = 4 * per_task.std() / np.sqrt(per_task.size)
    assert abs(y2.mean() - expected) < tol, (y2.mean(), expected, tol)


def test_predict_matches_meta_loss_at_zero_steps(rng):
    params, tasks = small_problem(rng, "mlp")
    loss = 0.5 * np.mean((predict(params, tasks.X_out) - tasks.y_out) ** 2)
    assert meta_loss("exact_anil", params, tasks, ALPHA, 0, RIDGE) == pytest.approx(
        loss, rel=1e-13
    )


def test_train_reduces_meta_test_loss_and_is_deterministic(rng):
    params = init_params(rng, hidden=16, k_width=4, head="ridge")
    test = sample_sinusoid_tasks(np.random.default_rng(1), 50, 10, 10)
    runs = [
        train(
            "exact_anil",
            params,
            0.1,
            0.05,
            3,
            60,
            np.random.default_rng(2),
            ridge=RIDGE,
            test_tasks=test,
            record_every=20,
        )
        for _ in range(2)
    ]
    run = runs[0]
    assert run.stable and run.test_loss[-1] < 0.9 * run.test_loss[0]
    np.testing.assert_array_equal(runs[0].test_loss, runs[1].test_loss)
    assert list(run.iterations) == [0, 20, 40, 60]
    assert run.cost["hvp"] == 60 * 10 * 3


def test_frozen_head_initialization_stays_put(rng):
    params = init_params(rng, hidden=8, k_width=4, head="mlp")
    run = train("exact_anil", params, 0.1, 0.05, 2, 5, rng, learn_head_init=False)
    np.testing.assert_array_equal(run.params["V"], params["V"])
    np.testing.assert_array_equal(run.params["a"], params["a"])
    assert not np.allclose(run.params["W2"], params["W2"])


def test_blow_up_stops_and_names_beta(rng):
    params = init_params(rng, hidden=16, k_width=8, head="mlp")
    with pytest.warns(DivergenceWarning, match="lower beta"):
        run = train("exact_anil", params, 0.3, 5.0, 10, 50, np.random.default_rng(0))
    assert run.stopped_at > 0 and np.all(np.isnan(run.train_loss[run.stopped_at - 1 :]))
    assert all(np.all(np.isfinite(v)) for v in run.params.values())


def test_a_stopped_run_is_recorded_up_to_where_it_stopped(rng):
    params = init_params(rng, hidden=16, k_width=8, head="mlp")
    test = sample_sinusoid_tasks(np.random.default_rng(1), 20, 10, 10)
    with pytest.warns(DivergenceWarning):
        run = train(
            "exact_anil",
            params,
            0.6,
            0.5,
            10,
            100,
            np.random.default_rng(0),
            test_tasks=test,
            record_every=50,
        )
    assert 1 < run.stopped_at <= 100
    # the last recorded point is the last step whose parameters were finite, not the start
    assert run.iterations[-1] == run.stopped_at - 1
    assert (
        np.all(np.isfinite(run.test_loss)) and run.test_loss.size == run.iterations.size
    )


def test_blow_up_of_the_inner_loop_names_alpha(rng):
    params = init_params(rng, hidden=16, k_width=8, head="ridge")
    with pytest.warns(DivergenceWarning, match="lower alpha"):
        train(
            "exact_anil",
            params,
            3.0,
            0.01,
            10,
            20,
            np.random.default_rng(0),
            ridge=RIDGE,
        )


def test_stable_step_search_returns_the_largest_stable_step_of_each_stream(rng):
    params = init_params(rng, hidden=16, k_width=8, head="mlp")
    test = sample_sinusoid_tasks(np.random.default_rng(1), 50, 10, 10)
    grid = [5.0, 0.02, 0.002]
    beta_max, runs = stable_step_search(
        "exact_anil", params, 0.3, 10, grid, 40, [3, 4], test_tasks=test
    )
    assert beta_max.shape == (2,)
    for seed, best in zip([3, 4], beta_max):
        assert best in (0.02, 0.002)
        assert runs[best][seed].stable
        # every larger candidate was tried on this stream and was not stable
        assert all(not runs[b][seed].stable for b in grid if b > best)
        # a stream leaves the search at its first stable candidate
        assert all(seed not in runs.get(b, {}) for b in grid if b < best)
    # the search is scanned, not bisected: each stream's answer is what train() finds
    for seed, best in zip([3, 4], beta_max):
        verdicts = [
            train(
                "exact_anil",
                params,
                0.3,
                b,
                10,
                40,
                np.random.default_rng(seed),
                test_tasks=test,
                record_every=40,
                warn=False,
            ).stable
            for b in grid
        ]
        assert best == grid[verdicts.index(True)]


def test_runs_trained_together_equal_runs_trained_alone(rng):
    """train_runs shares the array operations of a step, not the runs' randomness or updates."""
    params = init_params(rng, hidden=16, k_width=8, head="mlp")
    test = sample_sinusoid_tasks(np.random.default_rng(1), 20, 10, 10)
    settings = dict(alpha=[0.3, 0.1, 0.3], beta=[5.0, 0.05, 0.02], seeds=[5, 5, 6])
    with pytest.warns(DivergenceWarning):
        together = train_runs(
            "exact_anil",
            params,
            N=10,
            iterations=30,
            test_tasks=test,
            record_every=10,
            **settings,
        )
    assert together[0].stopped_at > 0  # the first run blows up and leaves the batch
    for r, run in enumerate(together):
        alone = train(
            "exact_anil",
            params,
            settings["alpha"][r],
            settings["beta"][r],
            10,
            30,
            np.random.default_rng(settings["seeds"][r]),
            test_tasks=test,
            record_every=10,
            warn=False,
        )
        assert run.stopped_at == alone.stopped_at
        np.testing.assert_array_equal(run.iterations, alone.iterations)
        np.testing.assert_allclose(run.test_loss, alone.test_loss, rtol=1e-10)
        np.testing.assert_allclose(run.train_loss, alone.train_loss, rtol=1e-10)
        assert run.cost == alone.cost
        for key in params:
            np.testing.assert_allclose(run.params[key], alone.params[key], rtol=1e-9)
    with pytest.raises(ValueError, match="one value or one per run"):
        train_runs("exact_anil", params, [0.1, 0.2], [0.1, 0.2, 0.3], 1, 5, 0)


@pytest.mark.parametrize("method", ["exact_anil", "fo_anil", "exact_maml"])
def test_runs_with_different_N_trained_together_equal_runs_alone(rng, method):
    """A run padded with zero-size inner steps up to the largest N is exactly its own run."""
    params = init_params(rng, hidden=8, k_width=4, head="ridge")
    test = sample_sinusoid_tasks(np.random.default_rng(1), 20, 10, 10)
    Ns = [1, 3, 0, 6]
    together = train_runs(
        method,
        params,
        0.1,
        0.05,
        Ns,
        12,
        3,
        ridge=RIDGE,
        test_tasks=test,
        record_every=4,
    )
    for N, run in zip(Ns, together):
        alone = train(
            method,
            params,
            0.1,
            0.05,
            N,
            12,
            np.random.default_rng(3),
            ridge=RIDGE,
            test_tasks=test,
            record_every=4,
        )
        assert run.N == N and run.cost == alone.cost
        np.testing.assert_allclose(run.test_loss, alone.test_loss, rtol=1e-10)
        np.testing.assert_allclose(run.train_loss, alone.train_loss, rtol=1e-10)
        for key in params:
            np.testing.assert_allclose(run.params[key], alone.params[key], rtol=1e-9)


def test_meta_smoothness_of_a_quadratic_head_block(rng):
    """With N = 0 and a ridge head, the head block of the meta-objective is quadratic: its Hessian
    is the mean of Phi_D^T Phi_D / m_out over tasks, so Lanczos iteration must return its top
    eigenvalue."""
    params, tasks = small_problem(rng, "ridge", n=3, m_out=6)
    Phi = features(params, tasks.X_out)
    H = np.mean(np.swapaxes(Phi, -1, -2) @ Phi, axis=0) / 6
    L = meta_smoothness(
        "exact_anil",
        params,
        tasks,
        ALPHA,
        0,
        RIDGE,
        iterations=200,
        rng=rng,
        block="head",
    )
    assert L == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-6)


def test_meta_smoothness_finds_both_ends_of_an_indefinite_spectrum(rng):
    """With N = 0 the head block of the meta-Hessian is the task-averaged head Hessian of the query
    loss (head_hessian on the query sets, no penalty); for the two-layer head it is indefinite, and
    which="both" must return max |eigenvalue| and the largest eigenvalue."""
    params, tasks = small_problem(rng, "mlp", n=3, m_out=6)
    H = head_hessian(params, tasks.X_out, tasks.y_out).mean(axis=0)
    eig = np.linalg.eigvalsh(H)
    assert eig[0] < 0 < eig[-1]  # indefinite: the two answers are different questions
    magnitude, largest = meta_smoothness(
        "exact_anil",
        params,
        tasks,
        ALPHA,
        0,
        iterations=50,
        rng=rng,
        block="head",
        which="both",
    )
    assert magnitude == pytest.approx(np.abs(eig).max(), rel=1e-6)
    assert largest == pytest.approx(eig[-1], rel=1e-6)


# ------------------------------------------------------------------------------------------------
# Bad input is named
# ------------------------------------------------------------------------------------------------


def test_bad_inputs_are_named(rng):
    params, tasks = small_problem(rng, "ridge")
    with pytest.raises(ValueError, match="method"):
        meta_gradient("maml", params, tasks, ALPHA, 1)
    with pytest.raises(ValueError, match="alpha"):
        meta_gradient("exact_anil", params, tasks, 0.0, 1)
    with pytest.raises(ValueError, match="N"):
        meta_gradient("exact_anil", params, tasks, ALPHA, -1)
    with pytest.raises(ValueError, match="ridge"):
        meta_gradient("exact_anil", params, tasks, ALPHA, 1, ridge=-0.1)
    with pytest.raises(ValueError, match="params\\['W2'\\]"):
        meta_gradient("exact_anil", {**params, "W2": np.ones((3, 4))}, tasks, ALPHA, 1)
    with pytest.raises(ValueError, match="params\\['w'\\]"):
        meta_gradient("exact_anil", {**params, "w": np.ones(4)}, tasks, ALPHA, 1)
    with pytest.raises(ValueError, match="keys"):
        meta_gradient("exact_anil", {**params, "V": np.ones((2, 3))}, tasks, ALPHA, 1)
    with pytest.raises(ValueError, match="tasks.y_out"):
        meta_gradient(
            "exact_anil", params, tasks._replace(y_out=tasks.y_out[:, :2]), ALPHA, 1
        )
    with pytest.raises(ValueError, match="tasks.X_in and tasks.X_out"):
        bad = tasks._replace(X_out=tasks.X_out[:2], y_out=tasks.y_out[:2])
        meta_gradient("exact_anil", params, bad, ALPHA, 1)
    with pytest.raises(TypeError, match="tasks"):
        meta_gradient("exact_anil", params, tuple(tasks), ALPHA, 1)
    with pytest.raises(ValueError, match="NaN"):
        meta_gradient(
            "exact_anil", {**params, "W1": np.full((5, 2), np.nan)}, tasks, ALPHA, 1
        )


def test_bad_constructor_inputs_are_named(rng):
    with pytest.raises(ValueError, match="hidden"):
        init_params(rng, hidden=0)
    with pytest.raises(ValueError, match="head"):
        init_params(rng, head="deep")
    with pytest.raises(TypeError, match="rng"):
        init_params(0)
    with pytest.raises(ValueError, match="m_in"):
        sample_sinusoid_tasks(rng, 3, 0, 2)
    with pytest.raises(ValueError, match="amplitude"):
        sample_sinusoid_tasks(rng, 3, 2, 2, amplitude=(5.0, 0.1))
    params = init_params(rng, hidden=4, k_width=2)
    with pytest.raises(ValueError, match="beta"):
        train("exact_anil", params, 0.1, -1.0, 1, 5, rng)
    with pytest.raises(ValueError, match="iterations"):
        train("exact_anil", params, 0.1, 0.1, 1, 0, rng)
    with pytest.raises(ValueError, match="test_tasks"):
        stable_step_search("exact_anil", params, 0.1, 1, [0.1], 5, 0)
    with pytest.raises(ValueError, match="block"):
        meta_smoothness(
            "exact_anil",
            params,
            sample_sinusoid_tasks(rng, 2, 3, 3),
            0.1,
            1,
            rng=rng,
            block="x",
        )


def test_compare_heads_runs_both_heads_on_one_stream(rng):
    starts = {
        head: init_params(rng, hidden=8, k_width=4, head=head)
        for head in ("ridge", "mlp")
    }
    test = sample_sinusoid_tasks(np.random.default_rng(1), 20, 10, 10)
    runs = compare_heads(starts, 2, 0.5, 0.1, 0.05, 20, test, 7, record_every=10)
    assert set(runs) == {"ridge", "mlp"}
    assert runs["ridge"].ridge == 0.5 and runs["mlp"].ridge == 0.0
    direct = train(
        "exact_anil",
        starts["ridge"],
        0.1,
        0.05,
        2,
        20,
        np.random.default_rng(7),
        ridge=0.5,
        test_tasks=test,
        record_every=10,
    )
    np.testing.assert_array_equal(runs["ridge"].test_loss, direct.test_loss)
    with pytest.raises(ValueError, match="starts"):
        compare_heads({"ridge": starts["ridge"]}, 2, 0.5, 0.1, 0.05, 20, test, 7)
    with pytest.raises(ValueError, match="repeats"):
        time_meta_gradient("exact_anil", starts["ridge"], test, 0.1, 1, repeats=0)


# ------------------------------------------------------------------------------------------------
# Independent checks: the forward pass, and the multiply-add counts against their closed form
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["ridge", "mlp"])
def test_forward_pass_matches_a_plain_per_sample_loop(rng, head):
    """predict() against the network written out sample by sample with plain numpy vectors."""
    params = init_params(rng, hidden=7, k_width=5, head=head, head_hidden=4)
    if head == "ridge":
        params["w"] = rng.standard_normal(5)
    X = rng.uniform(-5, 5, size=(3, 6))
    expected = np.empty_like(X)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            hidden = np.array(
                [
                    np.tanh(params["W1"][u, 0] * X[i, j] + params["W1"][u, 1])
                    for u in range(7)
                ]
            )
            phi = np.array(
                [
                    np.tanh(sum(params["W2"][f, u] * hidden[u] for u in range(7)))
                    for f in range(5)
                ]
            )
            if head == "ridge":
                expected[i, j] = sum(params["w"][f] * phi[f] for f in range(5))
            else:
                z = [
                    np.tanh(sum(params["V"][r, f] * phi[f] for f in range(5)))
                    for r in range(4)
                ]
                expected[i, j] = sum(params["a"][r] * z[r] for r in range(4))
    np.testing.assert_allclose(predict(params, X), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        features(params, X)[1, 2],
        np.tanh(params["W2"] @ np.tanh(params["W1"] @ np.array([X[1, 2], 1.0]))),
        rtol=1e-12,
    )


@pytest.mark.parametrize("head", ["ridge", "mlp"])
@pytest.mark.parametrize("method", ["exact_anil", "fo_anil", "exact_maml"])
@pytest.mark.parametrize("N", [0, 1, 4])
def test_counted_multiply_adds_equal_the_closed_form(rng, head, method, N):
    params = init_params(rng, hidden=6, k_width=3, head=head, head_hidden=5)
    tasks = sample_sinusoid_tasks(rng, 3, 4, 7)
    counted = meta_gradient(method, params, tasks, ALPHA, N, RIDGE)[2]["madds"]
    assert counted == multiply_adds(method, params, 3, 4, 7, N)


def test_closed_form_for_the_ridge_head_as_printed_in_chapter_21(rng):
    h, k, n, m_in, m_out, N = 37, 8, 10, 10, 10, 5
    params = init_params(rng, hidden=h, k_width=k, head="ridge")
    anil = n * ((m_in + m_out) * (4 * h + 3 * h * k) + 3 * m_out * k + 7 * N * m_in * k)
    maml = n * (
        (N * m_in + m_out) * (4 * h + 3 * k * (h + 1))
        + N * m_in * (4 * h + 7 * k * (h + 1))
    )
    assert multiply_adds("exact_anil", params, n, m_in, m_out, N)["total"] == anil
    assert multiply_adds("exact_maml", params, n, m_in, m_out, N)["total"] == maml
