"""Chapters are stored without outputs: the book executes them, and diffs stay readable."""

import json
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks found under chapters/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_stored_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have stored outputs or execution counts "
        f"(run: python scripts/clean_notebooks.py)"
    )
    assert "widgets" not in nb.get("metadata", {}), (
        f"{path.name}: stored widget state in metadata"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_listed_in_table_of_contents(path):
    toc = (path.parents[1] / "_toc.yml").read_text(encoding="utf-8")
    assert f"chapters/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


def _source(cell):
    return (
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_has_a_panel_and_its_static_figure(path):
    """Each chapter shows a live panel (``panel.widget()``, removed from the HTML) and, in a
    captioned figure cell, the same panel's static figure (``panel.static()``) for the page."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    live = [c for c in code if ".widget()" in _source(c)]
    static = [c for c in code if ".static()" in _source(c)]
    assert live, f"{path.name}: no live panel (a cell calling panel.widget())"
    assert static, (
        f"{path.name}: no static figure of the panel (a cell calling panel.static())"
    )
    for cell in live:
        tags = cell["metadata"].get("tags", [])
        assert "remove-output" in tags, (
            f"{path.name}: the live panel cell must be tagged remove-output "
            "(the page shows the static figure instead)"
        )
    for cell in static:
        figure = cell["metadata"].get("mystnb", {}).get("figure", {})
        assert figure.get("caption") and figure.get("name"), (
            f"{path.name}: the static figure of a panel needs a caption and a name"
        )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_cell_ends_with_its_image(path):
    """A captioned figure cell ends with ``viz.image(fig)`` or ``panel.static()``: a Figure made
    with ``viz.new_figure`` is not managed by pyplot, so as a last expression it would show as
    text and the page's figure would have no image."""
    import ast

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        if "figure" not in cell.get("metadata", {}).get("mystnb", {}):
            continue
        tree = ast.parse(_source(cell))
        last = tree.body[-1] if tree.body else None
        call = last.value if isinstance(last, ast.Expr) else None
        func = getattr(call, "func", None)
        name = getattr(func, "attr", getattr(func, "id", ""))
        assert name in ("image", "static"), (
            f"{path.name}, cell {i}: a figure cell must end with viz.image(fig) or "
            "panel.static()"
        )
