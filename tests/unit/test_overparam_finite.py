"""FO-ANIL and the multi-task learner on a fixed finite task set (chapter 07, yuksel2023).

Referees: a plain loop over the tasks, one at a time (to 1e-12), and the infinite-task closed form
``metalib.overparam.expected_fo_anil_update`` (the average over fresh task sets, within a few
standard errors).
"""

import dataclasses
import warnings

import numpy as np
import pytest
from bad_input import bad_input_tests

from metalib import overparam as op
from metalib.divergence import DivergenceWarning
from metalib.overparam import finite_tasks as ft
from metalib.subspace import random_orthonormal, subspace_distance

Z = 5.0  # Monte-Carlo tolerance in standard errors (see test_overparam.py)


def small_problem(seed=0, d=7, k=2, k_width=5, T=300, m_in=4, m_out=3, sigma=0.6):
    rng = np.random.default_rng(seed)
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    tasks = ft.sample_finite_tasks(rng, B_star, head_cov, T, m_in, m_out, sigma)
    B = rng.standard_normal((d, k_width)) / np.sqrt(d)
    w = 0.3 * rng.standard_normal(k_width)
    return rng, tasks, B, w


def loop_update(B, w, alpha, tasks):
    """The definition, one task at a time."""
    G_B, G_w = np.zeros_like(B), np.zeros_like(w)
    for i in range(tasks.n_tasks):
        Xi, yi, Xo, yo = tasks.X_in[i], tasks.y_in[i], tasks.X_out[i], tasks.y_out[i]
        w1 = w - alpha * B.T @ (Xi.T @ (Xi @ B @ w - yi)) / len(yi)
        r = Xo.T @ (Xo @ B @ w1 - yo) / len(yo)
        G_B += np.outer(r, w1)
        G_w += B.T @ r
    return G_B / tasks.n_tasks, G_w / tasks.n_tasks


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 40 tasks at d = 7, so that the small cases run through several blocks."""
    monkeypatch.setattr(ft, "_BLOCK_WORK", 40 * 7 * 7)


def test_update_matches_per_task_loop(small_blocks):
    _, tasks, B, w = small_problem(T=333)  # not a multiple of the block size
    assert len(ft._blocks(tasks.n_tasks, 7, 5)) == 9
    G_B, G_w = ft.finite_fo_anil_update(B, w, 0.2, tasks)
    R_B, R_w = loop_update(B, w, 0.2, tasks)
    assert np.abs(G_B - R_B).max() < 1e-12 * max(1, np.abs(R_B).max())
    assert np.abs(G_w - R_w).max() < 1e-12 * max(1, np.abs(R_w).max())


def test_task_set_is_consistent_and_double_precision_input_gives_the_same_update():
    rng = np.random.default_rng(8)
    B_star = random_orthonormal(7, 2, rng)
    tasks = ft.sample_finite_tasks(
        rng, B_star, np.diag([1.0, 2.0]), 50, 4, 3, sigma=0.0
    )
    assert tasks.X_in.dtype == np.float32 and tasks.y_in.dtype == np.float64
    signal = tasks.heads @ B_star.T  # without noise the labels are X B_* theta exactly
    for X, y in ((tasks.X_in, tasks.y_in), (tasks.X_out, tasks.y_out)):
        assert (
            np.abs(np.einsum("tmd,td->tm", X.astype(float), signal) - y).max() < 1e-12
        )
    g_in = np.einsum("tmd,tm->td", tasks.X_in.astype(float), tasks.y_in) / tasks.m_in
    assert np.abs(g_in - tasks.g_in).max() < 1e-12
    as_double = dataclasses.replace(
        tasks, X_in=tasks.X_in.astype(float), X_out=tasks.X_out.astype(float)
    )
    B, w = rng.standard_normal((7, 4)), rng.standard_normal(4)
    for a, b in zip(
        ft.finite_fo_anil_update(B, w, 0.1, tasks),
        ft.finite_fo_anil_update(B, w, 0.1, as_double),
    ):
        assert np.abs(a - b).max() < 1e-13 * np.abs(b).max()


def test_update_batches_runs(small_blocks):
    rng, tasks, B, w = small_problem()
    Bs = np.stack([B, 2 * B, -B])
    ws = np.stack([w, 0 * w, 3 * w])
    G_B, G_w = ft.finite_fo_anil_update(Bs, ws, 0.1, tasks)
    for j in range(3):
        R_B, R_w = loop_update(Bs[j], ws[j], 0.1, tasks)
        assert np.abs(G_B[j] - R_B).max() < 1e-12 * max(1, np.abs(R_B).max())
        assert np.abs(G_w[j] - R_w).max() < 1e-12 * max(1, np.abs(R_w).max())


def test_expectation_over_task_sets_is_the_infinite_task_update():
    d, k, k_width, m_in, m_out, sigma, alpha = 6, 2, 4, 5, 3, 0.8, 0.3
    rng = np.random.default_rng(11)
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag([1.0, 2.0])
    B = rng.standard_normal((d, k_width)) / np.sqrt(d) * 2
    w = 0.4 * rng.standard_normal(k_width)
    sets = []
    for _ in range(60):
        tasks = ft.sample_finite_tasks(rng, B_star, head_cov, 2000, m_in, m_out, sigma)
        sets.append(ft.finite_fo_anil_update(B, w, alpha, tasks))
    G_B = np.array([s[0] for s in sets])
    G_w = np.array([s[1] for s in sets])
    E_B, E_w = op.expected_fo_anil_update(B, w, alpha, B_star, head_cov, m_in, sigma)
    for G, E in ((G_B, E_B), (G_w, E_w)):
        se = G.std(axis=0, ddof=1) / np.sqrt(len(G))
        z = (G.mean(axis=0) - E) / se
        assert np.abs(z).max() < Z, np.abs(z).max()
    # and the expectation is not trivially matched: a finite set differs from it
    assert np.abs(G_B[0] - E_B).max() > 3 * (G_B.std(axis=0, ddof=1)).min()


def test_residual_matrix_gives_the_update_at_zero_head(small_blocks):
    _, tasks, B, _ = small_problem(seed=3)
    alpha = 0.2
    K = ft.finite_residual_matrix(B @ B.T, alpha, tasks)
    G_B, G_w = ft.finite_fo_anil_update(B, np.zeros(B.shape[1]), alpha, tasks)
    assert np.abs(G_B - alpha * K @ B).max() < 1e-12


def test_training_takes_the_update_steps_and_records(small_blocks):
    _, tasks, B, w = small_problem(seed=4)
    alpha, beta = 0.1, 0.05
    traj = ft.train_finite_fo_anil(B, alpha, beta, tasks, 3, w0=w, record=[1, 2])
    B1, w1 = B.copy(), w.copy()
    for _ in range(3):
        G_B, G_w = loop_update(B1, w1, alpha, tasks)
        B1, w1 = B1 - beta * G_B, w1 - beta * G_w
    assert np.abs(traj.B - B1).max() < 1e-12 and np.abs(traj.head - w1).max() < 1e-12
    assert list(traj.iterations) == [0, 1, 2, 3]
    P = np.eye(B.shape[0]) - tasks.B_star @ tasks.B_star.T
    assert abs(traj.perp_norm[-1] - np.linalg.norm(P @ B1)) < 1e-12
    assert np.allclose(traj.singular_values[-1], np.linalg.svd(B1, compute_uv=False))
    U_top = np.linalg.svd(B1)[0][:, : tasks.B_star.shape[1]]
    assert abs(traj.top_dist[-1] - subspace_distance(U_top, tasks.B_star)) < 1e-10
    assert traj.stopped_at == -1


def test_threads_share_the_blocks_and_agree_with_one_thread(small_blocks):
    _, tasks, B, w = small_problem(seed=6, T=333)
    Bs, ws = np.stack([B, 2 * B]), np.stack([w, -w])
    one = ft.finite_fo_anil_update(Bs, ws, 0.2, tasks)
    for workers in (2, 3):
        shared = ft.finite_fo_anil_update(Bs, ws, 0.2, tasks, workers=workers)
        for a, b in zip(shared, one, strict=True):
            assert np.abs(a - b).max() < 1e-13 * np.abs(b).max()
        again = ft.finite_fo_anil_update(Bs, ws, 0.2, tasks, workers=workers)
        assert all(np.array_equal(a, b) for a, b in zip(again, shared, strict=True))
    traj = ft.train_finite_fo_anil(B, 0.1, 0.05, tasks, 5, w0=w, workers=2)
    ref = ft.train_finite_fo_anil(B, 0.1, 0.05, tasks, 5, w0=w)
    assert (
        np.abs(traj.B - ref.B).max() < 1e-13
        and np.abs(traj.head - ref.head).max() < 1e-13
    )


def test_single_precision_products_change_a_step_and_a_run_by_rounding_only(
    small_blocks,
):
    _, tasks, B, w = small_problem(seed=7, d=7, k_width=7, T=333, m_in=5, m_out=4)
    double = ft.finite_fo_anil_update(B, w, 0.2, tasks)
    single = ft.finite_fo_anil_update(B, w, 0.2, tasks, precision="single")
    for a, b in zip(single, double, strict=True):
        rel = np.linalg.norm(a - b) / np.linalg.norm(b)
        assert 1e-10 < rel < 1e-5  # single precision was used, and it changed little
    kwargs = dict(w0=w, record=[50, 100])
    ref = ft.train_finite_fo_anil(B, 0.2, 0.2, tasks, 200, **kwargs)
    run = ft.train_finite_fo_anil(B, 0.2, 0.2, tasks, 200, precision="single", **kwargs)
    assert run.params["precision"] == "single" and ref.params["precision"] == "double"
    for name in ("perp_norm", "top_dist", "singular_values", "head_norm"):
        a, b = getattr(run, name), getattr(ref, name)
        assert np.abs(a / b - 1).max() < 1e-4, name


def test_multitask_matches_per_task_heads(small_blocks):
    _, tasks, B, _ = small_problem(seed=5, T=150)
    alpha, beta, steps = 0.1, 0.2, 4
    traj = ft.train_finite_multitask(B, alpha, beta, tasks, steps)
    X = np.concatenate([tasks.X_in, tasks.X_out], axis=1)
    y = np.concatenate([tasks.y_in, tasks.y_out], axis=1)
    W = np.zeros((tasks.n_tasks, B.shape[1]))
    B1 = B.copy()
    for _ in range(steps):
        G_B, G_W = op.multitask_gradients(B1, W, X=X, y=y)
        B1, W = B1 - beta * G_B, W - alpha * G_W
    assert np.abs(traj.B - B1).max() < 1e-12 and np.abs(traj.head - W).max() < 1e-12


def test_blowup_is_stopped_and_warned():
    _, tasks, B, _ = small_problem(seed=6)
    with pytest.warns(DivergenceWarning, match="beta"):
        traj = ft.train_finite_fo_anil(np.stack([B, B]), 0.1, 500.0, tasks, 200)
    assert np.all(traj.stopped_at > 0)
    assert np.all(np.isfinite(traj.B))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        ft.train_finite_fo_anil(B, 0.1, 0.01, tasks, 5)


def test_a_stopped_run_leaves_the_others_unchanged():
    _, tasks, B, _ = small_problem(seed=6)
    alone = ft.train_finite_fo_anil(B, 0.1, 0.5, tasks, 60, record=[10, 30])
    with pytest.warns(DivergenceWarning):
        both = ft.train_finite_fo_anil(
            np.stack([B, 40 * B]), 0.1, 0.5, tasks, 60, record=[10, 30]
        )
    assert both.stopped_at[0] == -1 and 0 < both.stopped_at[1] < 60
    assert np.abs(both.B[0] - alone.B).max() < 1e-12
    assert np.allclose(both.top_dist[0], alone.top_dist, rtol=1e-10, atol=1e-14)
    stopped = both.iterations >= both.stopped_at[1]
    assert np.all(np.isnan(both.perp_norm[1, stopped]))
    assert np.all(np.isfinite(both.perp_norm[1, ~stopped]))


def test_gaussian_start_scale():
    B = ft.gaussian_start(np.random.default_rng(0), 400, 300)
    assert B.shape == (400, 300) and abs(np.mean(B**2) * 400 - 1) < 0.02


# ------------------------------------------------------------------------------------------------
# Bad input: every public function names the argument
# ------------------------------------------------------------------------------------------------


def bad_calls():
    rng, tasks, B, w = small_problem(T=20)
    Bs, L = tasks.B_star, tasks.head_cov
    return {
        "sample_finite_tasks": [
            (lambda: ft.sample_finite_tasks(0, Bs, L, 10, 3, 2), "rng"),
            (lambda: ft.sample_finite_tasks(rng, Bs[0], L, 10, 3, 2), "B_star"),
            (lambda: ft.sample_finite_tasks(rng, Bs, L[:1], 10, 3, 2), "head_cov"),
            (lambda: ft.sample_finite_tasks(rng, Bs, -L, 10, 3, 2), "head_cov"),
            (lambda: ft.sample_finite_tasks(rng, Bs, L, 0, 3, 2), "n_tasks"),
            (lambda: ft.sample_finite_tasks(rng, Bs, L, 10, 2.5, 2), "m_in"),
            (lambda: ft.sample_finite_tasks(rng, Bs, L, 10, 3, -1), "m_out"),
            (lambda: ft.sample_finite_tasks(rng, Bs, L, 10, 3, 2, np.nan), "sigma"),
            (lambda: ft.sample_finite_tasks(rng, Bs * np.nan, L, 10, 3, 2), "B_star"),
        ],
        "finite_fo_anil_update": [
            (lambda: ft.finite_fo_anil_update(B[1:], w, 0.1, tasks), "B"),
            (lambda: ft.finite_fo_anil_update(B, w[1:], 0.1, tasks), "w"),
            (lambda: ft.finite_fo_anil_update(B, w, -0.1, tasks), "alpha"),
            (lambda: ft.finite_fo_anil_update(B, w, 0.1, "tasks"), "tasks"),
            (lambda: ft.finite_fo_anil_update(B * np.nan, w, 0.1, tasks), "B"),
            (lambda: ft.finite_fo_anil_update("B", w, 0.1, tasks), "B"),
            (
                lambda: ft.finite_fo_anil_update(B, w, 0.1, tasks, precision="half"),
                "precision",
            ),
            (lambda: ft.finite_fo_anil_update(B, w, 0.1, tasks, workers=0), "workers"),
            (
                lambda: ft.finite_fo_anil_update(B, w, 0.1, tasks, workers=1.5),
                "workers",
            ),
        ],
        "finite_residual_matrix": [
            (lambda: ft.finite_residual_matrix(B, 0.1, tasks), "M"),
            (lambda: ft.finite_residual_matrix(B @ B.T, 0.0, tasks), "alpha"),
            (lambda: ft.finite_residual_matrix(B @ B.T, 0.1, None), "tasks"),
        ],
        "train_finite_fo_anil": [
            (lambda: ft.train_finite_fo_anil(B[1:], 0.1, 0.1, tasks, 3), "B0"),
            (lambda: ft.train_finite_fo_anil(B, 0.1, 0, tasks, 3), "beta"),
            (lambda: ft.train_finite_fo_anil(B, np.inf, 0.1, tasks, 3), "alpha"),
            (lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, tasks, 0), "iterations"),
            (lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, tasks, 3, w0=w[:2]), "w0"),
            (
                lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, tasks, 3, record=[9]),
                "record",
            ),
            (lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, [], 3), "tasks"),
            (
                lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, tasks, 3, precision=32),
                "precision",
            ),
            (
                lambda: ft.train_finite_fo_anil(B, 0.1, 0.1, tasks, 3, workers=True),
                "workers",
            ),
        ],
        "train_finite_multitask": [
            (
                lambda: ft.train_finite_multitask(B[:, :, None], 0.1, 0.1, tasks, 3),
                "B0",
            ),
            (lambda: ft.train_finite_multitask(B, -1, 0.1, tasks, 3), "alpha"),
            (lambda: ft.train_finite_multitask(B, 0.1, 0.1, tasks, 2.5), "iterations"),
            (
                lambda: ft.train_finite_multitask(B, 0.1, 0.1, tasks, 3, record=[-1]),
                "record",
            ),
        ],
        "gaussian_start": [
            (lambda: ft.gaussian_start(None, 5, 3), "rng"),
            (lambda: ft.gaussian_start(rng, 0, 3), "d"),
            (lambda: ft.gaussian_start(rng, 5, 1.5), "k_width"),
        ],
    }


CALLS = bad_calls()

# every callable of finite_tasks but its two record classes has bad-input cases
test_bad_input_names_the_argument, test_bad_input_covers_every_callable = (
    bad_input_tests(CALLS, ft, exclude=("FiniteTasks", "FiniteTrajectory"))
)


def test_panel_draw_names_bad_arguments():
    from metalib import viz

    draw = viz.overparam_finite.draw_finite_tasks
    for kwargs, argument in (
        (dict(T=1), "T"),
        (dict(k_width=3), "k_width"),
        (dict(m_in=0), "m_in"),
        (dict(alpha=-0.1), "alpha"),
        (dict(beta=0.0), "beta"),
        (dict(start="uniform"), "start"),
        (dict(iterations=0), "iterations"),
    ):
        with pytest.raises(ValueError, match=argument):
            draw(**kwargs)


def test_panel_renders_at_defaults():
    from metalib import viz

    png, message = viz.overparam_finite.finite_tasks_panel().render()
    assert png[:4] == b"\x89PNG" and message == ""
