# The two commands a new user needs: `make demo` and `make test`. Each builds .venv itself from
# the lock file (requirements.lock, with hashes, made by `make lock` from pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements.lock | cut -d' ' -f1)

.PHONY: demo test lint format lock worker clean clean-data help screenshots
.DEFAULT_GOAL := help

help:
	@echo "make demo   start Temporal, the database, the workers and a sample dossier (Ctrl-C stops)"
	@echo "make test   run the whole test suite (PostgreSQL must be reachable, see README)"
	@echo "make lint   ruff and mypy"
	@echo "make format ruff's fixes and formatting, in place"
	@echo "make lock   re-pin requirements.lock after editing pyproject.toml"
	@echo "make screenshots  the browser tests, refreshing docs/screenshots"

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/python -m demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

screenshots: $(STAMP)  # the browser tests, saving their screenshots into docs/screenshots
	LIENTHONG_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/api/test_browser.py \
		tests/api/test_desk.py tests/api/test_desk_codec.py $(ARGS)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --extra dev --no-emit-index-url --no-emit-find-links \
		--strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

clean-data:  # the demo's dossiers, registry and keys; the next `make demo` starts fresh
	rm -rf .data
