"""Chapters use public names of ``metalib`` only, imported one way.

* Imports: ``import metalib`` (for the foundations' names, used as ``metalib.<name>``),
  ``from metalib import <part>`` for a part (``linrep``, ``overparam``, ``erm_vs_maml``,
  ``anil_steps``) and ``from metalib import viz``: no alias, no ``from metalib.<module> import``,
  no other name imported from ``metalib``. One name per part, the module's own, in every chapter.
* No name that starts with an underscore is reached through ``metalib`` (an attribute of
  ``metalib``, of a part or of ``viz``, at any depth), so a private rename never breaks a chapter.
"""

from __future__ import annotations

import ast

import pytest
from _chapter_code import CHAPTERS, code_tree

PARTS = ("linrep", "overparam", "erm_vs_maml", "anil_steps", "viz")


def import_problems(tree):
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "metalib":
                    continue
                if alias.name != "metalib" or alias.asname:
                    problems.append(
                        f"line {node.lineno}: 'import {alias.name}"
                        + (f" as {alias.asname}'" if alias.asname else "'")
                        + "; write 'import metalib' or 'from metalib import <part>'"
                    )
        elif (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "metalib"
        ):
            if node.module != "metalib":
                problems.append(
                    f"line {node.lineno}: 'from {node.module} import ...'; "
                    "write 'from metalib import <part>' and use <part>.<name>"
                )
                continue
            for alias in node.names:
                if alias.name not in PARTS:
                    problems.append(
                        f"line {node.lineno}: 'from metalib import {alias.name}'; "
                        f"use metalib.{alias.name} after 'import metalib'"
                    )
                elif alias.asname:
                    problems.append(
                        f"line {node.lineno}: '{alias.name}' imported as '{alias.asname}'; "
                        "use the part's own name"
                    )
    return problems


def metalib_names(tree):
    """The local names bound to metalib or one of its modules by the chapter's imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "metalib":
                    names.add(alias.asname or "metalib")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "metalib"
        ):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def private_uses(tree):
    roots = metalib_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "metalib"
        ):
            parts = node.module.split(".") + [a.name for a in node.names]
            found += [
                f"line {node.lineno}: imports {p!r} from {node.module}"
                for p in parts
                if p.startswith("_")
            ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: imports {a.name}"
                for a in node.names
                if a.name.startswith("metalib")
                and any(p.startswith("_") for p in a.name.split("."))
            ]
        elif isinstance(node, ast.Attribute):
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in roots:
                private = [
                    a for a in reversed(chain) if a.startswith("_") and a[:2] != "__"
                ]
                if private and node.attr == chain[0] and node.attr.startswith("_"):
                    found.append(
                        f"line {node.lineno}: {base.id}.{'.'.join(reversed(chain))}"
                    )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            # getattr(linrep, "_x") reaches a private name as surely as linrep._x
            if node.func.id == "getattr" and len(node.args) >= 2:
                obj, name = node.args[0], node.args[1]
                if (
                    isinstance(obj, ast.Name)
                    and obj.id in roots
                    and isinstance(name, ast.Constant)
                    and str(name.value).startswith("_")
                ):
                    found.append(
                        f"line {node.lineno}: getattr({obj.id}, {name.value!r})"
                    )
    return found


def test_there_are_chapters():
    assert CHAPTERS


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_metalib_imported_one_way(path):
    problems = import_problems(code_tree(path))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_private_metalib_name(path):
    found = private_uses(code_tree(path))
    assert not found, f"{path.name} uses private names of metalib:\n  " + "\n  ".join(
        found
    )


def test_the_checks_see_what_they_must():
    # the two checks on a small sample, so that a change that blinds them fails here
    tree = ast.parse(
        "import metalib\nfrom metalib import linrep, viz\nimport metalib.erm_vs_maml as em\n"
        "from metalib.subspace import principal_angles\nfrom metalib import overparam as op\n"
        "linrep._task_gradients(1)\nmetalib.linrep._x\nem._inner_loop\nop.model._moments\n"
        "viz.linrep.some_panel()\nfrom metalib.linrep import _private\nmetalib.__version__\n"
    )
    assert len(import_problems(tree)) == 4
    found = private_uses(tree)
    assert len(found) == 5, found
