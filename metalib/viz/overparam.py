"""Figures and panels of Part II (yuksel2023, chapters 05 and 06).

* :func:`plot_width_penalty`, :func:`width_penalty_panel`: the one-step risk with and without
  leftover width (chapter 05, lemma `lem-op-width-penalty`);
* :func:`plot_unlearning`, :func:`unlearning_panel`: FO-ANIL against the multi-task learner from the
  same start, ``||B_perp||_F`` and the singular values of ``B_t`` (chapter 06, eq.
  `eq-op-cubic-law`).
"""

from __future__ import annotations

import math

import numpy as np

from .. import overparam
from ..linrep import initial_representation
from ..validation import check_in_range, check_positive_int
from .panel import Panel
from .style import (
    LABELS,
    METHOD_STYLE,
    STOP_MARK,
    THEORY_STYLE,
    new_figure,
    plain_log_axis,
)

__all__ = [
    "plot_z_scores",
    "plot_perp_norm",
    "plot_singular_values",
    "plot_paper_width",
    "plot_adaptation",
    "plot_width_penalty",
    "width_penalty_panel",
    "plot_unlearning",
    "unlearning_panel",
]

_ORACLE = dict(color="k", ls=":", lw=1.2)

#: a panel's title at a fixed height: an automatic one measures every tick label of the axes
_TITLE = dict(fontsize=10, y=1.0)


def plot_width_penalty(
    B_star,
    head_cov,
    alpha,
    m_in,
    extra=5,
    rho=1.0,
    sigma=2.0,
    m_max=200,
    monte_carlo=None,
):
    """One-step excess risk versus the new task's sample size, with and without leftover width.

    The y-axis follows the curves, so that none leaves the chart at any setting of the panel.

    Parameters
    ----------
    B_star : array_like, shape (d, k)
    head_cov : array_like, shape (k, k)
    alpha : float
    m_in : int
        Inner sample size FO-ANIL was trained with (its limit is tuned to it).
    extra : int
        Leftover columns ``k' - k``, in ``[0, d - k]``.
    rho : float
        Their size in units of the initial scale ``1 / sqrt(alpha)``.
    sigma : float
    m_max : int
        Largest sample size of the new task.
    monte_carlo : tuple of arrays (taus, means, standard errors), optional
        Monte-Carlo estimates of the wide representation's risk, drawn with two-standard-error bars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    m_max = check_positive_int("m_max", m_max)
    if m_max < 3:
        raise ValueError(f"m_max must be at least 3, got {m_max}")
    taus = np.unique(np.geomspace(2, m_max, 40).astype(int))
    narrow = overparam.width_penalty_representation(
        B_star, head_cov, m_in, alpha, 0, 0.0, sigma
    )
    wide = overparam.width_penalty_representation(
        B_star, head_cov, m_in, alpha, extra, rho, sigma
    )
    r_narrow = overparam.one_step_excess_risk(
        narrow, alpha, B_star, head_cov, taus, sigma
    )
    r_wide = overparam.one_step_excess_risk(wide, alpha, B_star, head_cov, taus, sigma)
    best = overparam.best_one_step_size(wide, B_star, head_cov, taus, sigma)
    r_best = overparam.one_step_excess_risk(wide, best, B_star, head_cov, taus, sigma)
    r_oracle = overparam.oracle_one_step_risk(head_cov, taus, sigma)
    fo = METHOD_STYLE["fo_anil"]["color"]
    fig, ax = new_figure(width=6.4, height=3.8, margins=dict(left=0.12, top=0.9))
    ax.loglog(
        taus,
        r_narrow,
        color=fo,
        lw=2,
        label=r"FO-ANIL's limit, width $k$, step $\alpha$",
    )
    ax.loglog(
        taus, r_wide, color="tab:red", lw=2, label=rf"plus {extra} leftover columns"
    )
    ax.loglog(
        taus,
        r_best,
        color="tab:red",
        ls="--",
        lw=1.2,
        label=r"the same, best step per $\tau$",
    )
    ax.loglog(taus, r_oracle, **_ORACLE, label=r"oracle $B_*\Gamma^*B_*^\top$")
    ax.axvline(m_in, color="0.6", lw=0.8)
    everything = np.concatenate([r_narrow, r_wide, r_best, r_oracle])
    if monte_carlo is not None:
        m_taus, means, ses = (np.asarray(a, dtype=float) for a in monte_carlo)
        ax.errorbar(
            m_taus,
            means,
            yerr=2 * ses,
            fmt="o",
            color="tab:red",
            ms=5,
            label="Monte Carlo",
        )
        everything = np.concatenate(
            [everything, means + 2 * ses, np.maximum(means - 2 * ses, 1e-12)]
        )
    ax.set_ylim(0.7 * everything.min(), 1.4 * everything.max())
    plain_log_axis(ax, "xy")
    ax.set_xlabel(r"samples of the new task $\tau$")
    ax.set_ylabel("one-step excess risk $R$")
    trace = float(np.trace(np.asarray(head_cov, dtype=float))) + sigma**2
    at_m = float(
        overparam.one_step_excess_risk(wide, alpha, B_star, head_cov, m_in, sigma)
        - overparam.one_step_excess_risk(narrow, alpha, B_star, head_cov, m_in, sigma)
    )
    ax.set_title(
        f"penalty at tau = m_in = {m_in}: {at_m:.3g} "
        f"(lemma: {trace * extra * rho**4 / m_in:.3g})",
        **_TITLE,
    )
    ax.legend(fontsize=8, loc="lower left")
    return fig


def width_penalty_panel(B_star, head_cov, alpha, m_in):
    """Chapter 05's panel: leftover width ``k' - k``, its size ``rho`` and the label noise
    ``sigma``."""
    from ipywidgets import FloatSlider, IntSlider

    d, k = np.shape(B_star)

    def draw(extra, rho, sigma):
        check_in_range("extra", extra, 0, d - k, integer=True)
        check_in_range("rho", rho, 0.0, 1.5)
        check_in_range("sigma", sigma, 0.0, 4.0)
        return plot_width_penalty(B_star, head_cov, alpha, m_in, extra, rho, sigma)

    controls = dict(
        extra=IntSlider(value=5, min=0, max=d - k, step=1, description="k' - k"),
        rho=FloatSlider(value=1.0, min=0.0, max=1.5, step=0.05, description="size rho"),
        sigma=FloatSlider(value=2.0, min=0.0, max=4.0, step=0.25, description="sigma"),
    )
    return Panel(draw, controls)


def _mark_stops(ax, run, values, color):
    """Mark each stopped run at the iteration where it stopped, at its last finite value."""
    for stop, series in zip(np.atleast_1d(run.stopped_at), np.atleast_2d(values)):
        if stop < 0:
            continue
        finite = np.isfinite(series)
        if finite.any():
            ax.plot(
                run.iterations[finite][-1], series[finite][-1], color=color, **STOP_MARK
            )


def plot_unlearning(
    B_star,
    head_cov,
    sigma,
    k_width=10,
    m_in=20,
    alpha=0.1,
    beta=0.1,
    iterations=2000,
    seed=0,
):
    """FO-ANIL versus the multi-task learner from the same start (chapter 06).

    Starts both learners from ``initial_representation(B_star, alpha, default_rng(seed),
    k_width=k_width)``; draws ``||B_perp||_F`` with the law ``sqrt(k' - k) (2 alpha^2 beta nu
    t)^{-1/2}``
    (eq. `eq-op-cubic-law`) and the floor of lemma `lem-op-frozen-kernel`, and FO-ANIL's singular
    values.
    A run that blew up is marked where it stopped.

    Returns
    -------
    fig : matplotlib.figure.Figure
    fo, mtl : OverparamTrajectory
    """
    k = np.shape(B_star)[1]
    k_width = check_positive_int("k_width", k_width)
    if k_width < k:
        raise ValueError(f"k_width must be at least k = {k}, got {k_width}")
    iterations = check_positive_int("iterations", iterations)
    B0 = initial_representation(
        B_star, alpha, np.random.default_rng(seed), k_width=k_width
    )
    record = np.unique(np.geomspace(1, iterations, 60).astype(int))
    fo = overparam.train_expected_fo_anil(
        B0, alpha, beta, B_star, head_cov, m_in, iterations, sigma, record=record
    )
    mtl = overparam.train_multitask(
        B0, alpha, beta, B_star, head_cov, iterations, record=record
    )
    t = fo.iterations[1:]
    c_fo, c_mt = METHOD_STYLE["fo_anil"]["color"], METHOD_STYLE["multitask"]["color"]
    fig, (ax0, ax1) = new_figure(ncols=2, width=5.0, height=3.6, margins=dict(top=0.88))
    ax0.loglog(
        t,
        fo.perp_norm[1:],
        color=c_fo,
        lw=2,
        label=f"{LABELS['fo_anil']}, m_in = {m_in}",
    )
    ax0.loglog(t, mtl.perp_norm[1:], color=c_mt, lw=2, label=LABELS["multitask"])
    _mark_stops(ax0, fo, fo.perp_norm, c_fo)
    _mark_stops(ax0, mtl, mtl.perp_norm, c_mt)
    shown = [fo.perp_norm, mtl.perp_norm]
    if k_width > k:
        floor = overparam.frozen_kernel_floor(k, k_width, alpha)
        ax0.axhline(floor, color="0.5", ls=":", lw=1, label="frozen-kernel floor")
        if m_in != math.inf:
            nu = overparam.inner_noise(head_cov, m_in, sigma)
            law = math.sqrt(k_width - k) * overparam.unlearning_law(t, alpha, beta, nu)
            ax0.loglog(
                t,
                law,
                **THEORY_STYLE,
                label=r"law $\sqrt{k'-k}\,(2\alpha^2\beta\nu t)^{-1/2}$",
            )
    finite = np.concatenate([s[np.isfinite(s) & (s > 0)] for s in shown])
    if finite.size:
        ax0.set_ylim(max(1e-3, 0.5 * finite.min()), 2 * finite.max())
    ax0.set_xlabel("iteration $t$")
    ax0.set_ylabel(r"$\|B_\perp\|_F$")
    ratio_fo = fo.perp_norm[0] / fo.perp_norm[np.isfinite(fo.perp_norm)][-1]
    ratio_mtl = mtl.perp_norm[0] / mtl.perp_norm[np.isfinite(mtl.perp_norm)][-1]
    ax0.set_title(
        f"start / end: FO-ANIL {ratio_fo:.3g}, multi-task {ratio_mtl:.3g}", **_TITLE
    )
    ax0.legend(fontsize=8, loc="lower left")
    ax1.loglog(t, fo.singular_values[1:, :k], color=c_fo, lw=1.5)
    if k_width > k:
        ax1.loglog(t, fo.singular_values[1:, k:], color="tab:red", lw=1.0)
    _mark_stops(ax1, fo, fo.singular_values[..., 0], c_fo)
    gram = overparam.fixed_point_gram(alpha, head_cov, m_in, sigma)
    for value in np.sqrt(np.linalg.eigvalsh(gram)):
        ax1.axhline(value, color="0.5", ls=":", lw=1)
    sv = fo.singular_values[np.isfinite(fo.singular_values) & (fo.singular_values > 0)]
    if sv.size:
        ax1.set_ylim(max(1e-4, 0.5 * sv.min()), 2 * sv.max())
    ax1.set_xlabel("iteration $t$")
    ax1.set_ylabel(r"singular values of $B_t$ (FO-ANIL)")
    for ax in (ax0, ax1):
        plain_log_axis(ax, "xy")
    ax1.set_title(f"top {k} settle; the other {k_width - k} (red) decay", **_TITLE)
    return fig, fo, mtl


def unlearning_panel(B_star, head_cov, sigma, seed=7):
    """Chapter 06's panel: width ``k'``, inner sample size, the two step sizes, run length."""
    from ipywidgets import Dropdown, FloatSlider, IntSlider

    d, k = np.shape(B_star)

    def draw(k_width, m_in, alpha, beta, iterations):
        check_in_range("k_width", k_width, k, d, integer=True)
        check_in_range("alpha", alpha, 0.02, 0.3)
        check_in_range("beta", beta, 0.02, 0.5)
        check_in_range("iterations", iterations, 500, 20_000, integer=True)
        fig, _, _ = plot_unlearning(
            B_star, head_cov, sigma, k_width, m_in, alpha, beta, iterations, seed=seed
        )
        return fig

    controls = dict(
        k_width=IntSlider(value=10, min=k, max=d, step=1, description="k'"),
        m_in=Dropdown(
            options=[
                ("5", 5),
                ("10", 10),
                ("20", 20),
                ("50", 50),
                ("100", 100),
                ("infinity", math.inf),
            ],
            value=20,
            description="m_in",
        ),
        alpha=FloatSlider(value=0.1, min=0.02, max=0.3, step=0.01, description="alpha"),
        beta=FloatSlider(value=0.1, min=0.02, max=0.5, step=0.01, description="beta"),
        iterations=IntSlider(
            value=2000, min=500, max=20_000, step=500, description="iterations"
        ),
    )
    return Panel(draw, controls)


def plot_z_scores(z_scores, pairs, wrong):
    """Chapter 05's check of the expected update: histograms of z-scores and sorted |z|
    (fig-op-mc-check).

    Parameters
    ----------
    z_scores : dict of str to ndarray
    pairs : sequence of str
        Keys drawn as histograms against the N(0, 1) density (left).
    wrong : dict of str to str
        Keys drawn as sorted |z| (right), with their legend labels; the first is the right formula.
    """
    fig, (ax0, ax1) = new_figure(ncols=2, width=5.0, height=3.6)
    grid = np.linspace(-4.5, 4.5, 200)
    for j, label in enumerate(pairs):
        ax0.hist(
            z_scores[label],
            bins=np.linspace(-4.5, 4.5, 31),
            density=True,
            alpha=0.5,
            color=f"C{j}",
            label=label,
        )
    ax0.plot(
        grid,
        np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi),
        "k-",
        lw=1.2,
        label=r"$\mathcal{N}(0,1)$",
    )
    ax0.set_xlabel("$z$-score of an entry")
    ax0.set_ylabel("density")
    ax0.legend(fontsize=8)
    for color, (key, label) in zip(("C0", "C3", "C2", "C4"), wrong.items()):
        z = np.sort(np.abs(z_scores[key]))[::-1]
        ax1.semilogy(np.arange(1, z.size + 1), z, color=color, lw=1.8, label=label)
    ax1.axhline(3, color="0.5", ls=":", lw=1)
    ax1.set_xlabel("entries, sorted by $|z|$")
    ax1.set_ylabel("$|z|$")
    ax1.legend(fontsize=8)
    return fig


def plot_perp_norm(t, curves, laws=(), floor=None):
    """``||B_perp||_F`` over training for several runs, with predicted laws and a floor (chapter
    06).

    Parameters
    ----------
    t : ndarray, shape (R,)
        Iterations (positive).
    curves : dict of str to (ndarray of shape (R,), dict of line style)
    laws : sequence of (ndarray of shape (R,), dict of line style, str or None)
        Predictions drawn over the curves.
    floor : float, optional
        The frozen-kernel floor, a dotted horizontal line.
    """
    fig, ax = new_figure(width=6.4, height=3.9)
    shown = []
    for label, (values, style) in curves.items():
        ax.loglog(t, values, label=label, **style)
        shown.append(values)
    for values, style, label in laws:
        ax.loglog(t, values, label=label, **style)
    if floor is not None:
        ax.axhline(
            floor, color="0.4", ls=":", lw=1.2, label=r"floor $\sqrt{(k'-k)/\alpha}$"
        )
    values = np.concatenate(shown)
    values = values[np.isfinite(values) & (values > 0)]
    ax.set_ylim(0.5 * values.min(), 2 * values.max())
    ax.set_xlabel("iteration $t$")
    ax.set_ylabel(r"$\|B_\perp\|_F$")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_singular_values(fo, mtl, k, limits, law, alpha):
    """Singular values of ``B_t``: FO-ANIL (left) and the multi-task learner (right)
    (fig-op-singular-values)."""
    fig, (ax0, ax1) = new_figure(ncols=2, width=5.0, height=3.8)
    t = fo.iterations[1:]
    ax0.loglog(t, fo.singular_values[1:, :k], color="tab:blue", lw=1.5)
    ax0.loglog(t, fo.singular_values[1:, k:], color="tab:red", lw=1.5)
    for value in limits:
        ax0.axhline(value, color="0.5", ls=":", lw=1)
    ax0.loglog(t, law, "k--", lw=1)
    ax0.set_title("FO-ANIL", fontsize=10)
    ax1.loglog(mtl.iterations[1:], mtl.singular_values[1:], color="tab:orange", lw=1.5)
    ax1.axhline(1 / np.sqrt(alpha), color="0.5", ls=":", lw=1)
    ax1.set_title("multi-task learner", fontsize=10)
    low = 0.5 * np.nanmin(fo.singular_values[-1])
    for ax in (ax0, ax1):
        ax.set_xlabel("iteration $t$")
        ax.set_ylim(low, 2 / np.sqrt(alpha))
    ax0.set_ylabel("singular values of $B_t$")
    return fig


def plot_paper_width(fo, mtl, k, limits, law_sv, law_perp):
    """The paper's width ``k' = d``: FO-ANIL's singular values, and ``||B_perp||_F`` of both
    learners."""
    fig, (ax0, ax1) = new_figure(ncols=2, width=5.0, height=3.8)
    t = fo.iterations[1:]
    ax0.loglog(t, fo.singular_values[1:, :k], color="tab:blue", lw=1.5)
    ax0.loglog(t, fo.singular_values[1:, k:], color="tab:red", lw=1, alpha=0.6)
    ax0.loglog(t, law_sv, "k--", lw=1)
    for value in limits:
        ax0.axhline(value, color="0.5", ls=":", lw=1)
    ax0.set_xlabel("iteration $t$")
    ax0.set_ylabel("singular values of $B_t$ (FO-ANIL)")
    ax1.loglog(t, fo.perp_norm[1:], color="tab:blue", lw=2, label="FO-ANIL")
    ax1.loglog(
        t, mtl.perp_norm[1:], color="tab:orange", lw=2, label="multi-task learner"
    )
    ax1.loglog(t, law_perp, "k--", lw=1, label="law")
    ax1.set_ylim(0.5 * fo.perp_norm[-1], 2 * fo.perp_norm[0])
    ax1.set_xlabel("iteration $t$")
    ax1.set_ylabel(r"$\|B_\perp\|_F$")
    ax1.legend(fontsize=8, loc="lower left")
    return fig


_ADAPT_STYLE = {
    "FO-ANIL, step alpha": (
        dict(color="C0", ls="-", lw=2.2),
        r"FO-ANIL, step $\alpha$",
    ),
    "FO-ANIL, best step": (dict(color="C0", ls="--", lw=1.3), "FO-ANIL, best step"),
    "multi-task, best step": (
        dict(color="C1", ls="-", lw=2.2),
        "multi-task, best step",
    ),
    "B_*, best step": (dict(color="C2", ls="--", lw=1.3), r"$B_*$, best step"),
    "oracle": (dict(color="k", ls=":", lw=1.5), r"oracle $B_*\Gamma^*B_*^\top$"),
    "predict 0": (dict(color="0.6", ls="-", lw=0.8), "predict 0"),
}


def plot_adaptation(taus, curves, titles, m_in, monte_carlo=None):
    """One-step excess risk on a new task versus its sample size, one panel per width
    (fig-op-adaptation).

    Parameters
    ----------
    taus : ndarray
    curves : dict of str to dict of str to ndarray
        For each panel, the risk curves keyed as in the chapter ("FO-ANIL, step alpha", ...).
    titles : dict of str to str
    m_in : int
        Drawn as a grey vertical line.
    monte_carlo : tuple (taus, means, standard errors), optional
        Drawn on the first panel.
    """
    fig, axes = new_figure(ncols=len(curves), width=5.0, height=3.8)
    axes = np.atleast_1d(axes)
    for ax, (title, curve) in zip(axes, curves.items()):
        for key, values in curve.items():
            style, label = _ADAPT_STYLE[key]
            ax.loglog(taus, values, label=label, **style)
        ax.axvline(m_in, color="0.6", lw=0.8)
        ax.set_title(titles[title], fontsize=10)
        ax.set_xlabel(r"samples of the new task $\tau$")
    if monte_carlo is not None:
        m_taus, means, ses = monte_carlo
        axes[0].errorbar(
            m_taus,
            means,
            yerr=2 * np.asarray(ses),
            fmt="o",
            color="C0",
            ms=5,
            label="Monte Carlo",
        )
    axes[0].set_ylabel("one-step excess risk")
    axes[0].legend(fontsize=8, loc="lower left")
    return fig
