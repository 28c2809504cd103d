"""One style for every figure of the book: method colours and labels, figure sizes, PNG encoding.

Every part draws its methods with :data:`METHOD_STYLE` and names them with :data:`LABELS`, so that
FO-ANIL is the same colour in Part I and Part IV. Figures are made with :func:`new_figure`, which
uses fixed margins (a tight bounding box measures every tick label and costs more than most of the
book's simulations), and encoded with :func:`to_png`. Logarithmic axes get plain-text tick labels
from :func:`plain_log_axis` (one tick rule for the whole book, :func:`log_ticks`).
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, Locator, LogLocator, MaxNLocator, NullLocator

from .. import erm_vs_maml, linrep

__all__ = [
    "METHOD_STYLE",
    "LABELS",
    "THEORY_STYLE",
    "STOP_MARK",
    "new_figure",
    "to_png",
    "log_ticks",
    "plain_log_axis",
]

#: display name of every method of the book, all parts (the parts' own names, which their
#: warnings use, and the names of what only the figures show)
LABELS = {
    **linrep.LABELS,
    "multitask": "Multi-task learner",
    **erm_vs_maml.LABELS,
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


def to_png(fig, dpi=80, tight=False):
    """Encode ``fig`` as PNG bytes.

    A panel's redraw keeps the figure's fixed margins (``tight=False``): measuring every label
    for a tight bounding box costs more than most of the book's simulations. A figure drawn once
    for the page (:func:`image`) is cropped to what it draws (``tight=True``), so that no label
    is cut off whatever its width.

    Every log axis still on matplotlib's default ticks gets the book's (:func:`plain_log_axis`)
    first, so that all figures label log axes one way; ticks a figure set itself are kept.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if (
                axis.get_scale() == "log"
                and type(axis.get_major_locator()) is LogLocator
            ):
                _set_plain_log_ticks(axis)
    buf = io.BytesIO()
    if tight:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.08)
    else:
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def image(fig, dpi=100):
    """``fig`` as an image that a chapter cell displays (its last expression), then released.

    Figures from :func:`new_figure` are not managed by pyplot, so they do not display by
    themselves; a cell ends with ``viz.image(fig)`` (or ``panel.static()`` for a panel).
    """
    from IPython.display import Image

    return Image(data=to_png(fig, dpi=dpi, tight=True), format="png")


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def _power(exponent):
    return "10" + str(int(exponent)).translate(_SUPERSCRIPT)


def _tick_label(value):
    """``0.2``, ``5``, ``100`` in plain digits; ``10⁻⁴``, ``2·10⁵`` outside [1e-3, 1e5)."""
    if 1e-3 <= value < 1e5:
        return f"{value:g}"
    exponent = np.floor(np.log10(value) + 1e-9)
    mantissa = round(value / 10.0**exponent)
    return _power(exponent) if mantissa == 1 else f"{mantissa}\u00b7{_power(exponent)}"


def _within(values, low, high):
    return (values >= low * (1 - 1e-9)) & (values <= high * (1 + 1e-9))


#: most ticks a log axis gets below two decades and a half (more crowd the labels of a small panel)
_MOST_TICKS = 6


def log_ticks(low, high):
    """Ticks and their labels for a logarithmic axis from ``low`` to ``high`` (both positive).

    Over more than two decades and a half: the decades, labelled ``10ⁿ`` (every other one, or
    fewer, when there are more than 7). Below that, the first of 1 to 9 times the decades, 1, 2
    and 5 times them, or the decades alone that gives 2 to 6 ticks, in plain digits (``10⁻⁴``,
    ``2·10⁵`` outside [1e-3, 1e5)); on a range too narrow for two of those, a few evenly spaced
    round values.

    Returns
    -------
    ticks : ndarray
    labels : list of str
    """
    low, high = sorted((float(low), float(high)))
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0:
        return np.array([]), []
    decades = np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
    if high / low >= 300:
        exponents = decades[:: max(1, int(np.ceil(len(decades) / 7)))]
        exponents = exponents[_within(10.0**exponents, low, high)]
        return 10.0**exponents, [_power(e) for e in exponents]
    for subs in (np.arange(1.0, 10.0), np.array([1.0, 2.0, 5.0]), np.array([1.0])):
        ticks = (10.0 ** decades[:, None] * subs).ravel()
        ticks = ticks[_within(ticks, low, high)]
        if 2 <= ticks.size <= _MOST_TICKS:
            return ticks, [_tick_label(v) for v in ticks]
    ticks = MaxNLocator(nbins=3).tick_values(low, high)
    ticks = ticks[_within(ticks, low, high) & (ticks > 0)]
    return ticks, [f"{v:.4g}" for v in ticks]


class _LogTicks(Locator):
    """Major ticks from :func:`log_ticks` over the axis's view limits at draw time."""

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        return log_ticks(vmin, vmax)[0]


class _LogLabels(Formatter):
    """The labels :func:`log_ticks` gives for the axis's view limits."""

    def format_ticks(self, values):
        ticks, labels = log_ticks(*self.axis.get_view_interval())
        out = []
        for v in values:
            same = np.flatnonzero(np.isclose(ticks, v, rtol=1e-9, atol=0))
            out.append(labels[same[0]] if same.size else self(v))
        return out

    def __call__(self, x, pos=None):
        return _tick_label(x) if x > 0 else ""


def plain_log_axis(ax, which="y"):
    """Make the ``which`` axis (``"x"``, ``"y"`` or ``"xy"``) of ``ax`` logarithmic, with
    :func:`log_ticks` ticks labelled in plain text and no minor ticks.

    Matplotlib's default log ticks typeset every label as mathtext, which a new figure lays out
    again at each redraw, and make an artist for every minor tick: together more than half of a
    panel's redraw. These ticks follow the view limits when the figure is drawn, so the limits
    may be set before or after the call.
    """
    if which not in ("x", "y", "xy"):
        raise ValueError(f'which must be "x", "y" or "xy", got {which!r}')
    for name in which:
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        _set_plain_log_ticks(ax.xaxis if name == "x" else ax.yaxis)


def _set_plain_log_ticks(axis):
    """:func:`log_ticks` ticks and labels, and no minor ticks, on a log-scaled ``axis``."""
    axis.set_major_locator(_LogTicks())
    axis.set_major_formatter(_LogLabels())
    axis.set_minor_locator(NullLocator())
