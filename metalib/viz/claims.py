"""Claims tables: what a chapter claims, where the claim comes from, and how the book checks it.

Every reproduction ends with a claims table made by :func:`claims_table`. Each row says

* ``claim``: the statement, in one sentence;
* ``source``: ``"paper"`` for what the paper itself states (its abstract, its confirmed settings
  and outcomes), ``"book"`` for the book's own derivation, reconstruction or choice;
* ``expected``: the paper's number or the book's prediction;
* ``measured``: what the chapter measured;
* ``status``: ``"asserted"`` (an ``assert`` in the same cell checks it, so CI fails if it breaks),
  ``"shown"`` (displayed, not asserted) or ``"not reproduced"``.

The table is rendered as a MyST ``{table}`` with the class ``claims-table`` and a label, so the
book's claims ledger (a back-matter page) can collect every row of every chapter at build time.
"""

from __future__ import annotations

__all__ = ["SOURCES", "STATUSES", "claims_table"]

SOURCES = ("paper", "book")
STATUSES = ("asserted", "shown", "not reproduced")
_COLUMNS = ("claim", "source", "expected", "measured", "status")


def _cell(text):
    return str(text).replace("|", r"\|").replace("\n", " ")


def claims_table(rows, label, caption="Claims and how this chapter checks them"):
    """Render a claims table as Markdown for the page and the claims ledger.

    Parameters
    ----------
    rows : sequence of dict
        Each with the keys ``claim``, ``source``, ``expected``, ``measured``, ``status``
        (see the module docstring for their meaning).
    label : str
        A label unique in the book (for example ``"claims-anil"``); the ledger links to it.
    caption : str
        The table's caption.

    Returns
    -------
    IPython.display.Markdown
    """
    from IPython.display import Markdown

    if not isinstance(label, str) or not label.replace("-", "").isalnum():
        raise ValueError(
            f"label must be a string of letters, digits and dashes, got {label!r}"
        )
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one claim")
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for i, row in enumerate(rows):
        missing = set(_COLUMNS) - set(row)
        if missing:
            raise ValueError(f"rows[{i}] lacks {sorted(missing)}")
        if row["source"] not in SOURCES:
            raise ValueError(
                f"rows[{i}]['source'] must be one of {SOURCES}, got {row['source']!r}"
            )
        if row["status"] not in STATUSES:
            raise ValueError(
                f"rows[{i}]['status'] must be one of {STATUSES}, got {row['status']!r}"
            )
        if "{" in str(row["claim"]) and "}`" in str(row["claim"]):
            raise ValueError(
                f"rows[{i}]['claim'] must read on its own, without cross-reference roles "
                "(the claims ledger shows it outside its chapter)"
            )
        lines.append("| " + " | ".join(_cell(row[c]) for c in _COLUMNS) + " |")
    body = "\n".join(lines)
    return Markdown(
        f":::{{table}} {caption}\n:class: claims-table\n:name: {label}\n\n{body}\n:::\n"
    )
