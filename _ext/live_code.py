"""Live Code that works offline and with the book's panels (sphinx-thebe 0.3.1 + thebe 0.9.3).

sphinx-thebe loads thebe 0.8.2 from unpkg.com when "Live Code" is clicked. That release bundles
the ipywidgets 7 front end and cannot show the panels of an ipywidgets 8 kernel; its page script
also calls ``thebelab.bootstrap()`` in a way thebe 0.9 no longer starts a kernel from. This
extension:

* copies thebe 0.9.3 (ipywidgets 8 front end) and RequireJS (which thebe's widget manager loads
  before it builds any widget, from a CDN unless the page serves it), fetched from the npm
  registry by ``scripts/vendor_thebe.py``, into ``_static/thebe/`` of the built book, with their
  licences;
* points sphinx-thebe's ``THEBE_JS_URL`` at that copy and replaces ``sphinx-thebe.js`` by
  ``live_code.js`` (this folder's ``live_code_static/``), which starts thebe 0.9 with a kernel,
  hands it the book's RequireJS, and gives every code cell (a live panel's ``remove-output``
  cell too) an output area of its own;
* drops the widget-state JSON that myst-nb embeds in a page whose notebook stored it: the book
  loads no widget manager (``nb_ipywidgets_js: {}``) and every live panel's output is removed, so
  the state is never used (it was 36-122 KB per panel page).

Config: ``live_code_thebe`` (default ``scripts/vendor_thebe.PACKAGE``), the npm package copied.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.builders.html._assets import _JavaScript
from sphinx.util import logging

HERE = Path(__file__).resolve().parent
VENDOR_SCRIPT = HERE.parent / "scripts" / "vendor_thebe.py"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
logger = logging.getLogger(__name__)


def _vendor_module():
    spec = importlib.util.spec_from_file_location("vendor_thebe", VENDOR_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _add_static(app: Sphinx):
    app.config.html_static_path.append(str(HERE / "live_code_static"))


def _rewrite_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    thebe_url = context["pathto"]("_static/thebe/index.js", 1)
    kept = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        filename = str(getattr(script, "filename", script) or "")
        if attributes.get("type") == WIDGET_STATE:
            continue  # unused: no widget manager is loaded and live panels' outputs are removed
        if filename.endswith("sphinx-thebe.js"):
            continue  # replaced by live_code.js below
        body = attributes.get("body", "")
        if "THEBE_JS_URL" in body:
            body = "; ".join(
                f'const THEBE_JS_URL = "{thebe_url}"'
                if part.strip().startswith("const THEBE_JS_URL")
                else part
                for part in body.split("; ")
            )
            # a new object: the registered one is shared by every page
            kept.append(
                _JavaScript(
                    None, priority=script.priority, **{**attributes, "body": body}
                )
            )
            kept.append(_JavaScript("_static/live_code.js", defer="defer"))
            continue
        kept.append(script)
    scripts[:] = kept


def _copy_thebe(app: Sphinx, exception):
    if exception is not None or app.builder.format != "html":
        return
    vendor = _vendor_module()
    package = app.config.live_code_thebe or vendor.PACKAGE
    dest = vendor.vendor(Path(app.outdir) / "_static" / "thebe", package)
    logger.info(f"[live_code] {package} copied to {dest}")


def setup(app: Sphinx):
    app.add_config_value("live_code_thebe", "", "html")
    app.connect("builder-inited", _add_static)
    # after myst-nb (priority 500) added the page's widget state, and after book_html_fixes (100)
    app.connect("html-page-context", _rewrite_scripts, priority=800)
    app.connect("build-finished", _copy_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
