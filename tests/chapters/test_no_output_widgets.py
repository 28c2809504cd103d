"""No chapter routes output through an ipywidgets Output widget (interact, interactive, Output).

nbclient (the executor of the book build) answers every output captured by an Output widget with a
comm_msg on the shell socket, sent through a synchronous shadow of its asyncio socket; that send can
consume the socket's wake-up, and the cell's execute_reply then waits unread until the cell's
timeout (scripts/hang_repro.py reproduces it). Panels are built with viz.Panel instead.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "chapters").glob("*.ipynb"))
FORBIDDEN = re.compile(r"\b(interact|interactive|interact_manual|Output)\b")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_output_widget(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    bad = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and FORBIDDEN.search("".join(cell["source"]))
    ]
    assert not bad, (
        f"{path.name}: cells {bad} use interact/Output; build the panel with viz.Panel"
    )
