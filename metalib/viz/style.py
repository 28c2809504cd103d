"""One style for every figure of the book: method colours and labels, figure sizes, PNG encoding.

Every part draws its methods with :data:`METHOD_STYLE` and names them with :data:`LABELS`, so that
FO-ANIL is the same colour in Part I and Part IV. Figures are made with :func:`new_figure`, which
uses fixed margins (a tight bounding box measures every tick label and costs more than most of the
book's simulations), and encoded with :func:`to_png`.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

__all__ = [
    "METHOD_STYLE",
    "LABELS",
    "THEORY_STYLE",
    "STOP_MARK",
    "new_figure",
    "to_png",
]

#: display name of every method of the book, all parts
LABELS = {
    "exact_anil": "Exact ANIL",
    "fo_anil": "FO-ANIL",
    "exact_maml": "Exact MAML",
    "fo_maml": "FO-MAML",
    "avg_loss": "Average loss",
    "multitask": "Multi-task learner",
    "erm": "ERM",
    "maml": "MAML",
    "ridge": "ridge head (strongly convex)",
    "mlp": "two-layer head (nonconvex)",
}

#: colour and line style of every method, all parts
METHOD_STYLE = {
    "exact_anil": dict(color="tab:blue", ls="-"),
    "fo_anil": dict(color="tab:cyan", ls="--"),
    "exact_maml": dict(color="tab:red", ls="-"),
    "fo_maml": dict(color="tab:orange", ls="--"),
    "avg_loss": dict(color="0.35", ls=":"),
    "multitask": dict(color="tab:purple", ls="-."),
    "erm": dict(color="0.35", ls="--"),
    "maml": dict(color="tab:red", ls="-"),
    "ridge": dict(color="tab:blue", ls="-"),
    "mlp": dict(color="tab:red", ls="-"),
}

#: the theory's prediction drawn over a measurement
THEORY_STYLE = dict(color="k", ls="-.", lw=1.0)

#: the mark of a run that was stopped because it blew up (drawn where it stopped)
STOP_MARK = dict(marker="x", ms=9, mew=2, ls="none")


def new_figure(ncols=1, nrows=1, width=5.0, height=3.4, margins=None):
    """A figure with a grid of axes and fixed margins, not attached to pyplot.

    Parameters
    ----------
    ncols, nrows : int
        Grid of axes.
    width, height : float
        Size of one axes cell in inches.
    margins : dict, optional
        Passed to ``Figure.subplots_adjust`` (defaults suit one row of labelled axes).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : Axes, or ndarray of Axes of shape (ncols,) for one row, (nrows, ncols) otherwise
    """
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    adjust = dict(left=0.09, right=0.98, bottom=0.15, top=0.87, wspace=0.28, hspace=0.4)
    if ncols > 1:
        adjust["left"] = 0.08 / min(ncols, 2) + 0.02
    fig.subplots_adjust(**(adjust | (margins or {})))
    if nrows == 1:
        return fig, (axes[0, 0] if ncols == 1 else axes[0])
    return fig, axes


def to_png(fig, dpi=80):
    """Encode ``fig`` as PNG bytes (no tight bounding box: the margins are fixed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def image(fig, dpi=100):
    """``fig`` as an image that a chapter cell displays (its last expression), then released.

    Figures from :func:`new_figure` are not managed by pyplot, so they do not display by
    themselves; a cell ends with ``viz.image(fig)`` (or ``panel.static()`` for a panel).
    """
    from IPython.display import Image

    return Image(data=to_png(fig, dpi=dpi), format="png")
