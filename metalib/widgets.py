"""Interactive panels. Each panel is a drawing function plus its controls: the chapters call the drawing
function once at its defaults for the static figure of the HTML page, and wrap it in
``ipywidgets.interact`` for the live version (Binder, Live Code, local Jupyter)."""

from __future__ import annotations

import numpy as np

from . import linrep
from .plotting import new_axes, plot_trajectories
from .subspace import random_orthonormal

__all__ = ["LINREP_DEFAULTS", "linrep_controls", "draw_linrep"]

#: default settings of the Part I panel: small enough to redraw in well under half a second
LINREP_DEFAULTS = dict(
    method="exact_anil",
    alpha=0.1,
    beta=0.1,
    mu=1.0,
    n=3,
    d=20,
    k=3,
    samples="population",
    iterations=1000,
)


def draw_linrep(
    method="exact_anil",
    alpha=0.1,
    beta=0.1,
    mu=1.0,
    n=3,
    d=20,
    k=3,
    samples="population",
    iterations=1000,
    trials=3,
    dist0=0.9,
    seed=0,
    show=True,
):
    """Train ``method`` and average-loss minimization on shared tasks and draw what the chapters track.

    Left: ``dist(B_t, B_*)`` (log scale) with the tangent law of :func:`metalib.linrep.predicted_distance`
    (eq. `eq-tan-law`). Right: ``||I - alpha B_t^T B_t||`` and ``||w_t||``.

    Parameters
    ----------
    method : str
        One of :data:`metalib.linrep.META_METHODS` (or ``"avg_loss"``).
    alpha, beta, mu : float
        Inner and outer step sizes, task diversity.
    n, d, k : int
        Tasks per iteration, input dimension, representation dimension.
    samples : {"population", "m=25"}
        Population losses or ``m_in = m_out = 25`` samples per task.
    iterations, trials : int
    dist0 : float
        Starting distance (see :func:`metalib.linrep.initial_representation`).
    seed : int
    show : bool
        Call ``plt.show()`` (False returns the figure for tests and benchmarks).

    Returns
    -------
    fig : matplotlib Figure, or None when ``show`` is True
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    if k > d // 2:
        raise ValueError(
            f"the panel starts at a prescribed distance, which needs k <= d/2; got d={d}, k={k}"
        )
    B_star = random_orthonormal(d, k, rng, size=trials)
    B0 = linrep.initial_representation(B_star, alpha, rng, dist0=dist0)
    finite = dict(m_in=25, m_out=25) if samples != "population" else {}
    methods = (method,) if method == "avg_loss" else (method, "avg_loss")
    record = max(1, iterations // 150)
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
    fig, (ax_d, ax_c) = new_axes(2, width=5.0, height=3.4)
    plot_trajectories(ax_d, traj, "dist")
    ax_d.plot(
        traj.iterations,
        linrep.predicted_distance(traj.iterations, dist0, alpha, beta, mu**2),
        "k-.",
        lw=1,
        label=r"theory: $\tan\theta_t=\tan\theta_0\,e^{-\alpha\beta\mu^2t}$",
    )
    ax_d.set_ylim(max(1e-14, ax_d.get_ylim()[0]), 2)
    ax_d.legend(fontsize=8, loc="lower left")
    plot_trajectories(
        ax_c,
        traj,
        "conditioning",
        methods=(method,),
        label_suffix=r": $\|I-\alpha B^\top B\|$",
    )
    plot_trajectories(
        ax_c,
        traj,
        "head_norm",
        methods=(method,),
        band=False,
        label_suffix=r": $\|w_t\|$",
    )
    ax_c.lines[-1].set_linestyle(":")
    ax_c.set_ylabel("")
    ax_c.legend(fontsize=8, loc="best")
    fig.suptitle(
        f"{linrep.LABELS[method]}, d={d}, k={k}, n={n}, alpha={alpha:g}, beta={beta:g}, mu={mu:g}, "
        f"{samples}",
        fontsize=10,
    )
    # fixed margins: tight_layout would measure every log-scale tick label and cost more than the training run
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.88, wspace=0.22)
    if show:
        plt.show()
        return None
    return fig


def linrep_controls(**overrides):
    """The Part I panel's controls (ipywidgets), starting at :data:`LINREP_DEFAULTS` updated by ``overrides``."""
    from ipywidgets import Dropdown, FloatLogSlider, FloatSlider, IntSlider

    v = LINREP_DEFAULTS | overrides
    return dict(
        method=Dropdown(
            options=[(linrep.LABELS[m], m) for m in linrep.METHODS],
            value=v["method"],
            description="method",
        ),
        alpha=FloatSlider(
            value=v["alpha"],
            min=0.01,
            max=0.5,
            step=0.01,
            continuous_update=False,
            description="alpha",
        ),
        beta=FloatSlider(
            value=v["beta"],
            min=0.01,
            max=1.0,
            step=0.01,
            continuous_update=False,
            description="beta",
        ),
        mu=FloatLogSlider(
            value=v["mu"],
            base=10,
            min=-1.5,
            max=0,
            step=0.05,
            continuous_update=False,
            description="mu",
        ),
        n=IntSlider(
            value=v["n"], min=1, max=20, continuous_update=False, description="n"
        ),
        d=IntSlider(
            value=v["d"], min=4, max=100, continuous_update=False, description="d"
        ),
        k=IntSlider(
            value=v["k"], min=1, max=10, continuous_update=False, description="k"
        ),
        samples=Dropdown(
            options=["population", "m=25"], value=v["samples"], description="samples"
        ),
        iterations=IntSlider(
            value=v["iterations"],
            min=100,
            max=5000,
            step=100,
            continuous_update=False,
            description="iterations",
        ),
    )
