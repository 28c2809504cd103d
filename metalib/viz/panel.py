"""The one way the book builds an interactive panel: a drawing function plus its controls.

A chapter writes a *drawing function* ``draw(**values) -> Figure`` that validates its arguments
(raising :class:`ValueError` naming the argument) and returns a figure made with
:func:`metalib.viz.style.new_figure`, and gives it exactly the controls it designed::

    panel = Panel(draw, dict(alpha=FloatSlider(...), k=IntSlider(...)), fixed=dict(seed=0))
    panel.static()     # the figure at the controls' values, for the HTML page
    panel.widget()     # the live panel (Binder, Live Code, local Jupyter)

The live panel shows the controls, a one-line status and the figure as a PNG image. Every control
updates only when released (``continuous_update=False``). A redraw that raises ``ValueError``
shows the message in the status line instead of a traceback; a run that blows up shows its
:class:`~metalib.divergence.DivergenceWarning` there, every time; a slow redraw says "running..."
while it works. Dependent ranges are linked with :func:`link_max`, so that an invalid
combination cannot be chosen.
"""

from __future__ import annotations

import html
import warnings

from ..divergence import DivergenceWarning
from .style import image, to_png

__all__ = ["Panel", "link_max"]


class Panel:
    """A drawing function, the controls a reader moves, and the parameters held fixed.

    Parameters
    ----------
    draw : callable
        ``draw(**values, **fixed) -> matplotlib.figure.Figure``.
    controls : dict of str to ipywidgets.ValueWidget
        Exactly the controls of the panel, keyed by the parameter of ``draw`` they set.
    fixed : dict, optional
        The other parameters of ``draw`` and their values.
    links : sequence of callable, optional
        Each is called once with ``controls`` to tie ranges together (see :func:`link_max`).
    dpi : int
        Resolution of the live image.
    """

    def __init__(self, draw, controls, fixed=None, links=(), dpi=80):
        if not callable(draw):
            raise TypeError(f"draw must be callable, got {type(draw).__name__}")
        if not isinstance(controls, dict) or not controls:
            raise ValueError(
                "controls must be a non-empty dict of parameter name to widget"
            )
        self.draw = draw
        self.controls = controls
        self.fixed = dict(fixed or {})
        overlap = set(self.fixed) & set(controls)
        if overlap:
            raise ValueError(f"fixed and controls both set {sorted(overlap)}")
        for widget in controls.values():
            if hasattr(widget, "continuous_update"):
                widget.continuous_update = False
        for link in links:
            link(controls)
        self.dpi = dpi
        self._widget = None
        self._last = None

    def values(self):
        """The current value of every control."""
        return {name: widget.value for name, widget in self.controls.items()}

    def figure(self, **overrides):
        """The figure at the controls' current values (updated by ``overrides``)."""
        return self.draw(**(self.values() | self.fixed | overrides))

    def render(self, **overrides):
        """Draw and encode, as the live panel does: returns ``(png bytes or None, message)``.

        ``message`` is ``""`` when all went well; otherwise the text of the ``ValueError`` raised
        by the drawing function (then ``png`` is None) or of the divergence warnings emitted.
        """
        notes = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DivergenceWarning)
            try:
                fig = self.figure(**overrides)
            except ValueError as exc:
                return None, str(exc)
            png = to_png(fig, dpi=self.dpi)
        for w in caught:
            if issubclass(w.category, DivergenceWarning):
                notes.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return png, " ".join(notes)

    def static(self, dpi=100):
        """The figure at the controls' values as an image for the page (an ``IPython`` Image)."""
        return image(self.figure(), dpi=dpi)

    def widget(self):
        """The live panel: controls, a status line and the figure (an ipywidgets ``VBox``)."""
        from ipywidgets import HTML, Image, Layout, VBox

        if self._widget is not None:
            return self._widget
        self._status = HTML(value="", layout=Layout(min_height="1.5em"))
        self._image = Image(format="png")
        for widget in self.controls.values():
            widget.observe(self._redraw, names="value")
        self._widget = VBox([*self.controls.values(), self._status, self._image])
        self._redraw()
        return self._widget

    def _redraw(self, change=None):
        values = self.values()
        if values == self._last:  # a linked range moved a value already drawn
            return
        self._last = values
        self._status.value = "<i>running...</i>"
        png, message = self.render()
        if png is not None:
            self._image.value = png
        style = "color:#b00" if message else ""
        self._status.value = f'<span style="{style}">{html.escape(message)}</span>'

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())


def link_max(source, target, bound):
    """Make ``controls[target].max`` follow ``bound(controls[source].value)``.

    Returns a link for :class:`Panel`'s ``links`` argument. The target's value is clamped by
    ipywidgets when its maximum drops below it, so an invalid pair cannot be chosen.
    """

    def link(controls):
        src, tgt = controls[source], controls[target]

        def update(change=None):
            new_max = bound(src.value)
            if tgt.value > new_max:
                tgt.value = new_max
            tgt.max = new_max

        update()
        src.observe(update, names="value")

    return link
