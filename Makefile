# CSO Hub: `make run` (a hub at http://localhost:5000 on SQLite) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HUB := $(VENV)/bin/hub
# the peers kit is a copy of ../shared/peers, so a clone anywhere can install and run the peers
PEERS_KIT ?= $(CURDIR)/scripts/peers
PEERS ?= $(CURDIR)/.peers
export PEERS PEERS_KIT
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# tests run in this many processes (pytest-xdist; 0: in one); the end-to-end ones run after them in
# one process, since they share machine-wide peers and addresses
TEST_WORKERS ?= 2

.PHONY: run test lint bench image-check translations system-deps peers clean

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

## system-deps: from Debian's packages when missing: ICU, Chromium (browser tests), venv, Node.js/npm, curl (peers), wrk (bench)
system-deps:
	bash scripts/system-deps.sh --test

## peers: independent fediverse servers from PyPI for the end-to-end tests, and their host names
peers: $(PEERS)/.installed
	@grep -q '# peers begin' /etc/hosts || $(SUDO) env PEERS=$(PEERS) bash $(PEERS_KIT)/peers.sh hosts
$(PEERS)/.installed: $(PEERS_KIT)/peers.sh | system-deps
	bash $(PEERS_KIT)/peers.sh install
	$(PEERS)/bovine/bin/python -c 'import bovine, bovine_herd, bovine_store, hypercorn'
	$(PEERS)/pasture/bin/python -c 'import bovine, fediverse_pasture, hypercorn'
	$(PEERS)/bovine/bin/python -c 'import json, sys; sys.exit(len(json.load(open(sys.argv[1]))) < 5)' \
		$(PEERS)/contexts/contexts.json
	touch $@

translations: $(VENV)/.runtime
	$(VENV)/bin/pybabel compile -f -d hub/translations >/dev/null

lint: $(VENV)/.test
	$(VENV)/bin/ruff check hub federation tests bench gunicorn.conf.py

## test: every test (unit, app, federation, real peers, real browser); pytest's "no tests" (5) is not a failure
test: $(VENV)/.test system-deps peers lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --ignore=tests/e2e $(PYTEST_ARGS) tests; rc=$$?; \
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/e2e; e2e=$$?; \
	for code in $$rc $$e2e; do [ $$code -eq 0 ] || [ $$code -eq 5 ] || exit $$code; done

## bench: the performance benchmarks of issue 4, with their report (wrk installed by system-deps)
bench: $(VENV)/.test system-deps
	$(PY) -m bench

## image-check: build the Docker image (Docker, or Podman from Debian) and run it as compose does;
## a few minutes, as root (chroot); not part of `make test`
image-check: $(VENV)/.test
	bash scripts/system-deps.sh --image
	$(SUDO) env HUB_IMAGE_CHECK=1 $(PY) -m pytest -q -s tests/app/test_image_build.py

clean:
	rm -rf $(VENV) $(PEERS) instance
