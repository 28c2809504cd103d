"""Figures and the panel of Part I (collins2022, chapters 01-04).

* :func:`plot_trajectories`: mean over trials of a recorded quantity, with its spread, and a
  mark where each stopped run stopped;
* :func:`trajectory_figure`: the two-axes figure the chapters draw (distance, plus one more);
* :func:`draw_linrep`, :func:`linrep_panel`: the Part I panel (one method against the average
  loss on shared tasks, with the tangent law).
"""

from __future__ import annotations

import inspect

import numpy as np

from .. import linrep
from ..subspace import random_orthonormal
from ..validation import check_choice, check_in_range
from .panel import Panel, link_max
from .style import (
    LABELS,
    METHOD_STYLE,
    STOP_MARK,
    THEORY_STYLE,
    new_figure,
    plain_log_axis,
)

__all__ = [
    "YLABELS",
    "plot_trajectories",
    "trajectory_figure",
    "draw_linrep",
    "linrep_panel",
    "SAMPLES",
]

#: axis labels, in plain text with Unicode (mathtext is laid out again at every redraw)
YLABELS = {
    "dist": "dist(Bₜ, B*)",
    "conditioning": "‖I − αBₜᵀBₜ‖",
    "head_norm": "‖wₜ‖",
}

#: legend suffixes of the right-hand axes (plain text: mathtext costs more than a redraw)
COND_SUFFIX = ": ‖I − αBᵀB‖"
HEAD_SUFFIX = ": ‖wₜ‖"

#: the sample regimes of the panel: population losses or m_in = m_out = m samples per task
SAMPLES = {"population": None, "m=10": 10, "m=25": 25, "m=100": 100}


def plot_trajectories(
    ax,
    traj,
    quantity="dist",
    methods=None,
    log=True,
    band=True,
    label_suffix="",
    each=False,
):
    """Draw ``quantity`` for each method: the mean over trials with its min-max band, or each run.

    With ``each=False`` (the default) a trial that was stopped (see
    :func:`metalib.linrep.train`) is left out of the mean after its stop. With ``each=True``
    every trial is drawn as its own thin line, so that no average hides the runs that stopped.
    Either way each stop is marked with :data:`STOP_MARK` at the run's last recorded value and
    iteration, so a blown-up run is visible and never drawn as a NaN curve.

    Parameters
    ----------
    ax : matplotlib Axes
    traj : metalib.linrep.Trajectory
    quantity : {"dist", "conditioning", "head_norm"}
    methods : sequence of str, optional
        Subset of ``traj.methods`` (default: all).
    log : bool
        Logarithmic y axis.
    band : bool
        Shade the range over trials (mean curves only).
    label_suffix : str
        Appended to each legend label.
    each : bool
        Draw every trial instead of the mean.
    """
    check_choice("quantity", quantity, tuple(YLABELS))
    t = traj.iterations
    for method in methods or traj.methods:
        values = traj.series(method, quantity)  # (trials, R)
        alive = np.isfinite(values)
        style = METHOD_STYLE[method]
        if not alive.any():
            continue
        label = LABELS[method] + label_suffix
        if each:
            for trial in range(values.shape[0]):
                seen = alive[trial]
                ax.plot(
                    t[seen],
                    values[trial, seen],
                    lw=1.0,
                    alpha=0.8,
                    label=label if trial == 0 else None,
                    **style,
                )
        else:
            count = alive.sum(axis=0)
            shown = count > 0
            mean = np.where(alive, values, 0.0).sum(axis=0) / np.maximum(count, 1)
            ax.plot(t[shown], mean[shown], label=label, lw=1.8, **style)
            if band and values.shape[0] > 1:
                low = np.min(np.where(alive, values, np.inf), axis=0)
                high = np.max(np.where(alive, values, -np.inf), axis=0)
                ax.fill_between(
                    t[shown],
                    low[shown],
                    high[shown],
                    color=style["color"],
                    alpha=0.15,
                    lw=0,
                )
        stopped = traj.stopped_at[traj.methods.index(method)]
        for trial in np.flatnonzero(stopped >= 0):
            seen = np.flatnonzero(alive[trial])
            if seen.size:
                last = seen[-1]
                ax.plot(t[last], values[trial, last], color=style["color"], **STOP_MARK)
    if log:
        plain_log_axis(ax, "y")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(YLABELS[quantity])


def trajectory_figure(
    traj,
    right="head_norm",
    methods_right=None,
    theory=None,
    band=True,
    log_right=True,
    each=False,
):
    """Two axes: the distance of every method (left) and ``right`` (right), as chapters 01-04 draw.

    Parameters
    ----------
    traj : metalib.linrep.Trajectory
    right : {"head_norm", "conditioning", "both"}
        What the right axes show; ``"both"`` draws the conditioning (solid) and the head norm
        (dotted).
    methods_right : sequence of str, optional
        Methods drawn on the right (default: all).
    theory : ndarray, optional
        The tangent law at ``traj.iterations``, drawn over the distances.
    band : bool
        Shade the range over trials.
    log_right : bool
        Logarithmic y axis on the right.
    each : bool
        Draw every trial instead of the mean (see :func:`plot_trajectories`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (ax1, ax2) = new_figure(2)
    plot_trajectories(ax1, traj, "dist", band=band, each=each)
    if theory is not None:
        ax1.plot(traj.iterations, theory, label="tangent law", **THEORY_STYLE)
    ax1.legend(fontsize=8)
    if right == "both":
        plot_trajectories(
            ax2,
            traj,
            "conditioning",
            methods_right,
            label_suffix=COND_SUFFIX,
        )
        first = len(ax2.lines)
        plot_trajectories(
            ax2,
            traj,
            "head_norm",
            methods_right,
            band=False,
            label_suffix=HEAD_SUFFIX,
        )
        for line in ax2.lines[first:]:
            line.set_linestyle(":")
        ax2.set_ylabel("")
    else:
        plot_trajectories(
            ax2, traj, right, methods_right, log=log_right, band=band, each=each
        )
    ax2.legend(fontsize=8)
    return fig


def draw_linrep(
    method="exact_anil",
    alpha=0.1,
    beta=0.1,
    mu=1.0,
    n=3,
    d=20,
    k=3,
    samples="population",
    iterations=600,
    trials=3,
    dist0=0.9,
    seed=0,
):
    """Train ``method`` and the average loss on shared tasks; draw what the chapters track.

    Left: ``dist(B_t, B_*)`` (log scale) with the tangent law of
    :func:`metalib.linrep.predicted_distance` (eq. `eq-tan-law`). Right:
    ``||I - alpha B_t^T B_t||`` and ``||w_t||``. A run that blew up is marked where it stopped.

    Parameters
    ----------
    method : str
        One of :data:`metalib.linrep.METHODS`.
    alpha, beta, mu : float
        Inner and outer step sizes, task diversity.
    n, d, k : int
        Tasks per iteration, input dimension, representation dimension (``k <= d/2``: the start
        is at the prescribed distance ``dist0``).
    samples : {"population", "m=10", "m=25", "m=100"}
        Population losses or ``m_in = m_out = m`` samples per task.
    iterations, trials : int
    dist0 : float in [0, 1)
        Starting distance (see :func:`metalib.linrep.initial_representation`).
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_choice("method", method, linrep.METHODS)
    check_choice("samples", samples, tuple(SAMPLES))
    d = check_in_range("d", d, 2, None, integer=True)
    k = check_in_range("k", k, 1, None, integer=True)
    if k > d // 2:
        raise ValueError(
            f"k must be at most d/2 (the start is at distance dist0); got d={d}, k={k}"
        )
    check_in_range("dist0", dist0, 0.0, 1.0)
    if dist0 >= 1:
        raise ValueError(f"dist0 must lie in [0, 1), got {dist0}")
    rng = np.random.default_rng(seed)
    B_star = random_orthonormal(d, k, rng, size=trials)
    B0 = linrep.initial_representation(B_star, alpha, rng, dist0=dist0)
    m = SAMPLES[samples]
    finite = {} if m is None else dict(m_in=m, m_out=m)
    methods = (method,) if method == "avg_loss" else (method, "avg_loss")
    record = max(1, iterations // 60)
    traj = linrep.train(
        methods,
        B_star,
        B0,
        alpha,
        beta,
        iterations,
        rng,
        n=n,
        mu=mu,
        record_every=record,
        **finite,
    )
    fig, (ax_d, ax_c) = new_figure(2, margins=dict(top=0.86))
    plot_trajectories(ax_d, traj, "dist")
    ax_d.plot(
        traj.iterations,
        linrep.predicted_distance(traj.iterations, dist0, alpha, beta, mu**2),
        label="tangent law: tan θₜ = tan θ₀ exp(−αβμ²t)",
        **THEORY_STYLE,
    )
    low = np.nanmin(traj.dist) if np.isfinite(traj.dist).any() else 1e-3
    ax_d.set_ylim(max(1e-16, 0.3 * low), 2)
    ax_d.legend(fontsize=8, loc="lower left")
    plot_trajectories(
        ax_c,
        traj,
        "conditioning",
        methods=(method,),
        label_suffix=COND_SUFFIX,
    )
    first = len(ax_c.lines)
    plot_trajectories(
        ax_c,
        traj,
        "head_norm",
        methods=(method,),
        band=False,
        label_suffix=HEAD_SUFFIX,
    )
    for line in ax_c.lines[first:]:
        if line.get_linestyle() != "None":
            line.set_linestyle(":")
    ax_c.set_ylabel("")
    ax_c.legend(fontsize=8, loc="best")
    fig.suptitle(
        f"{LABELS[method]}, d={d}, k={k}, n={n}, alpha={alpha:g}, beta={beta:g}, mu={mu:g}, "
        f"{samples}",
        fontsize=10,
    )
    return fig


#: what the panel keeps fixed: 3 trials, a start at distance 0.9, seed 0 (draw_linrep's defaults)
_FIXED = ("trials", "dist0", "seed")
_DRAW_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(draw_linrep).parameters.items()
}

#: the panel's controls at their defaults, which are :func:`draw_linrep`'s own (small enough to
#: redraw in well under 200 ms)
LINREP_DEFAULTS = {
    name: value for name, value in _DRAW_DEFAULTS.items() if name not in _FIXED
}


def linrep_panel(**overrides):
    """The Part I panel: :func:`draw_linrep` with its designed controls, starting at the defaults.

    Controls: method, alpha, beta, mu, n, d, k (its maximum follows ``d // 2``), samples,
    iterations. Fixed: 3 trials, a start at distance 0.9, seed 0.
    """
    from ipywidgets import Dropdown, FloatLogSlider, FloatSlider, IntSlider

    v = LINREP_DEFAULTS | overrides
    controls = dict(
        method=Dropdown(
            options=[(LABELS[m], m) for m in linrep.METHODS],
            value=v["method"],
            description="method",
        ),
        alpha=FloatSlider(
            value=v["alpha"], min=0.01, max=0.5, step=0.01, description="alpha"
        ),
        beta=FloatSlider(
            value=v["beta"], min=0.01, max=1.0, step=0.01, description="beta"
        ),
        mu=FloatLogSlider(
            value=v["mu"], base=10, min=-1, max=0, step=0.05, description="mu"
        ),
        n=IntSlider(value=v["n"], min=1, max=10, description="n"),
        d=IntSlider(value=v["d"], min=4, max=50, description="d"),
        k=IntSlider(value=v["k"], min=1, max=10, description="k"),
        samples=Dropdown(
            options=list(SAMPLES), value=v["samples"], description="samples"
        ),
        iterations=IntSlider(
            value=v["iterations"], min=100, max=2000, step=100, description="iterations"
        ),
    )
    return Panel(
        draw_linrep,
        controls,
        fixed={name: _DRAW_DEFAULTS[name] for name in _FIXED},
        links=[link_max("d", "k", lambda d: min(10, d // 2))],
    )
