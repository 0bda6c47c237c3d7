# The two commands a newcomer runs (see README.md):
#   make setup   install everything: Debian tools, .venv with pinned packages, .tools-venv (checkov)
#   make test    linters, type checker and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools-venv
# Real programs the integration tests feed our generated configs to.
DEBIAN_PACKAGES := prometheus prometheus-alertmanager docker-registry

.PHONY: setup test lint typecheck unit all-tests

setup:
	./scripts/install-debian-packages $(DEBIAN_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip==26.3
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt

test: lint typecheck all-tests

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint -color=false
	$(BIN)/lint-imports --no-cache

typecheck:
	$(BIN)/mypy

# Unit tests only: no real programs (promtool, prometheus, docker-registry, checkov).
unit:
	$(BIN)/pytest -m "not integration"

all-tests:
	$(BIN)/pytest
