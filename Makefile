# The two commands a newcomer runs (see README.md):
#   make setup   install everything: Debian tools, .venv with the development lock and this project, .tools-venv (checkov)
#   make test    linters, type checker and the whole test suite
# And for maintainers:
#   make lock    regenerate every lock file from its .in source (keeps existing pins;
#                LOCK_ARGS="--upgrade-package NAME" or LOCK_ARGS=--upgrade to move them)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools-venv
# Real programs the integration tests feed our generated configs to.
DEBIAN_PACKAGES := prometheus prometheus-alertmanager docker-registry
SERVICE := services/text-classifier

.PHONY: setup debian-packages dev-venv tools-venv test lint typecheck unit all-tests lock

setup: debian-packages dev-venv tools-venv

debian-packages:
	./scripts/install-debian-packages $(DEBIAN_PACKAGES)

# The development virtualenv (also what CI's offline jobs use): every package, pip and
# the build backend (setuptools) included, from the hashed lock, so the project's own
# editable build needs no unpinned download.
dev-venv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .

tools-venv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements/tools.txt

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

# One lock per role, each from its .in file, in dependency order: the program
# first (requirements.txt), then the sets constrained to it, the development
# set (every other set plus tools) last.
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(LOCK_ARGS)

lock:
	$(COMPILE) --output-file requirements.txt requirements/program.in
	$(COMPILE) --output-file policies/requirements.txt policies/requirements.in
	$(COMPILE) --output-file $(SERVICE)/requirements.txt $(SERVICE)/requirements.in
	$(COMPILE) --output-file $(SERVICE)/requirements-train.txt $(SERVICE)/requirements-train.in
	$(COMPILE) --output-file requirements/tools.txt requirements/tools.in
	$(COMPILE) --output-file requirements/dev.txt requirements/dev.in
