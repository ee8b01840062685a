# tripguard — the two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast bench schemas clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tripguard demo

# The whole suite: unit tests, kernel tests again with the JIT off (the pure-Python path of
# every kernel), integration tests against the local broker and the browser test (skipped, with
# one line saying how to enable it, where Chromium is not installed; CI installs it: .ci/run).
test: $(STAMP)
	$(BIN)/python -m pytest -q
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q tests/kernels -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m 'not slow and not bench and not kafka and not browser'

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/tripguard bench

schemas: $(STAMP)
	$(BIN)/tripguard schemas --write

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
