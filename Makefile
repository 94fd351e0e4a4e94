# The two commands a newcomer needs: `make run` (whole system + demo sweep), `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup lock wheel services browser lint typecheck benchmark drills clean

# The exact versions CI and developers install come from requirements.lock (every extra);
# hbsite itself is installed editable on top, without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Regenerate requirements.lock from pyproject.toml, keeping the pins that still fit
# (`make lock LOCK_ARGS=--upgrade` moves every pin to the newest version).
lock: setup
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra dev --extra examples --extra bench $(LOCK_ARGS) --output-file requirements.lock pyproject.toml

# The wheel that `pip install` takes: dist/hbsite-*.whl.
wheel: setup
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir dist .

services:
	bin/ensure-services

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# No `services` here: `hbsite run` uses the PostgreSQL and Redis that answer on this machine
# (or DATABASE_URL / REDIS_URL) and otherwise starts private ones in the data directory.
run: setup
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
	rm -rf $(VENV) var dist build .pytest_cache .mypy_cache .ruff_cache
