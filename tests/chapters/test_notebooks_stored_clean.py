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
def test_every_panel_has_a_static_figure(path):
    """A live panel is removed from the HTML and followed by a captioned static figure of its defaults."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code" or "interact(" not in _source(cell):
            continue
        assert "remove-output" in cell["metadata"].get("tags", []), (
            f"{path.name}, cell {i}: the panel must be tagged remove-output (the HTML shows the static figure)"
        )
        following = [c for c in cells[i + 1 :] if c["cell_type"] == "code"][:1]
        caption = (
            following[0]["metadata"]
            .get("mystnb", {})
            .get("figure", {})
            .get("caption", "")
            if following
            else ""
        )
        assert "interactive version runs in Binder" in caption, (
            f"{path.name}, cell {i}: the next code cell must draw the default figure, with a caption pointing to Binder"
        )
