# stockpipe: `make run` starts the pipeline, `make test` runs every test and lint.
# Every target is idempotent and works on a fresh clone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: install system-deps run test test-latest lint lock unit bench chaos glue-artifacts clean

install: $(STAMP)

# uv is the only tool installed outside uv.lock: it lives in a venv of its own, pinned with hashes.
UV := .venv-uv/bin/uv
$(UV): requirements/uv.txt
	@test -x .venv-uv/bin/python || $(PYTHON) -m venv .venv-uv
	.venv-uv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/uv.txt
	@touch $(UV)

# Every project install goes through uv.lock (`--locked` refuses a lock that is out of date).
$(STAMP): pyproject.toml uv.lock $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --locked --python $(PYTHON) --extra test --extra spark
	@touch $(STAMP)

# Resolve what pyproject.toml changed and keep every other pin; `make lock UPGRADE=1` moves
# everything to the newest allowed versions (then run `make test`, commit uv.lock with it).
lock: $(UV)
	$(UV) lock$(if $(UPGRADE), --upgrade)
	$(UV) pip compile -q --generate-hashes --python-version 3.11 requirements/checkov.in -o requirements/checkov.txt
	$(UV) pip compile -q --generate-hashes --python-version 3.11 requirements/uv.in -o requirements/uv.txt

# checkov pins older boto3/packaging than the project, so it gets a locked venv of its own.
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV): requirements/checkov.txt $(UV)
	@test -x .venv-checkov/bin/python || $(UV) venv -q --python $(PYTHON) .venv-checkov
	$(UV) pip sync -q --python .venv-checkov/bin/python --require-hashes requirements/checkov.txt
	@touch $(CHECKOV)

# System packages the tests need: Debian's Chromium for the dashboard's browser tests.
system-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; \
	  fi; \
	fi

run: install
	$(BIN)/stockpipe run

lint: install
	$(UV) lock --check
	$(BIN)/ruff check src tests pyspark-jobs bench
	$(BIN)/ruff format --check src tests pyspark-jobs bench
	$(BIN)/mypy src

# The fast loop: everything but the tests marked `integration` (moto servers, Spark, Chromium,
# subprocesses), which `make test` runs too. Under 2 minutes on an idle 2-core machine.
# Bytecode is cached in .venv/pycache even where PYTHONDONTWRITEBYTECODE is set: compiling
# pandas, pyarrow and the rest from source again cost each run (and each process the tests
# spawn) seconds of CPU; the prefix keeps __pycache__ folders out of the source tree.
PYCACHE := PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache
unit: install
	$(PYCACHE) $(BIN)/pytest -q -m "not integration"

# Every test, with line coverage of src/stockpipe; below the floor in pyproject.toml
# ([tool.coverage.report] fail_under) the target fails.
test: install system-deps $(CHECKOV) lint
	$(PYCACHE) $(BIN)/pytest -q --cov --cov-report=term:skip-covered

# The newest release of everything pyproject.toml allows, in a throwaway venv: shows the next
# break before a user meets it, without touching .venv or uv.lock. Not part of `make test`.
test-latest: $(UV) system-deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(UV) venv -q --python $(PYTHON) "$$tmp/venv" && \
	  $(UV) pip install -q --python "$$tmp/venv/bin/python" --upgrade '.[test,spark]' && \
	  $(UV) pip list --python "$$tmp/venv/bin/python" | grep -iE '^(boto3|botocore|moto|pyspark|numpy|pandas|pyarrow|duckdb) ' ; \
	  cd "$$tmp" && "$$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$(CURDIR)" -c "$(CURDIR)/pyproject.toml" "$(CURDIR)/tests"

bench: install
	$(BIN)/python bench/run.py $(if $(SET),--set $(SET)) $(if $(SCENARIOS),--only $(SCENARIOS))

# The crash harness with its defaults: 50 SIGKILLs, then a comparison with a clean run.
chaos: install
	$(BIN)/stockpipe chaos

# What AWS Glue / EMR need: the job script and a wheel of the package (docs/spark.md).
glue-artifacts: install
	rm -rf dist/glue && mkdir -p dist/glue
	$(UV) build -q --wheel -o dist/glue .
	cp pyspark-jobs/process_bars.py dist/glue/process_bars.py

clean:
	rm -rf $(VENV) .venv-uv .venv-checkov build dist .pytest_cache .mypy_cache .ruff_cache
