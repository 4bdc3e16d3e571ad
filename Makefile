# Two commands a user needs: `make run` (the main job) and `make test` (everything CI runs).
# Both create or refresh the virtualenv in .venv; the stamp makes that idempotent and cheap.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QT_DATA_DIR ?= $(if $(wildcard ../shared/data),../shared/data,)
export QT_DATA_DIR

.PHONY: run test check lint typecheck unit venv bench clean lock

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the local CPU build, so nothing later pulls CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	# every other package at the version in requirements.lock: installs are reproducible
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,train,ray]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/quantum-trader run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

# tests in PYTEST_WORKERS processes (pytest-xdist), each test file whole in one of them, so a
# module's fixtures are built once; PYTEST_WORKERS=0 runs them in this process. The 25 slowest
# tests are listed at the end: what to shrink when the suite outgrows its ~20 minutes
PYTEST_WORKERS ?= 2
unit: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

test: check unit

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# after a dependency change in pyproject.toml: install it, then pin what was installed
lock: $(STAMP)
	@{ head -n 3 requirements.lock; $(BIN)/pip freeze --exclude-editable | grep -viE '^torch=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
