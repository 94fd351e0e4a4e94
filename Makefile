# The two commands a newcomer needs: `make run` (whole system + demo sweep), `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup services browser lint typecheck benchmark drills clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

services:
	bin/ensure-services

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

run: setup services
	bin/run-system

test: setup services browser
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

benchmark: setup services browser
	$(PY) -m pytest benchmarks -p no:cacheprovider -s $(PYTEST_ARGS)

# Sweeps on the whole system while each process and service fails in turn (also in benchmark).
drills: setup services
	$(PY) -m pytest benchmarks/bench_drills.py -p no:cacheprovider -s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
