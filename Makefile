# Two commands do everything on a fresh machine:
#   make run    create .venv, install pinned deps, run the pipeline on the built-in corpus
#   make test   create .venv if needed, lint, type-check, build the docs and run the tests
#   make docs   build the documentation site into site/ (strict)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes (pytest-xdist). The suite waits on subprocesses and servers about half
# the time: two processes on CI's two cores finish in 0.77x the time of one.
TEST_WORKERS ?= 2
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export GX_ANALYTICS_ENABLED ?= false
export MLFLOW_ENABLE_TELEMETRY ?= false
export DO_NOT_TRACK ?= 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR ?= false

.PHONY: install run test test-fast lint docs clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/doclstm run

lint: $(STAMP)
	$(BIN)/ruff check doclstm tests benchmarks
	$(BIN)/ruff format --check doclstm tests benchmarks
	$(BIN)/mypy

test: lint docs
	$(BIN)/pytest -q --durations=15 -n $(TEST_WORKERS) --dist worksteal

# The lane to run while working: the units and property tests, no lint. It leaves out the
# stage and flow tests (tests/tasks, tests/flows) and the tests marked slow (kill and
# resume, real servers, dvc repro); CI runs them all through `make test`.
test-fast: $(STAMP)
	$(BIN)/pytest -q --durations=10 -n $(TEST_WORKERS) --dist worksteal -m "not slow and not stage"

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link or
# anchor, or a reference page that no longer builds, fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf data models reports predictions .prefect site
