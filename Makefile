# Everything a fresh machine needs is installed from here; nothing may depend on a hand install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
ARTIFACTS := artifacts
# Debian packages the tests need; installed only when missing (root on these machines).
# libgomp1: numba's OpenMP layer, the thread-safe one the engine's parallel walk runs on.
APT_PACKAGES := chromium libgomp1

.PHONY: demo test lint bench crashtest install system-packages clean typecheck web

$(STAMPS):
	mkdir -p $(STAMPS)

$(STAMPS)/system: | $(STAMPS)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
	touch $@

system-packages: $(STAMPS)/system

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMPS)/python: pyproject.toml $(BIN)/python | $(STAMPS)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The console's browser libraries and basemap data come from npm (web/package-lock.json) and
# are copied where the service serves them; nothing is fetched from a CDN at run time.
CONSOLE_VENDOR := src/deconflict/web/static/vendor
$(STAMPS)/web: web/package.json web/package-lock.json | $(STAMPS)
	cd web && npm ci --no-audit --no-fund
	rm -rf $(CONSOLE_VENDOR) && mkdir -p $(CONSOLE_VENDOR)/images
	cp web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css $(CONSOLE_VENDOR)/
	cp web/node_modules/leaflet/dist/images/* $(CONSOLE_VENDOR)/images/
	cp web/node_modules/topojson-client/dist/topojson-client.min.js $(CONSOLE_VENDOR)/
	cp web/node_modules/world-atlas/countries-10m.json $(CONSOLE_VENDOR)/
	for p in leaflet topojson-client world-atlas; do cp web/node_modules/$$p/LICENSE $(CONSOLE_VENDOR)/LICENSE-$$p; done
	touch $@

web: $(STAMPS)/web

install: $(STAMPS)/python $(STAMPS)/web

demo: install
	$(BIN)/deconflict demo --db demo.sqlite --host 127.0.0.1 --port 8000

test: install system-packages
	@mkdir -p $(ARTIFACTS)/screenshots
	@echo "Screenshots of the browser tests go to $(CURDIR)/$(ARTIFACTS)/screenshots"
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

# SIGKILL the server during a write storm, restart, check nothing acknowledged was lost; on
# PostgreSQL too when DECONFLICT_TEST_POSTGRES_URL is set (.ci/run sets it).
crashtest: install
	$(BIN)/python -m bench.crashtest --cycles $${CYCLES:-20} --backend both

clean:
	rm -rf $(VENV) $(STAMPS) $(ARTIFACTS) web/node_modules src/deconflict/web/static/vendor .pytest_cache .mypy_cache .ruff_cache .hypothesis
