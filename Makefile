# The README's commands. Everything installs into .venv; nothing is needed beyond Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Konvergo needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

## make run: set up and serve on http://127.0.0.1:8000 (SQLite in var/, worker in-process)
run: $(RUN_STAMP)
	@exec $(BIN)/konvergo run

## make test: ruff, mypy, import contracts and the whole test suite (SQLite, then PostgreSQL
## when KONVERGO_TEST_POSTGRES_URL is set)
test: lint typecheck pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(DEV_STAMP)
	$(BIN)/mypy src tests benchmarks

pytest: $(DEV_STAMP)
	$(BIN)/pytest
	@if [ -n "$$KONVERGO_TEST_POSTGRES_URL" ]; then \
		echo "== the same suite on PostgreSQL =="; \
		KONVERGO_DATABASE_URL="$$KONVERGO_TEST_POSTGRES_URL" $(BIN)/pytest; \
	fi

## make bench: every benchmark at full size; writes benchmarks/RESULTS.md
bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
