"""Shared by the chapter tests: the chapters, their code cells and their Markdown text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
PAGES = sorted((ROOT / "chapters").glob("*.md"))


def cells(path, kind):
    """The sources of the cells of ``kind`` ("code" or "markdown") of a notebook."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def code_tree(path):
    """The notebook's code cells as one module (IPython magics and shell lines dropped)."""
    lines = []
    for source in cells(path, "code"):
        lines += [
            line
            for line in source.splitlines()
            if not line.lstrip().startswith(("%", "!"))
        ]
    return ast.parse("\n".join(lines), filename=str(path))
