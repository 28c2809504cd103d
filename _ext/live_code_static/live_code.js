/**
 * Live Code: turn the page's code cells into cells that run on a Jupyter kernel (thebe 0.9).
 *
 * Replaces sphinx-thebe.js. The "Live Code" entry of the launch menu calls initThebeSBT() (the theme),
 * which adds a status button under the title and calls initThebe() below. thebe is loaded from the
 * book's own _static/thebe/ (THEBE_JS_URL, set by _ext/live_code.py), never from a CDN. The kernel is
 * the one the page's <script type="text/x-thebe-config"> names: mybinder.org by default; another
 * config script on the page (thebe merges them all) may point at a local Jupyter server instead,
 * with useBinder: false and serverSettings.
 */
(() => {
  "use strict";

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

  // Mark every code cell's source as executable and give every cell an output area of its own:
  // thebe 0.9 pairs sources and outputs by their order on the page, so a cell without an output
  // (a remove-output cell, an import) would otherwise take the next cell's output.
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

  let started = false;

  window.initThebe = async () => {
    if (started) return;
    started = true;
    say("Live Code: loading...");
    try {
      if (typeof window.thebe === "undefined" && typeof window.thebelab === "undefined") {
        loadStyle(THEBE_JS_URL.replace(/index\.js$/, "thebe.css"));
        await loadScript(THEBE_JS_URL);
      }
      const thebe = window.thebe || window.thebelab;
      prepareCells();
      const page = thebe.getPageConfig ? thebe.getPageConfig() : {};
      thebe.on("status", (event, data) => {
        const where = page.useBinder === false ? "local kernel" : "mybinder.org";
        say(`Live Code (${where}): ${data.status}`);
        document.body.dataset.liveCode = data.status;
      });
      await thebe.bootstrap({ requestKernel: true, useBinder: page.useBinder !== false });
      say(
        "Live Code: connected. Run the cells from the top (each cell's \"run all\" runs them in order).",
      );
      document.body.dataset.liveCode = "connected";
    } catch (error) {
      console.error("Live Code:", error);
      say(`Live Code could not start: ${error.message}. Use the Binder button instead.`);
      document.body.dataset.liveCode = "failed";
    }
  };
})();
