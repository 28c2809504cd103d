"""A failing cell fails the strict book build (the notebook check of `make test`), naming the cell.

Builds a one-chapter book with the repository's _config.yml and the flags of the Makefile's
`notebooks` target; the chapter's second cell raises. About 30 s (one kernel, one Sphinx build).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]


def test_failing_cell_fails_the_build(tmp_path):
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "_ext", tmp_path / "_ext")
    shutil.copytree(ROOT / "assets", tmp_path / "assets")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "intro.md").write_text("# Intro\n\nText.\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/intro\nchapters:\n  - file: chapters/fail\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A chapter"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("assert x == 2, 'this cell fails'"),
    ]
    nbformat.write(nb, tmp_path / "chapters" / "fail.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run(
        [str(jb), "build", "--warningiserror", "--keep-going", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0, "a failing cell did not fail the strict build"
    assert "this cell fails" in done.stdout + done.stderr
