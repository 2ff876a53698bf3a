# dropbatch: every target installs what it needs (idempotent), then runs.
#   make demo   the whole pipeline on the local stack, with data the project makes itself
#   make test   the test suite (starts and stops its own servers)
#   make up / make down / make status   the local stack in the background
#   make lint   ruff and mypy;  make bench   the benchmarks (JSON)
#   make soak FILES=10000   files in waves onto a local stack (about an hour; not in CI)
#   make chaos  the fault matrix on a stack of its own (JSON; CHAOS_ARGS=--smoke for the CI subset)
#   make azcli-test   the Azure CLI against the local Batch service (own venv, opt-in)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: deps demo test up down status lint format bench soak chaos clean azcli azcli-test

deps: $(PY_STAMP) $(NODE_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: deps
	$(BIN)/python -m devstack.demo

test: deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

up: deps
	$(BIN)/python -m devstack up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m devstack down; else echo "nothing to stop"; fi

status: deps
	$(BIN)/python -m devstack status

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Azure CLI lives in its own venv: its pinned dependencies clash with the project's.
AZCLI_VENV  := .venv-azcli
AZCLI_STAMP := $(AZCLI_VENV)/.installed

azcli: $(AZCLI_STAMP)

$(AZCLI_STAMP):
	$(PYTHON) -m venv $(AZCLI_VENV)
	$(AZCLI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "azure-cli==2.91.*"
	touch $@

azcli-test: deps azcli
	$(BIN)/python -m pytest -m azcli tests/devstack/batchsvc/test_azcli.py $(PYTEST_ARGS)

bench: deps
	@$(BIN)/python -m bench

# Its own stack on free ports; the JSON goes to stdout and bench/results/soak-*.json.
FILES ?= 1000
soak: deps
	@$(BIN)/python -m devstack.soak --files $(FILES) $(SOAK_ARGS)

# The fault matrix (devstack/chaos): every hop under every fault, on free ports; exits 1 if a
# cell lost, duplicated or got wrong anything. The report goes to bench/results/.
CHAOS_ARGS ?=
chaos: deps
	@$(BIN)/python -m devstack.chaos --out bench/results/chaos-$$(date +%Y-%m-%d).json $(CHAOS_ARGS)

clean: down
	rm -rf .devstack demo-data local.settings.json

# Infrastructure checks: checkov in its own environment (large, with pins of its own).
# tests/infra runs it; `make infra-check` runs it alone, as .checkov.yaml configures it.
INFRA_VENV  := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

.PHONY: infra-deps infra-check

infra-deps: $(INFRA_STAMP)

$(INFRA_STAMP): infra/requirements-checks.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checks.txt
	touch $@

test: infra-deps

infra-check: infra-deps
	$(INFRA_VENV)/bin/checkov --config-file .checkov.yaml
