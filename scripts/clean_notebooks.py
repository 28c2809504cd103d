"""Strip outputs, execution counts and widget state from the chapter notebooks, in place.

Usage: ``python scripts/clean_notebooks.py [notebook ...]`` (default: every ``chapters/*.ipynb``).
"""

import json
import sys
from pathlib import Path


def clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    path.write_text(
        json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    for p in [Path(a) for a in sys.argv[1:]] or sorted(
        (root / "chapters").glob("*.ipynb")
    ):
        clean(p)
