# CSO Hub: `make run` (a hub at http://localhost:5000 on SQLite) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HUB := $(VENV)/bin/hub
SHARED ?= $(abspath ../shared)
PEERS ?= $(CURDIR)/.peers
export PEERS

.PHONY: run test lint bench translations system-deps peers clean

$(VENV)/.runtime: pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install -q -e '.[test]'
	touch $@

## run: install, migrate SQLite, create a demo organisation on first run, start web and worker
run: $(VENV)/.runtime
	HUB_SCHEME=$${HUB_SCHEME:-http} bash scripts/run.sh

## system-deps: Chromium (for browser tests) from Debian's packages, when it is missing
system-deps:
	bash scripts/system-deps.sh --test

## peers: independent fediverse servers from PyPI, for the end-to-end tests
peers: $(PEERS)/.installed
$(PEERS)/.installed: $(SHARED)/peers/peers.sh
	bash $(SHARED)/peers/peers.sh install
	touch $@

translations: $(VENV)/.runtime
	$(VENV)/bin/pybabel compile -f -d hub/translations >/dev/null

lint: $(VENV)/.test
	$(VENV)/bin/ruff check hub federation tests bench

test: $(VENV)/.test system-deps peers lint
	$(PY) -m pytest -q tests

bench: $(VENV)/.test
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(PEERS) instance
