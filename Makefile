PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
SERVE_STAMP := $(VENV)/.installed

.PHONY: serve test test-postgres lint bench fuzz soak screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	mkdir -p data
	$(BIN)/vm-registry serve --db data/registry.db

lint: $(STAMP)
	$(BIN)/ruff check src tests ops
	$(BIN)/ruff format --check src tests ops
	$(BIN)/mypy
	$(BIN)/python -m ops.unasync --check

test: lint
	$(BIN)/pytest -q

# The same suite with every registry on PostgreSQL, a database of its own per registry
# (tests/support/backend.py); CI runs it after `make test`. VM_REGISTRY_TEST_POSTGRES names the
# server (default postgresql://postgres@127.0.0.1:5432/test).
test-postgres: $(STAMP)
	VM_REGISTRY_TEST_BACKEND=postgres $(BIN)/pytest -q

# Longer hostile-input and load runs, outside the default suite.
fuzz: $(STAMP)
	VM_REGISTRY_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q tests/hostile

soak: $(STAMP)
	VM_REGISTRY_SOAK_SECONDS=30 $(BIN)/pytest -q -m slow tests/faults

# Benchmarks: see ops/bench/README.md. ARGS is passed through, e.g. make bench ARGS="--url http://127.0.0.1:3000".
bench: $(STAMP)
	$(BIN)/python -m ops.bench.run $(ARGS)

# Redraws docs/img/dashboard.png from a demo fleet, in the system's Chromium.
screenshot: $(STAMP)
	$(BIN)/python -m tests.ui.screenshot

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
