"""A small fix to the HTML that Jupyter Book 1.x (Sphinx 7.4, sphinx-thebe 0.3.1) writes.

* sphinx-thebe adds its configuration script after the HTML builder has read the registry, so
  every page got the script twice and the browser threw "Identifier 'THEBE_JS_URL' has already
  been declared". Scripts that are exact duplicates (same file, same attributes and body) are
  dropped from each page, keeping the first.

The theme's colour mode and the favicon, the other two console complaints of a fresh visit, are
set in _config.yml.
"""


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the same inline script arrives once with filename None and once with filename "":
        # treat them alike
        filename = getattr(script, "filename", script) or ""
        key = (
            str(filename),
            tuple(
                sorted(
                    (k, str(v)) for k, v in getattr(script, "attributes", {}).items()
                )
            ),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # in place: handlers that run later add their scripts to this same list
    scripts[:] = unique


def _add_code_css(app):
    # the folder beside this module holds book_code.css (code cells sized to fit 88 columns)
    from pathlib import Path

    app.config.html_static_path.append(str(Path(__file__).parent / "book_static"))
    app.add_css_file("book_code.css")


def setup(app):
    app.connect("builder-inited", _add_code_css)
    # Sphinx emits html-page-context with emit_firstresult: handlers after one that returns a
    # template name are skipped, so this one runs early (default priority is 500).
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
