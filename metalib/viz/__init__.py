"""The presentation layer of :mod:`metalib`: figures, panels, claims tables, code listings.

This is the only part of the library that imports matplotlib, ipywidgets or IPython. The numeric
core (the part packages, :mod:`metalib.subspace`, ...) computes arrays; the modules here draw them.

Modules
-------
style
    One style for all parts: method colours and labels, figures with fixed margins, PNG encoding.
panel
    :class:`Panel`: a drawing function plus its controls, the one way the book builds a panel.
claims
    :func:`claims_table`: a chapter's table of claims, which the claims ledger collects.
source
    :func:`show_function`, :func:`show_region`: show library code in a chapter.
<part>
    One module per part (``viz.linrep``, ``viz.overparam``, ...): its figures and its panels.
    They load on first use: ``from metalib import viz`` then ``viz.linrep.some_panel()``.
"""

import importlib

from .claims import claims_table
from .panel import Panel, link_max
from .source import show_function, show_region
from .style import LABELS, METHOD_STYLE, image, new_figure, to_png

__all__ = [
    "LABELS",
    "METHOD_STYLE",
    "Panel",
    "claims_table",
    "image",
    "link_max",
    "new_figure",
    "show_function",
    "show_region",
    "to_png",
]


def __getattr__(name):
    # viz.linrep, viz.overparam, ...: a part's figures load when a chapter first uses them
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
