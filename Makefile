# The two commands of the README. Each one sets up everything it needs from scratch:
#   make book   build the executed book into _build/html
#   make test   unit tests, every notebook under nbval, and a strict (-W) book build
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.requirements-installed
WIDGETS := _vendor/widgets/embed-amd.js
JB_CACHE := _build/.jupyter_cache
# The notebook cache is keyed on notebook code only; this key adds the library, so that a
# change in metalib/ re-executes every chapter instead of serving stale outputs.
LIB_KEY := _build/.metalib-key

.PHONY: book test unit notebooks build-strict benchmark clean cache-guard help
.DEFAULT_GOAL := help

help:
	@echo "make book   build the book into _build/html (creates .venv on first use)"
	@echo "make test   run every test: unit tests, nbval on all chapters, strict book build"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(WIDGETS): scripts/vendor_js.py
	$(BIN)/python scripts/vendor_js.py

cache-guard: $(STAMP)
	@mkdir -p _build
	@key=$$(cat metalib/*.py | sha256sum | cut -d' ' -f1); \
	if [ "$$(cat $(LIB_KEY) 2>/dev/null)" != "$$key" ]; then \
	  rm -rf $(JB_CACHE); echo "$$key" > $(LIB_KEY); echo "metalib changed: notebook cache cleared"; fi

book: $(STAMP) $(WIDGETS) cache-guard
	$(BIN)/jupyter-book build --warningiserror --keep-going .
	@echo "Open file://$(CURDIR)/_build/html/index.html"

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests --ignore=tests/test_built_book.py

notebooks: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile chapters

build-strict: $(STAMP) $(WIDGETS) cache-guard
	$(BIN)/jupyter-book build --warningiserror --keep-going .

test: unit notebooks build-strict
	$(BIN)/python -m pytest -p no:xdist tests/test_built_book.py

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf _build
