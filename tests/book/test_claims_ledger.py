"""The claims ledger of the built book lists every claims-table row of every chapter page.

Run after the strict build (``make book``). For each page of the table of contents, the rows of
its ``claims-table`` tables are counted; the ledger must hold exactly as many rows linking to that
page, each link must point at an id of a claims table there, and the claim, source and status of
each ledger row must match the chapter's row.
"""

import re
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
LEDGER = HTML / "chapters" / "claims_ledger.html"

_TABLE = re.compile(r"<table(?P<attrs>[^>]*)>(?P<body>.*?)</table>", re.S)
_CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.S)


def _text(fragment):
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _class_tables(page_text, cls):
    for match in _TABLE.finditer(page_text):
        attrs = match.group("attrs")
        classes = re.search(r'class="([^"]*)"', attrs)
        if classes and cls in classes.group(1).split():
            ident = re.search(r'id="([^"]*)"', attrs)
            yield (ident.group(1) if ident else ""), match.group("body")


def _body_rows(table_body):
    body = re.search(r"<tbody>(.*?)</tbody>", table_body, re.S)
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S) if body else []


def chapter_pages():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    docs = re.findall(r"(?:root|file):\s*(\S+)", toc)
    return [d for d in docs if d != "chapters/claims_ledger"]


def _claims_of_page(doc):
    text = (HTML / f"{doc}.html").read_text(encoding="utf-8")
    claims = []
    for ident, body in _class_tables(text, "claims-table"):
        header = [
            _text(c).lower()
            for c in _CELL.findall(
                re.search(r"<thead>(.*?)</thead>", body, re.S).group(1)
            )
        ]
        for row in _body_rows(body):
            cells = dict(zip(header, (_text(c) for c in _CELL.findall(row))))
            claims.append((ident, cells["claim"], cells["source"], cells["status"]))
    return claims


def _ledger_rows():
    assert LEDGER.is_file(), "no claims ledger page: build the book first (make book)"
    tables = list(_class_tables(LEDGER.read_text(encoding="utf-8"), "claims-ledger"))
    assert len(tables) == 1, "the ledger page must hold exactly one claims-ledger table"
    rows = []
    for row in _body_rows(tables[0][1]):
        cells = _CELL.findall(row)
        href = re.search(r'href="([^"]*)"', cells[4]).group(1)
        page, _, anchor = href.partition("#")
        doc = "chapters/" + page.removesuffix(".html")
        rows.append((doc, anchor, _text(cells[1]), _text(cells[2]), _text(cells[3])))
    return rows


def test_ledger_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "chapters/claims_ledger" in toc


@pytest.mark.parametrize("doc", chapter_pages())
def test_ledger_lists_every_claim_of_the_page(doc):
    page = HTML / f"{doc}.html"
    assert page.is_file(), f"{doc} is in _toc.yml but was not built"
    in_page = _claims_of_page(doc)
    in_ledger = [row[1:] for row in _ledger_rows() if row[0] == doc]
    assert in_ledger == in_page, (
        f"{doc}: the chapter has {len(in_page)} claims-table rows, "
        f"the ledger lists {len(in_ledger)} for it (or they differ)"
    )


def test_ledger_links_point_at_claims_tables():
    ids = {}
    for doc, anchor, *_ in _ledger_rows():
        if doc not in ids:
            text = (HTML / f"{doc}.html").read_text(encoding="utf-8")
            ids[doc] = {ident for ident, _ in _class_tables(text, "claims-table")}
        assert anchor in ids[doc], (
            f"ledger link {doc}#{anchor} is not a claims table there"
        )


def test_every_chapter_with_a_reproduction_has_claims():
    chapters = [d for d in chapter_pages() if re.match(r"chapters/\d\d_", d)]
    with_claims = {row[0] for row in _ledger_rows()}
    assert with_claims, "the ledger lists no claims at all"
    missing = [
        d for d in chapters if d not in with_claims and not d.startswith("chapters/00")
    ]
    assert not missing, f"chapters without a claims table: {missing}"
