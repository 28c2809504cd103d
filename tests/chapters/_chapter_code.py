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


def _python(source):
    """A code cell's source without its IPython magics and shell lines."""
    return "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )


def code_tree(path):
    """The notebook's code cells as one module (IPython magics and shell lines dropped)."""
    code = "\n".join(_python(source) for source in cells(path, "code"))
    return ast.parse(code, filename=str(path))


def _names(tree):
    """The names a piece of code binds at its top level and the names it reads anywhere."""
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
    return bound, read


def _makes_or_uses_panel(tree):
    """Whether code calls a panel factory (``..._panel(...)``, ``Panel(...)``) or names panel."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "panel":
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", "")
            )
            if name == "Panel" or name.endswith("_panel"):
                return True
    return False


def panel_slice(path):
    """The code cells a chapter's panels need, in order: every cell that mentions a panel and,
    going backwards, every earlier cell that binds a name one of the kept cells reads.

    The rest (the chapter's long experiments) is left out; the book build executes it. The
    selection over-approximates (a name read inside a function counts, whether or not it is
    local), so a cell the panels need is never left out for want of a name.
    """
    sources = cells(path, "code")
    trees = [ast.parse(_python(s)) for s in sources]
    keep = {i for i, tree in enumerate(trees) if _makes_or_uses_panel(tree)}
    needed = set()
    for i in range(len(sources) - 1, -1, -1):
        bound, read = _names(trees[i])
        if i in keep or bound & needed:
            keep.add(i)
            needed |= read
    return [sources[i] for i in sorted(keep)]
