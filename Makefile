# Team Pulse: `make run` starts everything embedded; `make test` installs, lints and tests.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

# The lock files pin every dependency with its hashes (Linux x86_64, CPython 3.11):
# runtime.lock for the image, dev.lock (runtime + the dev extra) for `make install` and CI.
RUNTIME_LOCK = requirements/runtime.lock
DEV_LOCK = requirements/dev.lock
# uv writes the locks; it lives in a venv of its own inside $(VENV), not among the project's
# dependencies. `make lock` keeps the pinned versions it can; `make lock LOCK_UPGRADE=--upgrade`
# moves every pin to the newest release that pyproject.toml allows.
UV_VERSION = 0.13.9
UV = $(VENV)/lock-tools/bin/uv
LOCK_UPGRADE ?=
LOCK_FLAGS = --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command 'make lock' --quiet $(LOCK_UPGRADE)

.PHONY: install lock run test lint format bench clean

# The dependencies come from the lock, hash-checked; the project itself is installed on top,
# editable and without resolving anything again.
$(STAMP): pyproject.toml $(DEV_LOCK) $(RUNTIME_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(VENV)/lock-tools
	$(VENV)/lock-tools/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Dev first, then runtime constrained by it, so both pin the same versions.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o $(DEV_LOCK)
	$(UV) pip compile pyproject.toml --constraint $(DEV_LOCK) $(LOCK_FLAGS) -o $(RUNTIME_LOCK)

run: install
	$(BIN)/pulse run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
