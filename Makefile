# stockpipe: `make run` starts the pipeline, `make test` runs every test and lint.
# Every target is idempotent and works on a fresh clone.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: install system-deps run test lint unit bench chaos glue-artifacts clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,spark]'
	@touch $(STAMP)

# checkov pins older boto3/packaging than the project, so it gets a venv of its own.
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q checkov

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
	$(BIN)/ruff check src tests pyspark-jobs bench
	$(BIN)/ruff format --check src tests pyspark-jobs bench
	$(BIN)/mypy src

unit: install
	$(BIN)/pytest -q

test: install system-deps $(CHECKOV) lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/run.py

# The crash harness with its defaults: 50 SIGKILLs, then a comparison with a clean run.
chaos: install
	$(BIN)/stockpipe chaos

# What AWS Glue / EMR need: the job script and a wheel of the package (docs/spark.md).
glue-artifacts: install
	rm -rf dist/glue && mkdir -p dist/glue
	$(BIN)/python -m pip wheel -q --no-deps -w dist/glue .
	cp pyspark-jobs/process_bars.py dist/glue/process_bars.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
