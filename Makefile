# `make run` installs into .venv and serves the exchange (SQLite, demo data); `make test` installs and runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run bench test lint clean

# The engine's modules are compiled with mypyc when a C compiler is there (setup.py), so a
# change to them reinstalls; EXCHANGE_PURE=1 keeps the pure-Python engine.
$(BIN)/exchange: pyproject.toml setup.py $(wildcard src/exchange/engine/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/exchange

run: install
	$(BIN)/exchange serve --demo

bench: install
	$(BIN)/exchange bench engine --commands 1000000

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -f src/exchange/engine/*.so
