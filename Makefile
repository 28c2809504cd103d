# The two commands of the README. Each one sets up everything it needs from scratch:
#   make book   build the executed book into _build/html
#   make test   the lint gate, unit tests, checks of the chapters' sources and panels, a strict (-W)
#               book build that executes every chapter once with a kernel from a fresh environment
#               made as Binder makes it (binder/requirements.txt), and checks of the built pages in
#               headless Chromium (Live Code included)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.requirements-installed
JB_CACHE := _build/.jupyter_cache
# Sphinx's record of the pages it has read: a page it holds as up to date is neither read nor
# executed again, whatever the notebook cache says, so the two are cleared together
SPHINX_ENV := _build/.doctrees
# The notebook cache is keyed on notebook code only; this key adds the library, so that a
# change in metalib/ re-executes every chapter instead of serving stale outputs.
LIB_KEY := _build/.metalib-key
# One BLAS thread per process: the chapters' matrices are small, and two executions at once (or a
# loaded machine) with two OpenBLAS threads each ran several times slower than single-threaded.
export OPENBLAS_NUM_THREADS := 1

.PHONY: book test unit lint chapters-check notebooks book-check chromium benchmark clean cache-guard help python-check
.DEFAULT_GOAL := help

help:
	@echo "make book   build the book into _build/html (creates .venv on first use)"
	@echo "make test   run every test: lint, unit tests, chapter checks, a strict build that executes"
	@echo "            every chapter once in a Binder-like environment, browser checks"

# Python 3.11 is what Binder runs (binder/runtime.txt); 3.11 to 3.13 work (numpy 2.4 needs >= 3.11)
python-check:
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null || { \
	  v=$$($(PYTHON) -c 'import platform; print("Python", platform.python_version())' 2>/dev/null || echo "not found"); \
	  echo "make: $(PYTHON) is $$v; the book needs Python 3.11, 3.12 or 3.13 (check: python3 --version)."; \
	  echo "      Install one and run for example: make PYTHON=python3.11 book"; exit 1; }

# the reader's environment (requirements.txt) plus the build and test stack (requirements-dev.txt)
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(MAKE) --no-print-directory python-check
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

cache-guard: $(STAMP)
	@mkdir -p _build
	@key=$$(find metalib -name '*.py' -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1); \
	if [ "$$(cat $(LIB_KEY) 2>/dev/null)" != "$$key" ]; then \
	  rm -rf $(JB_CACHE) $(SPHINX_ENV); echo "$$key" > $(LIB_KEY); \
	  echo "metalib changed: every chapter will be executed again"; fi

# The reader's environment, made as Binder (repo2docker) makes it: binder/requirements.txt installed
# from the repository root. Its Python is registered as the kernel "python3" in READER_KERNELS, which
# JUPYTER_PATH puts before .venv's own kernel, so the book build below executes every chapter with it.
READER := _build/reader-venv
READER_KERNELS := _build/reader-kernels

book: $(STAMP) cache-guard
	$(BIN)/jupyter-book build --warningiserror --keep-going .
	@echo "Open file://$(CURDIR)/_build/html/index.html"

# tests by kind: tests/unit (the library), tests/chapters (the notebooks' sources), tests/book (the built HTML)
unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/unit

# two workers: the slow checks (a kernel per chapter, two small books) spread over both cores
chapters-check: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal tests/chapters

# the lint and format gate: the library, the tests, the benchmarks and the chapters' code cells
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The notebook check executes every chapter once: the strict (-W) book build, with the cache cleared,
# whose kernel runs in the reader's environment. A failing cell, or one with no reply within
# execute.timeout (_config.yml), fails it and names the cell. For one chapter at a time use nbval:
# .venv/bin/python -m pytest -p no:xdist chapters/NN_x.ipynb
notebooks: $(STAMP)
	rm -rf $(READER) $(READER_KERNELS) $(JB_CACHE) $(SPHINX_ENV) $(LIB_KEY)
	$(PYTHON) -m venv $(READER)
	$(READER)/bin/python -m pip install --quiet -r binder/requirements.txt
	$(READER)/bin/python -m ipykernel install --prefix $(CURDIR)/$(READER_KERNELS) --name python3 \
	  --display-name "Python 3 (reader)" >/dev/null
	@JUPYTER_PATH=$(CURDIR)/$(READER_KERNELS)/share/jupyter $(BIN)/jupyter kernelspec list \
	  | grep -q "python3 .*$(READER_KERNELS)" || { echo "the reader kernel is not the one found"; exit 1; }
	JUPYTER_PATH=$(CURDIR)/$(READER_KERNELS)/share/jupyter \
	  $(BIN)/jupyter-book build --warningiserror --keep-going .

# Debian's chromium for the browser test, installed once when missing (never downloaded by a test tool)
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  command -v apt-get >/dev/null || { \
	    echo "make: the browser checks need Chromium, and this system has no apt-get to install it."; \
	    echo "      Install Chromium with your package manager (dnf install chromium, pacman -S chromium,"; \
	    echo "      zypper install chromium, ...) so that 'chromium' or 'chromium-browser' is on PATH, then"; \
	    echo "      run make test again."; exit 1; }; \
	  echo "installing Debian's chromium for the browser test"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null; }

book-check: $(STAMP) chromium
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/book

test: lint unit chapters-check notebooks book-check

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf _build
