"""The claims ledger: one table of every claim the book checks, generated at build time.

Every chapter ends its reproduction with a claims table made by ``metalib.viz.claims_table``: a
Markdown output ``:::{table}`` with the class ``claims-table``, a name ``claims-<slug>`` and the
columns claim | source | expected | measured | status. myst-nb parses that output while it reads
the notebook, so the table is an ordinary docutils ``table`` node in the chapter's doctree.

This extension

* collects, when a document is read (``doctree-read``), every row of every ``claims-table`` table
  of that document into ``env.claims_ledger_rows[docname]`` (a copy of the claim cell, the source
  and the status, and the table's id), and purges and merges that store for incremental and
  parallel builds (``env-purge-doc``, ``env-merge-info``);
* offers the directive ``{claims-ledger}``, which leaves a placeholder in the ledger page; at
  ``doctree-resolved`` the placeholder becomes one table with a row per claim: the claim, its
  source, its status, and the chapter, linked to the table that checks it;
* marks the ledger page outdated whenever any other document is re-read, so that an incremental
  build never serves a stale ledger (``env-get-outdated``).

Nothing is typed twice: a claim lives in the chapter cell that checks it, and only there.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

_COLUMNS = ("claim", "source", "expected", "measured", "status")


class claims_ledger_placeholder(nodes.General, nodes.Element):
    """Where the ledger table goes; replaced at ``doctree-resolved``."""


class ClaimsLedgerDirective(SphinxDirective):
    """``{claims-ledger}``: the table of every claims-table row of every document."""

    has_content = False

    def run(self):
        self.env.claims_ledger_pages = getattr(self.env, "claims_ledger_pages", set())
        self.env.claims_ledger_pages.add(self.env.docname)
        return [claims_ledger_placeholder("")]


def _plain(node):
    """A copy of a table cell's content, with cross-references reduced to their text.

    The copy is inserted into another page after references were resolved, so it must not hold
    ``pending_xref`` nodes (nor ids that would clash with the chapter's own targets).
    """
    from sphinx import addnodes

    content = node.deepcopy()
    for xref in list(content.findall(addnodes.pending_xref)):
        xref.replace_self(nodes.inline("", "", *xref.children))
    for element in content.findall(nodes.Element):
        element["ids"] = []
        element["names"] = []
    paragraphs = list(content.children)
    if len(paragraphs) == 1 and isinstance(paragraphs[0], nodes.paragraph):
        return list(paragraphs[0].children)
    return paragraphs


def _rows_of_table(table):
    """The rows of one claims table as dicts, or ``[]`` if its header is not the expected one."""
    tgroup = next(iter(table.findall(nodes.tgroup)), None)
    if tgroup is None:
        return []
    thead = next(iter(tgroup.findall(nodes.thead)), None)
    tbody = next(iter(tgroup.findall(nodes.tbody)), None)
    if thead is None or tbody is None:
        return []
    header = [entry.astext().strip().lower() for entry in thead.findall(nodes.entry)]
    if not set(_COLUMNS) <= set(header):
        return []
    rows = []
    for row in tbody.findall(nodes.row):
        cells = list(row.findall(nodes.entry))
        if len(cells) != len(header):
            continue
        by_name = dict(zip(header, cells))
        rows.append(
            {
                "claim": _plain(by_name["claim"]),
                "claim_text": by_name["claim"].astext().strip(),
                "source": by_name["source"].astext().strip(),
                "status": by_name["status"].astext().strip(),
            }
        )
    return rows


def _collect(app, doctree):
    env = app.env
    store = getattr(env, "claims_ledger_rows", None)
    if store is None:
        store = env.claims_ledger_rows = {}
    found = []
    for table in doctree.findall(nodes.table):
        if "claims-table" not in table.get("classes", []):
            continue
        ids = table.get("ids") or []
        for row in _rows_of_table(table):
            row["anchor"] = ids[0] if ids else ""
            found.append(row)
    if found:
        store[env.docname] = found
    else:
        store.pop(env.docname, None)


def _purge(app, env, docname):
    getattr(env, "claims_ledger_rows", {}).pop(docname, None)
    getattr(env, "claims_ledger_pages", set()).discard(docname)


def _merge(app, env, docnames, other):
    if not hasattr(env, "claims_ledger_rows"):
        env.claims_ledger_rows = {}
    if not hasattr(env, "claims_ledger_pages"):
        env.claims_ledger_pages = set()
    for docname in docnames:
        if docname in getattr(other, "claims_ledger_rows", {}):
            env.claims_ledger_rows[docname] = other.claims_ledger_rows[docname]
        if docname in getattr(other, "claims_ledger_pages", set()):
            env.claims_ledger_pages.add(docname)


def _outdated(app, env, added, changed, removed):
    # any chapter read again may change its claims: read the ledger page again too
    if not (added or changed or removed):
        return []
    return sorted(
        getattr(env, "claims_ledger_pages", set()) - set(added) - set(changed)
    )


def _paragraph(*children, **attributes):
    return nodes.paragraph("", "", *children, **attributes)


def _ledger_table(app, fromdocname):
    env = app.env
    store = getattr(env, "claims_ledger_rows", {})
    header = ("", "claim", "source", "status", "checked in")
    widths = (4, 56, 8, 12, 20)
    table = nodes.table(classes=["claims-ledger"])
    tgroup = nodes.tgroup(cols=len(header))
    table += tgroup
    for width in widths:
        tgroup += nodes.colspec(colwidth=width)
    thead = nodes.thead()
    tgroup += thead
    head_row = nodes.row()
    for title in header:
        head_row += nodes.entry("", _paragraph(nodes.Text(title)))
    thead += head_row
    tbody = nodes.tbody()
    tgroup += tbody
    number = 0
    for docname in sorted(store):
        title = env.titles[docname].astext() if docname in env.titles else docname
        for row in store[docname]:
            number += 1
            uri = app.builder.get_relative_uri(fromdocname, docname)
            if row["anchor"]:
                uri += "#" + row["anchor"]
            link = nodes.reference("", "", nodes.Text(title), internal=True, refuri=uri)
            body_row = nodes.row(classes=["claims-ledger-row"])
            body_row += nodes.entry("", _paragraph(nodes.Text(str(number))))
            body_row += nodes.entry(
                "", _paragraph(*[n.deepcopy() for n in row["claim"]])
            )
            body_row += nodes.entry("", _paragraph(nodes.Text(row["source"])))
            body_row += nodes.entry("", _paragraph(nodes.Text(row["status"])))
            body_row += nodes.entry("", _paragraph(link))
            tbody += body_row
    rows = [row for docname in store for row in store[docname]]
    counts = {
        key: sum(row[field] == key for row in rows)
        for field, keys in (
            ("source", ("paper", "book")),
            ("status", ("asserted", "shown")),
        )
        for key in keys
    }
    summary = _paragraph(
        nodes.Text(
            f"{number} claims from {len(store)} chapter{'s' * (len(store) != 1)}: "
            f"{counts['paper']} from the papers "
            f"and {counts['book']} of the book's own; {counts['asserted']} asserted (the "
            f"book's build fails if one stops holding), {counts['shown']} shown, and "
            f"{number - counts['asserted'] - counts['shown']} not reproduced."
        ),
        classes=["claims-ledger-summary"],
    )
    return [summary, table]


def _mathjax_on_ledger(app, pagename, templatename, context, doctree):
    """The ledger's math comes from other pages, so Sphinx's read of the ledger page found none and
    would leave MathJax off it: say the page has equations before the MathJax handler looks."""
    if pagename in getattr(app.env, "claims_ledger_pages", ()):
        app.env.get_domain("math").data["has_equations"][pagename] = True


def _resolve(app, doctree, fromdocname):
    for placeholder in list(doctree.findall(claims_ledger_placeholder)):
        placeholder.replace_self(_ledger_table(app, fromdocname))


def setup(app):
    app.add_node(claims_ledger_placeholder)
    app.add_directive("claims-ledger", ClaimsLedgerDirective)
    app.connect("doctree-read", _collect)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _outdated)
    app.connect("doctree-resolved", _resolve)
    app.connect("html-page-context", _mathjax_on_ledger, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
