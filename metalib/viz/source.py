"""Show library code in a chapter, one way: a named function, or a region between marker comments.

A region is delimited in a :mod:`metalib` source file by two comments::

    # region: anil-inner-step
    ...
    # endregion: anil-inner-step

so that a chapter never slices source text at an arbitrary string, and renaming a variable
cannot silently change what the chapter shows.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap

__all__ = ["show_function", "show_region"]


def _markdown_code(code):
    from IPython.display import Markdown

    return Markdown(f"```python\n{code.rstrip()}\n```")


def show_function(obj):
    """The source of a public function or class of :mod:`metalib`, as a Markdown code block."""
    name = getattr(obj, "__name__", None)
    module = getattr(obj, "__module__", "") or ""
    if name is None or not module.startswith("metalib"):
        raise TypeError(f"obj must be a function or class of metalib, got {obj!r}")
    if name.startswith("_"):
        raise ValueError(f"obj must be public, got the private name {name!r}")
    return _markdown_code(textwrap.dedent(inspect.getsource(obj)))


def show_region(module, name):
    """The lines between ``# region: name`` and ``# endregion: name`` in ``module``.

    Parameters
    ----------
    module : module or str
        A module of :mod:`metalib` or its dotted name.
    name : str
        The region's name.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    lines = inspect.getsource(module).splitlines()
    start, end = f"# region: {name}", f"# endregion: {name}"
    stripped = [line.strip() for line in lines]
    if stripped.count(start) != 1 or stripped.count(end) != 1:
        raise ValueError(f"{module.__name__} must hold exactly one region {name!r}")
    i, j = stripped.index(start), stripped.index(end)
    if j < i:
        raise ValueError(f"region {name!r} ends before it starts in {module.__name__}")
    return _markdown_code(textwrap.dedent("\n".join(lines[i + 1 : j])))
