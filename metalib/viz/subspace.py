"""Figures and the panel of chapter 00 (the principal-angle distance between subspaces)."""

from __future__ import annotations

import numpy as np

from ..subspace import random_orthonormal, subspace_distance
from ..validation import check_in_range, check_positive_int
from .panel import Panel, link_max
from .style import THEORY_STYLE, new_figure

__all__ = [
    "random_distances",
    "precision_figure",
    "draw_random_distances",
    "random_distance_panel",
]


def random_distances(d, k, draws=2000, seed=1):
    """Distances from ``draws`` uniformly random k-dim subspaces of R^d to a fixed random one.

    A uniformly random subspace is as far, in law, from every fixed subspace, so one truth serves
    all draws: the distances have the law of those between two independent random subspaces.
    """
    gen = np.random.default_rng(seed)
    U_star = random_orthonormal(d, k, gen)
    return subspace_distance(random_orthonormal(d, k, gen, size=draws), U_star)


def precision_figure(angles, residual_form, shortcut):
    """The residual form and the shortcut ``sqrt(1 - cos^2)`` against the true ``sin(eps)``."""
    fig, ax = new_figure(width=6.0, height=3.6)
    ax.loglog(angles, np.sin(angles), "k-", lw=1, label=r"truth $\sin\varepsilon$")
    ax.loglog(
        angles, residual_form, "o", ms=5, label=r"$\|(I-Q_*Q_*^\top)Q\|_2$ (metalib)"
    )
    ax.loglog(
        angles,
        np.maximum(shortcut, 1e-17),
        "x",
        ms=6,
        label=r"$\sqrt{1-\cos^2\theta_k}$",
    )
    ax.set_xlabel(r"rotation angle $\varepsilon$")
    ax.set_ylabel("computed distance")
    ax.set_ylim(1e-17, 2)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def draw_random_distances(d=100, k=5, draws=2000, seed=1):
    """Histogram of the distance between random ``k``-dim subspaces of R^d (``1 <= k <= d``)."""
    d = check_positive_int("d", d)
    k = check_in_range("k", k, 1, d, integer=True)
    draws = check_positive_int("draws", draws)
    dist = random_distances(d, k, draws, seed)
    fig, ax = new_figure(width=6.0, height=3.2, margins=dict(top=0.88, left=0.12))
    ax.hist(
        dist,
        bins=np.linspace(0, 1, 51),
        color="tab:blue",
        alpha=0.8,
        histtype="stepfilled",
    )
    ax.axvline(np.sqrt((d - k) / d), label="√((d − k)/d), the rms sine", **THEORY_STYLE)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("dist(U, U*) for random U, U*")
    ax.set_ylabel(f"count of {draws} draws")
    ax.set_title(f"d = {d}, k = {k}: median distance {np.median(dist):.3f}")
    ax.legend(loc="upper left", fontsize=9)
    return fig


def random_distance_panel(d=100, k=5):
    """Chapter 00's panel: d and k (its maximum follows d, up to 20)."""
    from ipywidgets import IntSlider

    controls = dict(
        d=IntSlider(value=d, min=2, max=200, description="d"),
        k=IntSlider(value=k, min=1, max=20, description="k"),
    )
    return Panel(
        draw_random_distances,
        controls,
        fixed=dict(draws=2000, seed=1),
        links=[link_max("d", "k", lambda d: min(20, d))],
    )
