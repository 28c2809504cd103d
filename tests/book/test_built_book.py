"""Checks on the built HTML (run by `make test` after the strict build; fails if the book is not
built).

Every page of the table of contents exists; every labelled figure of every chapter is in its page
with an image file that exists; no page shows a Python traceback; in the notebooks the build
executed, every widget is a panel's, shown by a cell ``<panel>.widget()``.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute" / "chapters"
WIDGET = "application/vnd.jupyter.widget-view+json"


def toc_files():
    return re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8")
    )


def figure_names(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [
        c["metadata"]["mystnb"]["figure"]["name"]
        for c in nb["cells"]
        if "figure" in c.get("metadata", {}).get("mystnb", {})
    ]


def test_index_exists():
    assert (HTML / "index.html").is_file(), (
        "no _build/html/index.html: build the book first (make book)"
    )


@pytest.mark.parametrize("doc", toc_files())
def test_page_built_without_tracebacks(doc):
    page = HTML / f"{doc}.html"
    assert page.is_file(), f"{doc} is in _toc.yml but {page} was not built"
    text = page.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" not in text, f"{doc} shows a traceback"


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_every_labelled_figure_is_rendered(notebook):
    text = (HTML / "chapters" / f"{notebook.stem}.html").read_text(encoding="utf-8")
    for name in figure_names(notebook):
        block = re.search(
            rf'<figure[^>]*id="{re.escape(name)}".*?</figure>', text, re.S
        )
        assert block, f"figure {name} missing from {notebook.stem}.html"
        images = re.findall(r'<img[^>]+src="([^"]+)"', block.group(0))
        assert images, f"figure {name} has no image"
        for src in images:
            assert (HTML / "chapters" / src).resolve().is_file(), (
                f"figure {name}: image {src} not found"
            )


def repository_url():
    match = re.search(
        r"^repository:\s*\n\s+url:\s*(\S+)",
        (ROOT / "_config.yml").read_text(encoding="utf-8"),
        re.M,
    )
    assert match, "_config.yml must give repository.url"
    return match.group(1).rstrip("/")


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_launch_buttons_point_to_this_chapter(notebook):
    """Binder opens this very notebook of the repository named once in _config.yml; Live Code is
    offered."""
    text = (HTML / "chapters" / f"{notebook.stem}.html").read_text(encoding="utf-8")
    owner_repo = repository_url().removeprefix("https://github.com/")
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/main?urlpath=lab/tree/chapters/{notebook.name}"
    assert binder in text, f"no Binder launch link for {notebook.name}"
    assert "thebe-launch-button" in text or "initThebe" in text, (
        "no Live Code (thebe) button"
    )
    foreign = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text)) - {
        repository_url()
    }
    assert not foreign, f"repository URLs other than the one in _config.yml: {foreign}"


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_only_panels_display_widgets(notebook):
    """The build executed every cell of the chapter; only a panel's own cell shows a widget.

    (tests/chapters/test_panels_live.py drives the panels in a live kernel but executes only the
    cells they need; this covers the rest of the chapter.)
    """
    executed = EXECUTED / notebook.name
    assert executed.is_file(), f"{executed} missing: build the book first (make book)"
    nb = json.loads(executed.read_text(encoding="utf-8"))
    panel_cells, stray = 0, []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]).strip()
        shows = [o for o in cell.get("outputs", []) if WIDGET in o.get("data", {})]
        if re.fullmatch(r"\w+\.widget\(\)", source):
            panel_cells += bool(shows)
        elif shows:
            stray.append(source.splitlines()[0])
    assert not stray, f"{notebook.stem}: widgets displayed outside a panel by {stray}"
    assert panel_cells, f"{notebook.stem}: no cell displayed a panel's widget"
