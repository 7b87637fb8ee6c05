# `make run` installs into .venv and runs the program; `make test` installs and runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run bench test lint clean

$(BIN)/exchange: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/exchange

run: install
	$(BIN)/exchange bench engine

bench: install
	$(BIN)/exchange bench engine --commands 1000000

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
