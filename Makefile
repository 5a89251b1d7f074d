# Parapheur — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# Test workers: one per core and one more — the suite waits on subprocesses, the browser and
# PostgreSQL often enough that a third worker on two cores fills the gaps (3 min 30 s, not 4 min 45 s).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
# package:probe — a command on the PATH, an absolute path, or lib:SONAME (a shared library).
RUN_PACKAGES := fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	libpango-1.0-0:lib:libpango-1.0.so.0 libpangoft2-1.0-0:lib:libpangoft2-1.0.so.0
TEST_PACKAGES := $(RUN_PACKAGES) softhsm2:softhsm2-util poppler-utils:pdfsig chromium:chromium \
	redis-server:redis-server xmlsec1:xmlsec1
SYSTEM_PACKAGES ?= $(TEST_PACKAGES)
# axe-core (accessibility checks injected in the browser tests), from the npm registry.
AXE_VERSION := 4.14.1
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js

.DEFAULT_GOAL := help
.PHONY: help install sysdeps run test bench lint demo clean translations

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# --no-compile: the suite reads compiled modules from .venv/pycache (below), never from the
# __pycache__ directories pip would fill. They are compiled there once, on both cores (8 s),
# rather than by each of the suite's first processes at once, each compiling the same modules.
$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache $(BIN)/python -m compileall -q -j 0 \
	  $(VENV)/lib/python*/site-packages parapheur signing >/dev/null
	touch $(STAMP)

install: $(STAMP) ## Create .venv with the project and its test extras

sysdeps: ## Install the system packages the tests need (apt-get, when missing and possible)
	@missing=""; for pair in $(SYSTEM_PACKAGES); do pkg=$${pair%%:*}; probe=$${pair#*:}; \
	  if [[ $$probe == lib:* ]]; then ldconfig -p 2>/dev/null | grep -q "$${probe#lib:}" || missing="$$missing $$pkg"; \
	  elif [[ $$probe == /* ]]; then [ -e "$$probe" ] || missing="$$missing $$pkg"; \
	  else command -v $$probe >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Missing system packages:$$missing (tests that need them will skip; run as root to install)"; fi; \
	fi

run: install ## Migrate the SQLite database under var/, seed the demo if empty, serve the app and one queue worker
	@$(MAKE) --no-print-directory sysdeps SYSTEM_PACKAGES="$(RUN_PACKAGES)"
	$(BIN)/parapheur db upgrade
	$(BIN)/parapheur demo seed --if-empty
	$(BIN)/parapheur serve --host $(HOST) --port $(PORT)

demo: install ## Reset the demo data (database, files, demo PKI)
	@$(MAKE) --no-print-directory sysdeps SYSTEM_PACKAGES="$(RUN_PACKAGES)"
	$(BIN)/parapheur demo seed --reset

$(AXE):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-save --no-audit --no-fund --prefix $(VENV)/npm axe-core@$(AXE_VERSION); \
	else echo "npm is missing: the accessibility tests will skip (Debian package npm)"; fi

# The suite starts many Python processes (xdist workers, the CLI, gunicorn, queue workers): they
# reuse compiled modules (and pytest its rewritten tests) from .venv/pycache, even where the
# environment sets PYTHONDONTWRITEBYTECODE.
test: install sysdeps $(AXE) ## Run the whole test suite (in parallel: TEST_WORKERS, default cores + 1)
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache \
	  $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: install sysdeps ## Run the benchmarks; they print ratios against baselines measured in the same run
	$(BIN)/python -m bench

lint: install ## Lint with ruff, type-check with mypy
	$(BIN)/ruff check parapheur signing tests bench
	$(BIN)/mypy signing parapheur

translations: install ## Extract the sentences marked for translation and update the catalogues (then translate the .po and run it again to compile)
	$(BIN)/pybabel extract -F babel.cfg -o $(VENV)/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d parapheur/translations --no-fuzzy-matching --ignore-obsolete --width 100
	$(BIN)/pybabel compile -d parapheur/translations --statistics

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var
