# The two commands a newcomer runs (see README.md):
#   make setup   install everything: Debian tools, .venv with pinned packages, .tools-venv (checkov)
#   make test    linters, type checker and the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools-venv
# Real programs the integration tests feed our generated configs to.
DEBIAN_PACKAGES := prometheus prometheus-alertmanager docker-registry

.PHONY: setup test lint typecheck unit

setup:
	./scripts/install-debian-packages $(DEBIAN_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip==26.3
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt

test: lint typecheck unit

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint -color=false

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest
