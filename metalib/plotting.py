"""Figures shared by several chapters: one color per method, trajectories with their spread over trials,
and the marks of runs that were stopped because they blew up."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .linrep import LABELS

__all__ = ["METHOD_STYLE", "plot_trajectories", "new_axes"]

#: color and line style of each method, used by every figure of the book
METHOD_STYLE = {
    "exact_anil": dict(color="tab:blue", ls="-"),
    "fo_anil": dict(color="tab:cyan", ls="--"),
    "exact_maml": dict(color="tab:red", ls="-"),
    "fo_maml": dict(color="tab:orange", ls="--"),
    "avg_loss": dict(color="0.35", ls=":"),
}

_YLABELS = {
    "dist": r"$\mathrm{dist}(B_t, B_*)$",
    "conditioning": r"$\|I_k-\alpha B_t^\top B_t\|_2$",
    "head_norm": r"$\|w_t\|$",
}


def new_axes(ncols=1, width=6.0, height=3.6):
    """A row of ``ncols`` axes with the book's default size per panel."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]


def plot_trajectories(
    ax, traj, quantity="dist", methods=None, log=True, band=True, label_suffix=""
):
    """Draw the mean over trials of ``quantity`` for each method, with the min-max band over trials.

    Trials that were stopped (see :func:`metalib.linrep.train`) are left out of the mean after their stop,
    and each stop is marked with an ``x`` at the last recorded value, so a blown-up run is visible and
    never drawn as a NaN curve.

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
        Shade the range over trials.
    label_suffix : str
        Appended to each legend label.
    """
    t = traj.iterations
    for method in methods or traj.methods:
        values = traj.series(method, quantity)  # (trials, R)
        alive = np.isfinite(values)
        style = METHOD_STYLE[method]
        if not alive.any():
            continue
        count = alive.sum(axis=0)
        shown = count > 0
        with np.errstate(invalid="ignore"):
            mean = np.where(
                shown, np.nansum(values, axis=0) / np.maximum(count, 1), np.nan
            )
        ax.plot(
            t[shown], mean[shown], label=LABELS[method] + label_suffix, lw=1.8, **style
        )
        if band and values.shape[0] > 1:
            low = np.nanmin(np.where(alive, values, np.inf), axis=0)
            high = np.nanmax(np.where(alive, values, -np.inf), axis=0)
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
            last = np.flatnonzero(alive[trial])[-1]
            ax.plot(
                t[last], values[trial, last], "x", color=style["color"], ms=9, mew=2
            )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration $t$")
    ax.set_ylabel(_YLABELS.get(quantity, quantity))
