# tripguard — the two commands: `make demo` and `make test`. Both create .venv when missing and
# install exactly the versions in uv.lock (`make lock` updates it; README: Dependencies).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8
# uv installs into this .venv (--inexact leaves pip and uv themselves in it), never downloads a Python
# (--compile-bytecode: the first command does not spend seconds compiling every module's source)
UV_SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv sync -q --locked --inexact --compile-bytecode

.PHONY: install demo test test-fast lint bench schemas lock clean

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)

# The Numba kernels are compiled here, ahead of time, into their on-disk cache (kernels/__pycache__,
# or TRIPGUARD_NUMBA_CACHE_DIR): the first `tripguard` command then starts in about a second
# instead of compiling for tens of seconds.
$(STAMP): pyproject.toml uv.lock | $(BIN)/uv
	$(UV_SYNC) --extra dev
	@echo "compiling the kernels into their cache (once, at install)..."
	NUMBA_CACHE_DIR="$$TRIPGUARD_NUMBA_CACHE_DIR" $(BIN)/python -m tripguard.runtime
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tripguard demo

# The whole suite: the linters first (make lint), then unit tests, kernel tests again with the
# JIT off (the pure-Python path of every kernel), integration tests against the local broker and
# the browser test (skipped, with one line saying how to enable it, where Chromium is not
# installed; CI installs it: .ci/run).
test: lint
	$(BIN)/python -m pytest -q
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q tests/kernels -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m 'not slow and not bench and not kafka and not browser'

# ruff (pyproject [tool.ruff]: lint rules and the format check) and mypy (pyproject [tool.mypy];
# scripts/mypy_check.py checks kernels/ as tripguard.kernels: strict there, on the engine and on
# stream/, gradual elsewhere). `ruff format .` fixes what the format check finds.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/mypy_check.py

bench: $(STAMP)
	$(UV_SYNC) --extra dev --extra bench
	$(BIN)/tripguard bench

schemas: $(STAMP)
	$(BIN)/tripguard schemas --write

# Re-resolve uv.lock after a change to pyproject's dependencies (--upgrade: newest versions allowed)
lock: | $(BIN)/uv
	$(BIN)/uv lock $(UV_LOCK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
