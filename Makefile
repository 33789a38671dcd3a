# Two commands do all set-up on a fresh machine:
#   make up     run the app on its embedded default (SQLite, database queue, demo tenant)
#   make test   run the whole test suite (lint, types, SQLite, PostgreSQL, MariaDB, Redis)
# and `make docs` regenerates docs/reference/ (settings and commands) from the code.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test docs install bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

up: install
	$(BIN)/zwm up

test: install
	VENV=$(VENV) bash scripts/test.sh

docs: install
	$(BIN)/python -m zwm.cli.reference docs

clean:
	rm -rf $(VENV) var
