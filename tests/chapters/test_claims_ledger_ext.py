"""The claims-ledger extension (``_ext/claims_ledger.py``) on a tiny book built in a temp dir.

The tiny book has a notebook whose stored outputs hold two claims tables, made by
``metalib.viz.claims_table`` (so the test follows the real Markdown the chapters emit), and a
ledger page with the ``{claims-ledger}`` directive. Execution is off: the outputs are parsed as
myst-nb parses the chapters' outputs in the real build.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from metalib import viz

ROOT = Path(__file__).resolve().parents[2]

ROWS_A = [
    {
        "claim": "the distance falls like $e^{-\\alpha\\beta t}$",
        "source": "book",
        "expected": "0.01",
        "measured": "0.0101",
        "status": "asserted",
    },
    {
        "claim": "average loss does not recover the subspace",
        "source": "paper",
        "expected": "> 0.9",
        "measured": "0.998",
        "status": "shown",
    },
]
ROWS_B = [
    {
        "claim": "a finite-sample floor | that shrinks with m",
        "source": "paper",
        "expected": "decreasing",
        "measured": "0.27, 0.10",
        "status": "not reproduced",
    }
]

CONF = """
extensions = ["myst_nb", "claims_ledger"]
nb_execution_mode = "off"
nb_render_markdown_format = "myst"
myst_enable_extensions = ["colon_fence", "dollarmath"]
exclude_patterns = ["_build"]
"""


def _markdown_output(md):
    return nbformat.v4.new_output(
        "execute_result",
        data={"text/markdown": md.data, "text/plain": "<Markdown>"},
        execution_count=1,
    )


def _make_book(tmp_path, second_table=True):
    src = tmp_path / "src"
    (src / "chapters").mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / '_ext')!r})\n" + CONF
    )
    (src / "index.md").write_text(
        "# Tiny book\n\n```{toctree}\nchapters/ch1\nchapters/ch2\nledger\n```\n"
    )
    (src / "ledger.md").write_text("# Ledger\n\n```{claims-ledger}\n```\n")
    (src / "chapters" / "ch2.md").write_text("# Chapter two\n\nNo claims here.\n")
    _write_notebook(src, second_table)
    return src


def _write_notebook(src, second_table):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter one\n\nText.")]
    for rows, label in ((ROWS_A, "claims-one"), (ROWS_B, "claims-two")):
        if label == "claims-two" and not second_table:
            continue
        cell = nbformat.v4.new_code_cell("viz.claims_table(rows)", execution_count=1)
        cell.outputs = [_markdown_output(viz.claims_table(rows, label=label))]
        nb.cells.append(cell)
    nbformat.write(nb, src / "chapters" / "ch1.ipynb")


def _build(src, out):
    # a subprocess per build: Sphinx registers node classes globally, once per process
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return (out / "ledger.html").read_text()


def _ledger_rows(html):
    table = re.search(r"<table[^>]*claims-ledger[^>]*>(.*?)</table>", html, re.S)
    assert table, "the ledger page has no claims-ledger table"
    return re.findall(
        r'<tr class="[^"]*claims-ledger-row[^"]*">(.*?)</tr>', table.group(1), re.S
    )


def test_ledger_lists_every_row_with_a_link(tmp_path):
    pytest.importorskip("myst_nb")
    src = _make_book(tmp_path)
    html = _build(src, tmp_path / "out")
    rows = _ledger_rows(html)
    assert len(rows) == 3, html
    text = [re.sub(r"<[^>]+>", "", r) for r in rows]
    assert "average loss does not recover the subspace" in text[1]
    assert "a finite-sample floor | that shrinks with m" in text[2]
    for row, anchor in zip(rows, ["claims-one", "claims-one", "claims-two"]):
        assert f'href="chapters/ch1.html#{anchor}"' in row, row
    assert [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[2:4] for r in rows] == [
        ["<p>book</p>", "<p>asserted</p>"],
        ["<p>paper</p>", "<p>shown</p>"],
        ["<p>paper</p>", "<p>not reproduced</p>"],
    ]
    assert "math" in rows[0]  # the claim keeps its math
    chapter = (tmp_path / "out" / "chapters" / "ch1.html").read_text()
    assert 'id="claims-one"' in chapter and 'id="claims-two"' in chapter


def test_incremental_build_refreshes_the_ledger(tmp_path):
    pytest.importorskip("myst_nb")
    src = _make_book(tmp_path, second_table=False)
    out = tmp_path / "out"
    assert len(_ledger_rows(_build(src, out))) == 2
    time.sleep(
        1.1
    )  # a newer mtime: only the notebook changes, the ledger page does not
    _write_notebook(src, second_table=True)
    assert len(_ledger_rows(_build(src, out))) == 3
