"""The live panel never contains an ipywidgets Output widget (why: test_no_output_widgets.py)."""

import ipywidgets

from metalib import viz
from metalib.viz.style import new_figure


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_live_panel_has_no_output_widget():
    def draw(a):
        fig, ax = new_figure()
        ax.plot([0, a])
        return fig

    panel = viz.Panel(draw, {"a": ipywidgets.FloatSlider(value=1.0, min=0.0, max=2.0)})
    tree = list(_walk(panel.widget()))
    assert not any(isinstance(w, ipywidgets.Output) for w in tree)
    assert any(isinstance(w, ipywidgets.Image) and w.value for w in tree)
