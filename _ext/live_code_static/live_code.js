/**
 * Live Code: turn the page's code cells into cells that run on a Jupyter kernel (thebe 0.9).
 *
 * Replaces sphinx-thebe.js. The "Live Code" entry of the launch menu calls initThebeSBT() (the theme),
 * which adds a status button under the title and calls initThebe() below. thebe is loaded from the
 * book's own _static/thebe/ (THEBE_JS_URL, set by _ext/live_code.py), never from a CDN. The kernel is
 * the one the page's <script type="text/x-thebe-config"> names: mybinder.org by default; another
 * config script on the page (thebe merges them all) may point at a local Jupyter server instead,
 * with useBinder: false and serverSettings.
 *
 * Four things thebe 0.9.3 would otherwise fetch from a CDN, lack, or get wrong with sphinx-thebe's config:
 * - its widget manager loads RequireJS from cdnjs.cloudflare.com before it builds any widget (and
 *   builds none if that fails): that one request is answered with _static/thebe/require.js;
 * - its LaTeX renderer loads MathJax 2 from cdnjs: switched off (mathjaxUrl: false); the page's own
 *   MathJax 3 typesets the math of Markdown outputs instead;
 * - it reads the kernel's name from kernelOptions.kernelName (sphinx-thebe writes kernelOptions.name);
 * - its Markdown renderer has no parser (Markdown outputs showed as raw source): it gets marked
 *   (_static/thebe/marked.min.js), with MyST's ":::{table} caption" fences reduced to the caption.
 */
(() => {
  "use strict";

  const REQUIREJS_CDN = "https://cdnjs.cloudflare.com/ajax/libs/require.js/";

  const statusButton = () => document.querySelector(".thebe-launch-button");

  const say = (text) => {
    const button = statusButton();
    if (button) button.textContent = text;
  };

  const loadScript = (src) =>
    new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.appendChild(script);
    });

  const loadStyle = (href) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  };

  // the CodeMirror stylesheet bundled in thebe gives every editor 300px: fit the code instead
  const fitEditors = () => {
    const style = document.createElement("style");
    style.textContent = ".thebe-cell .CodeMirror { height: auto; }";
    document.head.appendChild(style);
  };

  // thebe fetches RequireJS from a CDN by a fixed URL: serve the book's copy instead
  const serveRequireJsLocally = () => {
    const local = new URL(THEBE_JS_URL.replace(/index\.js$/, "require.js"), document.baseURI).href;
    const fetchFromNetwork = window.fetch.bind(window);
    window.fetch = (resource, init) => {
      const url = typeof resource === "string" ? resource : resource && resource.url;
      if (url && url.startsWith(REQUIREJS_CDN)) return fetchFromNetwork(local, init);
      return fetchFromNetwork(resource, init);
    };
  };

  // Mark every code cell's source as executable and give every cell an output area of its own:
  // thebe 0.9 pairs sources and outputs by their order on the page, so a cell without an output
  // (a remove-output cell such as a live panel's, an import) would otherwise take the next cell's.
  const prepareCells = () => {
    document.querySelectorAll(thebe_selector).forEach((cell) => {
      const source = cell.querySelector(thebe_selector_input);
      if (!source || source.hasAttribute("data-executable")) return;
      source.setAttribute("data-executable", "true");
      source.setAttribute("data-language", "python");
      let output = cell.querySelector(thebe_selector_output);
      if (!output) {
        output = document.createElement("div");
        output.className = "cell_output live-code-output";
        cell.appendChild(output);
      }
      output.setAttribute("data-output", "");
      cell.querySelectorAll("button.copybtn").forEach((button) => button.remove());
    });
  };

  // Markdown outputs: thebe takes $...$ math out before parsing and puts it back after; \( \)
  // math (the claims tables') keeps its backslashes; a MyST fence (":::{table} caption" with its
  // ":name:" options, and the closing ":::") becomes its caption in bold.
  const markdownParser = {
    render: async (text) =>
      window.marked.parse(
        text
          .replace(/^:::\{[\w-]+\}[ \t]*(.*)\n((?::[\w-]+:.*\n)*)/gm, (m, caption) =>
            caption ? `**${caption}**\n\n` : "",
          )
          .replace(/^:::[ \t]*$/gm, "")
          .replace(/\\([()[\]])/g, "\\\\$1"),
      ),
  };

  // the math of Markdown outputs, typeset by the page's own MathJax 3 (delimiters \( \) and \[ \])
  const typesetOutputs = () => {
    if (!window.MathJax || !MathJax.typesetPromise) return;
    const nodes = [...document.querySelectorAll(".thebe-output .jp-RenderedMarkdown")].filter(
      (node) => !node.dataset.liveCodeMath && node.childNodes.length,
    );
    for (const node of nodes) {
      node.dataset.liveCodeMath = "1";
      node.classList.add("mathjax_process");
      const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
      for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        if (text.parentElement.closest("pre, code")) continue;
        text.nodeValue = text.nodeValue
          .replace(/\$\$([^$]+)\$\$/g, "\\[$1\\]")
          .replace(/\$([^$\n]+)\$/g, "\\($1\\)");
      }
    }
    if (nodes.length) MathJax.typesetPromise(nodes).catch((e) => console.warn("Live Code:", e));
  };

  // outputs render asynchronously: typeset once the page's outputs have stopped changing
  const typesetWhenOutputsSettle = () => {
    let timer = null;
    new MutationObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(typesetOutputs, 200);
    }).observe(document.body, { childList: true, subtree: true });
  };

  const WHERE = { server: 1, session: 1, kernel: 1 };
  const READY = 'kernel ready. "run all" (under any cell) runs the page from the top.';
  let started = false;

  window.initThebe = async () => {
    if (started) return;
    started = true;
    say("Live Code: loading...");
    try {
      if (typeof window.thebe === "undefined" && typeof window.thebelab === "undefined") {
        serveRequireJsLocally();
        loadStyle(THEBE_JS_URL.replace(/index\.js$/, "thebe.css"));
        await Promise.all([
          loadScript(THEBE_JS_URL),
          loadScript(THEBE_JS_URL.replace(/index\.js$/, "marked.min.js")),
        ]);
      }
      const thebe = window.thebe || window.thebelab;
      fitEditors();
      prepareCells();
      const page = thebe.getPageConfig ? thebe.getPageConfig() : {};
      const kernel = page.kernelOptions || {};
      const where = page.useBinder === false ? "local kernel" : "mybinder.org";
      thebe.on("status", (event, data) => {
        if (data && data.subject && !WHERE[data.subject]) return;
        const ready = data.status === "ready" && document.body.dataset.liveCode === "connected";
        say(`Live Code (${where}): ${ready ? READY : data.status}`);
        document.body.dataset.liveCodeStatus = data.status;
      });
      // (thebe 0.9 reads useBinder from these options, not from the page, and defaults it to true;
      // an older thebelab, without getPageConfig, gets nothing but the page's configuration)
      await thebe.bootstrap(
        thebe.getPageConfig
          ? {
              requestKernel: true,
              useBinder: page.useBinder !== false,
              mathjaxUrl: false,
              kernelOptions: { kernelName: kernel.kernelName || kernel.name || "python3" },
            }
          : {},
      );
      const rendermime = thebe.notebook && thebe.notebook.rendermime;
      if (rendermime && window.marked) rendermime.markdownParser = markdownParser;
      typesetWhenOutputsSettle();
      document.body.dataset.liveCode = "connected";
      say(`Live Code (${where}): ${READY}`);
    } catch (error) {
      console.error("Live Code:", error);
      say(`Live Code could not start: ${error.message}. Use the Binder button instead.`);
      document.body.dataset.liveCode = "failed";
    }
  };
})();
