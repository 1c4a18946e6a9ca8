# Everything a fresh machine needs is installed from here; nothing may depend on a hand install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
ARTIFACTS := artifacts
# Debian packages the tests need; installed only when missing (root on these machines).
APT_PACKAGES :=

.PHONY: demo test lint bench install system-packages clean typecheck

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

install: $(STAMPS)/python

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

clean:
	rm -rf $(VENV) $(STAMPS) $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
