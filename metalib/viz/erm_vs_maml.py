"""Figures and panels of Part III (collins2020, :mod:`metalib.erm_vs_maml`): chapters 10 and 11.

Every function returns a :class:`matplotlib.figure.Figure` made with :func:`metalib.viz.new_figure`;
the numbers come from :mod:`metalib.erm_vs_maml` (computed here for the maps and panels, passed in
by
the chapter for the figures of its own simulations).

Chapter ``10_easy_and_hard_tasks``: :func:`plot_hardness` ({numref}`fig-hardness`),
:func:`plot_per_cluster` (`fig-per-cluster`), :func:`plot_gain_heatmap` (`fig-gain-heatmap`, and the
panel :func:`gain_map_panel`), :func:`plot_gain_vs_steps` (`fig-gain-steps`).
Chapter ``11_maml_gain_samples_and_representations``: :func:`plot_gain_vs_tau` (`fig-gain-vs-tau`,
and the panel :func:`samples_panel`), :func:`plot_sgd_omega` (`fig-sgd-omega`),
:func:`plot_representation` (`fig-representation`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm

from .. import erm_vs_maml
from ..validation import as_array, check_in_range, check_positive_int
from .panel import Panel
from .style import METHOD_STYLE, THEORY_STYLE, new_figure, plain_log_axis

__all__ = [
    "GAIN_MAP_MARKS",
    "plot_hardness",
    "plot_per_cluster",
    "plot_gain_heatmap",
    "plot_gain_vs_steps",
    "plot_gain_vs_tau",
    "plot_sgd_omega",
    "plot_representation",
    "gain_map_panel",
    "samples_panel",
]

#: the three configurations marked on chapter 10's map: (R_H, D, label)
GAIN_MAP_MARKS = (
    (0.05, 5.0, "packed, far"),
    (5.0, 5.0, "spread, far"),
    (0.05, 0.0, "packed, centered"),
)

_HARD, _EASY = "tab:blue", "tab:orange"


def plot_hardness(rho_H=0.1, rho_E=0.9, alpha=1.0, steps=10, N_values=(1, 2, 3)):
    """Hardness and reweighting (chapter 10): loss left after ``N`` steps, and each method's weight.

    Left: ``(1 - alpha rho)^(2N)`` for an easy and a hard task (eq. `eq-hardness`). Right: the
    weight
    of a task of curvature ``rho``, normalised to its maximum: ``rho`` for ERM, ``a(rho)`` for MAML
    (eq. `eq-iso-weight`).
    """
    rho_H = check_in_range("rho_H", rho_H, 1e-6, None)
    rho_E = check_in_range("rho_E", rho_E, 1e-6, None)
    alpha = check_in_range("alpha", alpha, 1e-6, None)
    steps = check_positive_int("steps", steps)
    fig, (ax0, ax1) = new_figure(2, width=4.5, height=3.4)
    grid = np.arange(0, steps + 1)
    for rho, name, color in [
        (rho_E, rf"easy, $\rho_E={rho_E:g}$", _EASY),
        (rho_H, rf"hard, $\rho_H={rho_H:g}$", _HARD),
    ]:
        ax0.semilogy(
            grid, (1 - alpha * rho) ** (2 * grid), "o-", color=color, label=name
        )
    ax0.set_xlabel("gradient steps $N$")
    ax0.set_ylabel("loss after $N$ steps / loss before")
    ax0.legend()
    rho_grid = np.linspace(0.001, 1.0 / alpha, 400)
    ax1.plot(rho_grid, rho_grid / rho_grid.max(), "k--", label=r"ERM: $\rho$")
    for N in N_values:
        a = erm_vs_maml.isotropic_weight(rho_grid, alpha, d=1, N=N)
        ax1.plot(rho_grid, a / a.max(), label=rf"MAML, $N={N}$")
    ax1.axvline(rho_H, color=_HARD, lw=0.8, ls=":")
    ax1.axvline(rho_E, color=_EASY, lw=0.8, ls=":")
    ax1.set_xlabel(rf"curvature $\rho$ (with $\alpha={alpha:g}$)")
    ax1.set_ylabel("weight (normalised)")
    ax1.legend(fontsize=8)
    return fig


def plot_per_cluster(sample, names=("hard tasks", "easy tasks")):
    """Mean post-adaptation loss per cluster and method, with two-standard-error whiskers (chapter
    10).

    Parameters
    ----------
    sample : erm_vs_maml.AdaptationSample
        From :func:`metalib.erm_vs_maml.simulate_adaptation` with ``[theta_ERM, theta_MAML]``.
    names : sequence of str
        One label per cluster.
    """
    if not isinstance(sample, erm_vs_maml.AdaptationSample):
        raise TypeError(
            f"sample must be an AdaptationSample, got {type(sample).__name__}"
        )
    if sample.losses.shape[0] != 2:
        raise ValueError(
            f"sample must hold two initializations (ERM, MAML), got {sample.losses.shape[0]}"
        )
    fig, ax = new_figure(width=5.5, height=3.2)
    for g in range(len(names)):
        sel = sample.losses[:, sample.cluster == g]
        for m, method in enumerate(("erm", "maml")):
            ax.bar(
                g + 0.2 * (2 * m - 1),
                sel[m].mean(),
                width=0.38,
                color=METHOD_STYLE[method]["color"],
                label=erm_vs_maml.LABELS[method] if g == 0 else None,
                yerr=2 * sel[m].std(ddof=1) / np.sqrt(sel.shape[1]),
                capsize=3,
            )
    ax.set_xticks(range(len(names)), list(names))
    ax.set_ylabel("mean loss after adaptation")
    ax.legend()
    return fig


def _gain_grid(R_H_grid, D_grid):
    R_H_grid = (
        np.logspace(np.log10(0.03), 1, 61)
        if R_H_grid is None
        else as_array("R_H_grid", R_H_grid, ndim=1)
    )
    D_grid = (
        np.linspace(0, 5, 61) if D_grid is None else as_array("D_grid", D_grid, ndim=1)
    )
    if np.any(R_H_grid <= 0):
        raise ValueError(
            "R_H_grid must hold positive spreads (the axis is logarithmic)"
        )
    if np.any(D_grid < 0):
        raise ValueError("D_grid must hold non-negative distances")
    return R_H_grid, D_grid


def plot_gain_heatmap(
    alpha=1.0,
    rho_H=0.1,
    rho_E=0.9,
    p_H=0.5,
    N=1,
    R_E=1.0,
    d=10,
    tau=None,
    R_H_grid=None,
    D_grid=None,
    marks=(),
):
    """The relative gain ``G`` over (hard-task spread ``R_H``, center distance ``D``) (chapter 10).

    Computed with :func:`metalib.erm_vs_maml.two_cluster` (eq. `eq-two-cluster-gain`).

    Parameters
    ----------
    alpha, rho_H, rho_E, p_H, N, R_E, d, tau : as in :func:`metalib.erm_vs_maml.two_cluster`
    R_H_grid : array_like, optional
        Spreads, positive (default: 61 log-spaced values from 0.03 to 10).
    D_grid : array_like, optional
        Distances, non-negative (default: 61 values from 0 to 5).
    marks : sequence of (R_H, D, label)
        Points to mark on the map.

    Returns
    -------
    fig : matplotlib.figure.Figure
    G : ndarray, shape (len(D_grid), len(R_H_grid))

    Raises
    ------
    ValueError
        For an invalid argument, or when the MAML objective is flat (both clusters solved exactly
        by the inner steps); the message names the argument.
    """
    R_H_grid, D_grid = _gain_grid(R_H_grid, D_grid)
    res = erm_vs_maml.two_cluster(
        R_H_grid[None, :],
        D_grid[:, None],
        rho_H=rho_H,
        rho_E=rho_E,
        p_H=p_H,
        alpha=alpha,
        d=d,
        N=N,
        tau=tau,
        R_E=R_E,
    )
    G = res.gain
    if not np.all(np.isfinite(G)):
        raise ValueError(
            "the gain is not finite on this grid (MAML's post-adaptation loss is 0 somewhere); "
            "use R_H_grid > 0 or R_E > 0"
        )
    fig, ax = new_figure(
        width=6.4, height=4.2, margins=dict(right=0.97, left=0.11, top=0.9)
    )
    ax.set_xscale("log")
    ax.set_xlabel(r"hard-task spread $R_H$")
    ax.set_ylabel(r"center distance $D=\|c_H-c_E\|$")
    top = max(float(G.max()), 1.01)
    mesh = ax.pcolormesh(
        R_H_grid,
        D_grid,
        G,
        norm=LogNorm(vmin=1, vmax=top),
        cmap="viridis",
        shading="nearest",
    )
    levels = [
        lv for lv in (1.1, 1.5, 2, 3, 5, 10, 30, 100, 300, 1000, 3000) if lv < top
    ]
    if levels:
        # level curves at the colour bar's ticks, unlabelled (text layout is the slow part)
        ax.contour(R_H_grid, D_grid, G, levels=levels, colors="white", linewidths=0.7)
    for r, dist, label in marks:
        right = r > np.sqrt(R_H_grid.min() * R_H_grid.max())
        ax.plot(
            [r], [dist], marker="o", ms=8, mfc="none", mec="red", mew=1.8, clip_on=False
        )
        ax.annotate(
            label,
            (r, dist),
            xytext=(-8 if right else 8, -14 if dist > D_grid.max() / 2 else 10),
            textcoords="offset points",
            ha="right" if right else "left",
            color="red",
            fontsize=8,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
        )
    cbar = fig.colorbar(mesh, ax=ax, label=r"relative gain $G$ (log scale)")
    ticks = [
        t for t in (1, 1.5, 2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10000) if t <= top
    ]
    cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cbar.minorticks_off()
    plain_log_axis(ax, "x")
    # plain text, not mathtext: parsing a new mathtext title costs more than the whole map
    ax.set_title(
        f"α = {alpha:g}, ρ_H = {rho_H:g}, ρ_E = {rho_E:g}, p_H = {p_H:g}, N = {N}:  "
        f"ω_ERM = {float(res.omega_erm.flat[0]):.2f}, "
        f"ω_MAML = {float(res.omega_maml.flat[0]):.2f}",
        fontsize=9,
    )
    return fig, G


def plot_gain_vs_steps(N_grid, curves, limits, points):
    """Relative gain against the number of inner steps (chapter 10).

    Parameters
    ----------
    N_grid : array_like of int
        Steps of the closed-form curves.
    curves : dict of label to array_like
        Closed-form ``G`` at ``N_grid`` for each configuration.
    limits : dict of label to float
        The ``N -> infinity`` limit of each configuration (eq. `eq-gain-many-steps`).
    points : dict of label to sequence of (N, G, standard error)
        Monte-Carlo estimates.
    """
    fig, ax = new_figure(width=6.0, height=3.6)
    colors = ["tab:green", "tab:blue", "tab:purple", "tab:brown"]
    for (label, G_N), color in zip(curves.items(), colors):
        ax.semilogy(N_grid, G_N, "-", color=color, label=label)
        ax.axhline(limits[label], color=color, ls="--", lw=0.8)
        for N, r, se in points.get(label, ()):
            ax.errorbar(N, r, yerr=2 * se, fmt="o", color=color, ms=4)
    ax.set_xlabel("inner steps $N$")
    ax.set_ylabel("relative gain $G$")
    ax.legend(fontsize=8)
    return fig


def plot_gain_vs_tau(
    d=20,
    R_H=0.1,
    D=5.0,
    rho_H=0.1,
    rho_E=0.9,
    p_H=0.5,
    alpha=1.0,
    R_E=1.0,
    sigma=0.0,
    mc_tau=None,
    mc_aware=None,
    mc_population=None,
    tau_range=(1.5, 1e5),
):
    """Relative gain over ERM against the test-time sample size ``tau`` (chapter 11).

    Lines: closed forms for sample-aware MAML (trained with the test ``tau``) and population-trained
    MAML; dotted: the population gain; dashed verticals: ``tau_0``, ``tau_cross``, ``tau_star`` of
    :func:`metalib.erm_vs_maml.sample_size_thresholds`. Optional Monte-Carlo points ``(G, standard
    error)`` rows at ``mc_tau``.
    """
    d = check_positive_int("d", d)
    check_in_range("R_H", R_H, 1e-9, None)
    check_in_range("D", D, 0, None)
    check_in_range("sigma", sigma, 0, None)
    lo, hi = tau_range
    taus = np.logspace(np.log10(lo), np.log10(hi), 300)
    kw = dict(rho_H=rho_H, rho_E=rho_E, p_H=p_H, alpha=alpha, d=d, R_E=R_E, sigma=sigma)
    aware = erm_vs_maml.two_cluster(R_H, D, tau=taus, **kw).gain
    population = erm_vs_maml.two_cluster(R_H, D, tau=taus, tau_train=None, **kw).gain
    G_inf = float(erm_vs_maml.two_cluster(R_H, D, **kw).gain)
    marks = erm_vs_maml.sample_size_thresholds(d, rho_H, rho_E, p_H, alpha)
    fig, ax = new_figure(width=7.0, height=4.0)
    ax.loglog(
        taus,
        aware,
        color=METHOD_STYLE["maml"]["color"],
        label=r"sample-aware MAML (trained with the test $\tau$)",
    )
    ax.loglog(
        taus, population, color="tab:purple", ls="--", label="population-trained MAML"
    )
    if mc_tau is not None:
        for rows, color, fmt in (
            (mc_aware, METHOD_STYLE["maml"]["color"], "o"),
            (mc_population, "tab:purple", "s"),
        ):
            if rows is not None:
                rows = np.asarray(rows)
                ax.errorbar(
                    mc_tau, rows[:, 0], yerr=2 * rows[:, 1], fmt=fmt, color=color, ms=4
                )
    ax.axhline(1, color="k", lw=0.8)
    ax.axhline(G_inf, color=METHOD_STYLE["maml"]["color"], ls=":", lw=1)
    low = max(min(float(population.min()), 1.0) / 1.5, 1e-3)
    high = max(G_inf, float(aware.max())) * 1.5
    for key, name in (
        ("tau_0", r"$\tau_0$"),
        ("tau_cross", r"$\tau_\times$"),
        ("tau_star", r"$\tau^\star$"),
    ):
        t = marks[key]
        if lo < t < hi:
            ax.axvline(t, **(THEORY_STYLE | dict(color="gray", lw=0.8)))
            ax.text(t * 1.08, low * 1.15, name, color="gray")
    ax.set_xlim(lo, hi)
    ax.set_ylim(low, high)
    plain_log_axis(ax, "xy")
    ax.set_xlabel(r"test-time samples $\tau$")
    ax.set_ylabel(
        r"$G=\mathcal{E}_\tau(\theta_{\rm ERM})/\mathcal{E}_\tau(\theta_{\rm MAML})$"
    )
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_sgd_omega(m_in, omega, omega_line, tau_line, omega_erm, omega_population):
    """Where SGD meta-training lands on the segment between the centers (chapter 11).

    Parameters
    ----------
    m_in : array_like
        Inner-batch sizes of the runs.
    omega : array_like, shape (len(m_in), 2)
        Mean position of the averaged iterates and its standard error.
    omega_line, tau_line : array_like
        The closed form ``omega_MAML(tau)`` at ``tau_line``.
    omega_erm, omega_population : float
        ERM's position and population MAML's.
    """
    omega = np.asarray(omega)
    fig, ax = new_figure(width=6.0, height=3.6)
    ax.semilogx(
        tau_line,
        omega_line,
        color=METHOD_STYLE["maml"]["color"],
        label=r"closed form $\omega_{\rm MAML}(\tau=m_{\rm in})$",
    )
    ax.errorbar(
        m_in,
        omega[:, 0],
        yerr=2 * omega[:, 1],
        fmt="o",
        color="k",
        ms=4,
        label="SGD, averaged iterate",
    )
    ax.axhline(
        omega_erm, **(METHOD_STYLE["erm"] | dict(label=r"ERM, $\omega_{\rm ERM}$"))
    )
    ax.axhline(
        omega_population,
        color=METHOD_STYLE["maml"]["color"],
        ls=":",
        label=r"population MAML, $\omega_{\rm MAML}(\infty)$",
    )
    ax.set_xlabel(r"inner-step samples $m_{\rm in}$")
    ax.set_ylabel(r"position $\omega$ between $c_E$ and $c_H$")
    ax.legend(fontsize=8)
    return fig


def plot_representation(tau_line, lines, tau_mc, points, G_inf):
    """Adapting in a learned ``k``-dimensional representation versus all ``d`` coordinates (chapter
    11).

    Parameters
    ----------
    tau_line : array_like
        Sample sizes of the closed-form lines.
    lines : dict of int to array_like
        Effective dimension -> closed-form ``G`` at ``tau_line``.
    tau_mc : array_like
        Sample sizes of the Monte-Carlo points.
    points : dict of int to array_like, shape (len(tau_mc), 2)
        Effective dimension -> Monte-Carlo ``(G, standard error)``.
    G_inf : float
        The population gain.
    """
    fig, (ax0, ax1) = new_figure(2, width=4.75, height=3.6)
    tau_line, tau_mc = np.asarray(tau_line, float), np.asarray(tau_mc, float)
    for (d_eff, line), color in zip(lines.items(), ["tab:blue", "tab:green"]):
        mc = np.asarray(points[d_eff])
        name = (
            f"all $d={d_eff}$ coordinates"
            if color == "tab:blue"
            else (f"head of a $k={d_eff}$ representation")
        )
        for ax, scale in ((ax0, 1.0), (ax1, d_eff + 1.0)):
            ax.semilogx(tau_line / scale, line, color=color, label=name)
            ax.errorbar(
                tau_mc / scale, mc[:, 0], yerr=2 * mc[:, 1], fmt="o", ms=4, color=color
            )
    for ax in (ax0, ax1):
        ax.axhline(G_inf, color="k", ls=":", lw=0.8)
        ax.axhline(1, color="k", lw=0.6)
    ax0.set_xlabel(r"test-time samples $\tau$")
    ax1.set_xlabel(r"$\tau/(d_{\rm eff}+1)$")
    ax0.set_ylabel("relative gain $G$")
    ax0.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------------


def _draw_gain_map(alpha, rho_H, rho_E, p_H, N, R_E=1.0, d=10):
    check_in_range("alpha", alpha, 0.2, 1.5)
    check_in_range("rho_H", rho_H, 0.02, 0.5)
    check_in_range("rho_E", rho_E, 0.05, 1.5)
    check_in_range("p_H", p_H, 0.05, 0.95)
    check_in_range("N", N, 0, 5, integer=True)
    fig, _ = plot_gain_heatmap(
        alpha, rho_H, rho_E, p_H, N, R_E=R_E, d=d, marks=GAIN_MAP_MARKS
    )
    return fig


def gain_map_panel(R_E=1.0, d=10):
    """Chapter 10's panel: the map of ``G`` over ``(R_H, D)`` with sliders for ``alpha``, ``rho_H``,
    ``rho_E``, ``p_H`` and ``N``.

    The ranges keep ``alpha rho_H < 1`` (hard tasks are never solved in one step), so the MAML
    objective is never flat and every setting draws.
    """
    from ipywidgets import FloatSlider, IntSlider

    def slider(value, low, high, step, text):
        return FloatSlider(value=value, min=low, max=high, step=step, description=text)

    controls = dict(
        alpha=slider(1.0, 0.2, 1.5, 0.05, "α"),
        rho_H=slider(0.1, 0.02, 0.5, 0.02, "ρ_H"),
        rho_E=slider(0.9, 0.05, 1.5, 0.05, "ρ_E"),
        p_H=slider(0.5, 0.05, 0.95, 0.05, "p_H"),
        N=IntSlider(value=1, min=0, max=5, step=1, description="N"),
    )
    return Panel(_draw_gain_map, controls, fixed=dict(R_E=R_E, d=d))


def _draw_samples(d, rho_E, R_H, D, sigma, rho_H=0.1, p_H=0.5, alpha=1.0, R_E=1.0):
    check_in_range("d", d, 1, 200, integer=True)
    check_in_range("rho_E", rho_E, 0.2, 0.98)
    check_in_range("R_H", R_H, 0.01, 5.1)
    check_in_range("D", D, 0.0, 10.0)
    check_in_range("sigma", sigma, 0.0, 2.0)
    return plot_gain_vs_tau(
        d=d,
        R_H=R_H,
        D=D,
        rho_H=rho_H,
        rho_E=rho_E,
        p_H=p_H,
        alpha=alpha,
        R_E=R_E,
        sigma=sigma,
    )


def samples_panel():
    """Chapter 11's panel: ``G`` against the test-time sample size ``tau``, with sliders for the
    adaptation dimension ``d`` (or ``k``), ``rho_E``, ``R_H``, ``D`` and the label noise ``sigma``.

    ``rho_H = 0.1``, ``p_H = 1/2``, ``alpha = 1`` and ``R_E = 1`` are fixed; the ranges keep
    ``rho_H < rho_E < 1/alpha``, where the three sample sizes of the chapter exist.
    """
    from ipywidgets import FloatLogSlider, FloatSlider, IntSlider

    controls = dict(
        d=IntSlider(value=20, min=1, max=200, step=1, description="d (or k)"),
        rho_E=FloatSlider(value=0.9, min=0.2, max=0.98, step=0.02, description="ρ_E"),
        R_H=FloatLogSlider(
            value=0.1, base=10, min=-2, max=np.log10(5), step=0.05, description="R_H"
        ),
        D=FloatSlider(value=5.0, min=0.0, max=10.0, step=0.25, description="D"),
        sigma=FloatSlider(value=0.0, min=0.0, max=2.0, step=0.1, description="σ"),
    )
    return Panel(
        _draw_samples, controls, fixed=dict(rho_H=0.1, p_H=0.5, alpha=1.0, R_E=1.0)
    )
