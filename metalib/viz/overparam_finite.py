"""Figures and the panel of ``chapters/07_finite_tasks``: a fixed task set beside the limit.

* :func:`finite_vs_infinite_figure`: ``||B_perp||_F``, the top-``k`` subspace distance and the
  singular values of ``B_t`` over training, finite task set (solid) against infinite tasks (dashed);
* :func:`scaling_figure`: the distance plateau and the stalled ``sigma_{k+1}`` against ``T``, with
  the fitted power laws;
* :func:`risk_figure`: the one-step excess risk on fresh tasks against the new task's sample count;
* :func:`finite_tasks_panel`: the panel (``T``, ``k'``, ``m_in``, ``alpha``, ``beta``, start).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_choice, check_in_range, check_positive_float
from .panel import Panel
from .style import METHOD_STYLE, STOP_MARK, THEORY_STYLE, new_figure, plain_log_axis

__all__ = [
    "finite_vs_infinite_figure",
    "scaling_figure",
    "risk_figure",
    "draw_finite_tasks",
    "finite_tasks_panel",
]

_START_COLOR = {"isotropic": "tab:blue", "Gaussian": "tab:red"}


def _stop(ax, traj, j, values, color):
    """Mark where run ``j`` stopped (at its last recorded finite value)."""
    stopped = np.asarray(traj.stopped_at).reshape(-1)[j]
    if stopped >= 0:
        ok = np.isfinite(values)
        if ok.any():
            last = np.flatnonzero(ok)[-1]
            ax.plot(traj.iterations[last], values[last], color=color, **STOP_MARK)


def finite_vs_infinite_figure(finite, infinite, k, starts=("isotropic", "Gaussian")):
    """Four panels over training: ``||B_perp||_F``, top-``k`` distance, singular values per start.

    Parameters
    ----------
    finite : FiniteTrajectory
        Runs on the fixed task set, leading dimension = the starts.
    infinite : OverparamTrajectory
        The infinite-task recursion from the same starts, recorded at the same iterations.
    k : int
    starts : sequence of str
        Names of the starts (legend).

    Returns
    -------
    matplotlib.figure.Figure
    """
    # room on the left for the y labels and the mantissa tick labels of the log axes
    fig, axes = new_figure(
        ncols=2, nrows=2, width=4.6, height=3.0, margins=dict(left=0.11, wspace=0.32)
    )
    t_f, t_i = finite.iterations[1:], infinite.iterations[1:]
    (ax0, ax1), (ax2, ax3) = axes
    for j, name in enumerate(starts):
        c = _START_COLOR.get(name, f"C{j}")
        ax0.loglog(
            t_f, finite.perp_norm[j, 1:], color=c, lw=2, label=f"{name}, $T$ tasks"
        )
        ax0.loglog(
            t_i, infinite.perp_norm[j, 1:], color=c, ls="--", lw=1.2, label="infinite"
        )
        _stop(ax0, finite, j, finite.perp_norm[j], c)
        ax1.loglog(t_f, finite.top_dist[j, 1:], color=c, lw=2)
        ax1.loglog(
            t_i, np.maximum(infinite.top_dist[j, 1:], 1e-16), color=c, ls="--", lw=1.2
        )
    ax0.set_ylabel(r"$\|B_\perp\|_F$")
    ax0.legend(fontsize=7, loc="lower left", ncol=2)
    ax1.set_ylabel(f"top-{k} subspace distance")
    ax1.set_ylim(1e-6, 2)
    for ax, j in ((ax2, 0), (ax3, len(starts) - 1)):
        c = _START_COLOR.get(starts[j], f"C{j}")
        ax.loglog(t_f, finite.singular_values[j, 1:, :k], color="0.3", lw=1.2)
        ax.loglog(t_f, finite.singular_values[j, 1:, k:], color=c, lw=0.8, alpha=0.7)
        ax.loglog(t_i, infinite.singular_values[j, 1:, k], color="k", ls="--", lw=1.2)
        ax.set_title(f"singular values, {starts[j]} start", fontsize=9)
        ax.set_ylim(max(1e-3, 0.5 * np.nanmin(finite.singular_values[j, 1:, -1])), 5)
    ax2.set_ylabel(r"$\sigma_j(B_t)$ (dashed: $\sigma_{k+1}$, infinite)")
    for ax in (ax2, ax3):
        ax.set_xlabel("iteration $t$")
    return fig


def scaling_figure(T_values, plateau, stall, measured=None):
    """The predicted distance plateau and stall against ``T`` (one point per task set), with fits.

    Parameters
    ----------
    T_values : array_like, shape (n,)
    plateau, stall : array_like, shape (n, seeds)
        Predictions for each ``T`` and task set.
    measured : dict, optional
        ``{"T": array, "plateau": array, "stall": array}`` of simulated values to overlay.

    Returns
    -------
    matplotlib.figure.Figure
    """
    T_values = np.asarray(T_values, dtype=float)
    fig, axes = new_figure(ncols=2, width=4.4, height=3.0)
    for ax, values, name in (
        (axes[0], plateau, "distance plateau"),
        (axes[1], stall, "stall"),
    ):
        values = np.asarray(values)
        x = np.repeat(T_values, values.shape[1])
        ax.loglog(
            x, values.reshape(-1), "o", color="0.5", ms=3, label="prediction, each set"
        )
        slope, icpt = np.polyfit(np.log(x), np.log(values.reshape(-1)), 1)
        ax.loglog(T_values, np.exp(icpt) * T_values**slope, **THEORY_STYLE)
        ax.text(0.55, 0.85, f"slope {slope:.2f}", transform=ax.transAxes, fontsize=8)
        if measured is not None:
            key = "plateau" if ax is axes[0] else "stall"
            ax.loglog(
                measured["T"],
                measured[key],
                "s",
                color="tab:cyan",
                ms=6,
                label="simulated",
            )
        ax.set_xlabel("number of tasks $T$")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=7, loc="lower left")
    return fig


def risk_figure(taus, curves, m_in):
    """One-step excess risk on fresh tasks against their sample count ``tau``.

    Parameters
    ----------
    taus : array_like
    curves : dict of str to array_like
        Keys among ``"finite"``, ``"infinite"``, ``"multitask"``, ``"oracle"``.
    m_in : int
        Marked by a vertical line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    styles = {
        "finite": dict(color=METHOD_STYLE["fo_anil"]["color"], ls="-", lw=2.0),
        "infinite": dict(color="k", ls="--", lw=1.2),
        "multitask": dict(METHOD_STYLE["multitask"], lw=1.8),
        "oracle": dict(color="0.4", ls=":", lw=1.5),
    }
    labels = {
        "finite": r"FO-ANIL, $T$ tasks, step $\alpha$",
        "infinite": r"FO-ANIL, infinite tasks, step $\alpha$",
        "multitask": "multi-task learner, best step",
        "oracle": "oracle",
    }
    fig, ax = new_figure(width=5.6, height=3.4)
    for key, values in curves.items():
        ax.loglog(taus, values, label=labels[key], **styles[key])
    ax.axvline(m_in, color="0.7", lw=0.8)
    ax.set_xlabel(r"samples of the new task $\tau$")
    ax.set_ylabel("one-step excess risk")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def draw_finite_tasks(
    T=200,
    k_width=10,
    m_in=20,
    alpha=0.1,
    beta=0.1,
    start="isotropic",
    iterations=150,
    seed=7,
):
    """The panel's figure: one finite task set against the infinite-task recursion, same start.

    The model is the paper's (``d = 50``, ``k = 5``, ``sigma^2 = 4``, ``Lambda_* = diag(1..5)``,
    ``m_out = 10``); the task set and the start are drawn from ``seed``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .. import overparam
    from ..linrep import initial_representation
    from ..overparam import finite_tasks as ft
    from ..subspace import random_orthonormal

    d, k, sigma, m_out = 50, 5, 2.0, 10
    T = check_in_range("T", T, 2, 20000, integer=True)
    k_width = check_in_range("k_width", k_width, k, d, integer=True)
    m_in = check_in_range("m_in", m_in, 1, 1000, integer=True)
    alpha = check_positive_float("alpha", alpha)
    beta = check_positive_float("beta", beta)
    start = check_choice("start", start, ("isotropic", "Gaussian"))
    iterations = check_in_range("iterations", iterations, 1, 100000, integer=True)
    rng = np.random.default_rng(seed)
    B_star = random_orthonormal(d, k, rng)
    head_cov = np.diag(np.arange(1.0, k + 1))
    if start == "isotropic":
        B0 = initial_representation(B_star, alpha, rng, k_width=k_width)
    else:
        B0 = ft.gaussian_start(rng, d, k_width)
    tasks = ft.sample_finite_tasks(rng, B_star, head_cov, T, m_in, m_out, sigma)
    record = np.unique(np.geomspace(1, iterations, 20).astype(int))
    fin = ft.train_finite_fo_anil(B0, alpha, beta, tasks, iterations, record=record)
    inf = overparam.train_expected_fo_anil(
        B0, alpha, beta, B_star, head_cov, m_in, iterations, sigma, record=record
    )
    fig, axes = new_figure(ncols=3, width=3.3, height=2.9)
    c_f, c_i = METHOD_STYLE["fo_anil"]["color"], "k"
    t = fin.iterations[1:]
    series = (
        (fin.perp_norm, inf.perp_norm, r"$\|B_\perp\|_F$"),
        (fin.top_dist, inf.top_dist, f"top-{k} distance"),
        (
            fin.singular_values[:, k] if k_width > k else fin.singular_values[:, -1],
            inf.singular_values[:, k] if k_width > k else inf.singular_values[:, -1],
            r"$\sigma_{k+1}(B_t)$" if k_width > k else r"$\sigma_k(B_t)$",
        ),
    )
    for ax, (f_vals, i_vals, name) in zip(axes, series):
        f_vals, i_vals = np.asarray(f_vals), np.asarray(i_vals)
        ok_f, ok_i = np.isfinite(f_vals[1:]), np.isfinite(i_vals[1:])
        ax.loglog(
            t[ok_f],
            np.maximum(f_vals[1:][ok_f], 1e-16),
            color=c_f,
            lw=2,
            label=f"T={T}",
        )
        ax.loglog(
            t[ok_i],
            np.maximum(i_vals[1:][ok_i], 1e-16),
            color=c_i,
            ls="--",
            label="inf.",
        )
        for traj, vals, c in ((fin, f_vals, c_f), (inf, i_vals, c_i)):
            if (
                np.asarray(traj.stopped_at).reshape(-1)[0] >= 0
                and np.isfinite(vals).any()
            ):
                last = np.flatnonzero(np.isfinite(vals))[-1]
                ax.plot(
                    traj.iterations[last], max(vals[last], 1e-16), color=c, **STOP_MARK
                )
        ax.set_title(name, fontsize=9)
        # plain text: typesetting math costs time at each render
        ax.set_xlabel("iteration t")
        plain_log_axis(ax, "xy")
    axes[0].legend(fontsize=7, loc="lower left")
    return fig


def finite_tasks_panel():
    """The panel of chapter 07: ``T``, ``k'``, ``m_in``, ``alpha``, ``beta`` and the start.

    Returns
    -------
    Panel
    """
    from ipywidgets import Dropdown, FloatSlider, IntSlider

    controls = dict(
        T=IntSlider(value=200, min=200, max=1000, step=100, description="T (tasks)"),
        k_width=IntSlider(value=10, min=5, max=50, step=1, description="k'"),
        m_in=IntSlider(value=20, min=10, max=40, step=5, description="m_in"),
        alpha=FloatSlider(value=0.1, min=0.05, max=0.2, step=0.01, description="alpha"),
        beta=FloatSlider(value=0.1, min=0.02, max=0.2, step=0.02, description="beta"),
        start=Dropdown(
            options=["isotropic", "Gaussian"], value="isotropic", description="start"
        ),
    )
    return Panel(draw_finite_tasks, controls, fixed=dict(iterations=150, seed=7))
