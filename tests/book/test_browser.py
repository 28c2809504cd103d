"""End-to-end check of the built book in headless Chromium (run by `make test` after the strict build).

Every page of the table of contents is served from ``_build/html`` on localhost and opened in Chromium. On each:
math is typeset by the local MathJax, no raw TeX is left visible, every image loads, every internal link resolves
(to an existing page and, with a ``#fragment``, to an existing anchor), and the console shows no error. Requests to
outside hosts cannot succeed on this machine; the driver blocks them and they are listed, not counted as errors.
A full-page screenshot of each page is saved to ``_build/screenshots/``.

The test fails, rather than skips, when the book is not built or Chromium is missing: `make test` installs
Chromium (Debian package) before running it.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
from browser import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"

# JavaScript run in each page after load. It returns what the Python side checks.
INSPECT_PAGE = r"""
(async () => {
  const images = [...document.images];
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const math = [...document.querySelectorAll("span.math, div.math")];
  const text = document.body.cloneNode(true);
  text.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(e => e.remove());
  return {
    math: math.length,
    untypeset: math.filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 80)),
    text: text.textContent,
    broken_images: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src")),
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    // code cells and their outputs that scroll sideways (the longest line of each, shortened)
    wide_code: [...document.querySelectorAll("div.cell_input div.highlight pre, div.cell_output pre")]
      .filter(e => e.scrollWidth > e.clientWidth + 1)
      .map(e => e.textContent.split("\n").reduce((a, l) => (l.length > a.length ? l : a), "").slice(0, 60)),
  };
})()
"""
RAW_TEX = [
    re.compile(p)
    for p in (r"\$\$", r"\\begin\{", r"\\\(", r"\\\[", r"(?<![\w\\])\$[^$\n]{1,200}\$")
]


def toc_pages():
    docs = re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8")
    )
    return [f"{doc}.html" for doc in docs]


def raw_tex(text):
    """Fragments of visible text that look like TeX that MathJax did not typeset."""
    return [m.group(0)[:60] for pattern in RAW_TEX for m in pattern.finditer(text)]


def unresolved_links(page_url, links, html_root=HTML):
    """Internal links of a page that point to no file, or to no anchor in an existing file."""
    base = urlparse(page_url)
    bad = []
    for link in links:
        url, fragment = urldefrag(link)
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or parsed.netloc != base.netloc:
            continue  # outside hosts, mailto:, javascript: are not ours
        target = html_root / unquote(parsed.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            bad.append(f"{link} (no such file)")
        elif (
            fragment
            and target.suffix == ".html"
            and not _has_anchor(target, unquote(fragment))
        ):
            bad.append(f"{link} (no anchor #{fragment})")
    return bad


@functools.cache
def _anchors(path):
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', path.read_text(encoding="utf-8")))


def _has_anchor(path, fragment):
    return fragment in _anchors(path)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    assert (HTML / "index.html").is_file(), (
        "the book is not built: run `make book` first"
    )
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert find_chromium(), (
        "chromium is not installed: `make test` installs it (apt-get install chromium)"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Browser() as b:
        yield b


#: what test_page_in_browser found on each page, reused by the positive control below
FOUND = {}


@pytest.fixture(scope="module")
def blocked_log():
    seen = {}
    yield seen
    lines = [
        f"{page}: {url}"
        for page, urls in sorted(seen.items())
        for url in sorted(set(urls))
    ]
    (SHOTS / "blocked-outside-requests.txt").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )


def inspect(browser, url):
    report = browser.open(url)
    return report, browser.evaluate(INSPECT_PAGE, await_promise=True)


@pytest.mark.parametrize("page", toc_pages())
def test_page_in_browser(page, server, browser, blocked_log):
    report, found = inspect(browser, f"{server}/{page}")
    FOUND[page] = found
    browser.screenshot(SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png"))
    blocked_log[page] = report.blocked
    problems = []
    if report.errors:
        problems.append(f"console errors: {report.errors}")
    if found["untypeset"]:
        problems.append(
            f"{len(found['untypeset'])} of {found['math']} formulas not typeset: {found['untypeset'][:3]}"
        )
    if raw := raw_tex(found["text"]):
        problems.append(f"raw TeX visible: {raw[:5]}")
    if found["broken_images"]:
        problems.append(f"images that did not load: {found['broken_images']}")
    if found["wide_code"]:
        problems.append(f"code that scrolls sideways: {found['wide_code'][:3]}")
    if bad := unresolved_links(report.url, found["links"]):
        problems.append(f"broken internal links: {bad[:5]}")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_every_chapter_has_math_typeset(server, browser):
    """A positive control: the pages that teach math do show typeset math (MathJax is served locally).

    Reuses what ``test_page_in_browser`` found on each page; a page it did not open is opened here."""
    for page in toc_pages():
        if page.startswith("chapters/0"):
            found = FOUND.get(page) or inspect(browser, f"{server}/{page}")[1]
            assert found["math"] > 0 and not found["untypeset"], page


# --- the checks themselves must be able to fail ------------------------------------------------------

BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<p>An unrendered formula: $$x^2$$ and \\begin{align} a \\end{align}, and inline $\\alpha$ text.</p>
<span class="math">\\(y\\)</span>
<a href="missing.html">a broken link</a> <a href="ok.html#nowhere">a broken anchor</a> <a href="ok.html#here">fine</a>
<img src="missing.png">
<div class="cell_input" style="width: 200px"><div class="highlight"><pre style="overflow-x: auto">a_code_line_far_longer_than_its_box = "so wide that it scrolls sideways in it"</pre></div></div>
<script>console.error("deliberate error")</script>
</body></html>"""


def test_raw_tex_detector():
    assert raw_tex("display $$x^2$$ left raw") and raw_tex(
        r"an environment \begin{align} left raw"
    )
    assert raw_tex(r"inline $\alpha$ left raw") and raw_tex(
        r"delimiters \(y\) left raw"
    )
    assert not raw_tex("prose that costs nothing, with no formula at all")


def test_checks_catch_a_broken_page(tmp_path, browser):
    (tmp_path / "broken.html").write_text(BROKEN_PAGE, encoding="utf-8")
    (tmp_path / "ok.html").write_text('<p id="here">ok</p>', encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        report, found = inspect(
            browser, f"http://127.0.0.1:{httpd.server_address[1]}/broken.html"
        )
    finally:
        httpd.shutdown()
    assert any("deliberate error" in e for e in report.errors)
    assert found["untypeset"], "a .math element without MathJax output must be reported"
    assert raw_tex(found["text"]), "raw TeX in the page must be reported"
    assert found["broken_images"] == ["missing.png"]
    assert found["wide_code"], "a code cell that scrolls sideways must be reported"
    bad = unresolved_links(report.url, found["links"], html_root=tmp_path)
    assert len(bad) == 2 and "missing.html" in bad[0] and "#nowhere" in bad[1]
