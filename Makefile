# Everything runs from .venv/ at the repo root, built from uv.lock (pinned, hashed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8

.PHONY: setup run test bench lint clean

setup: $(STAMP)

# uv itself is pinned in the lock's dev group, so `uv sync` keeps it installed.
$(STAMP): pyproject.toml uv.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(VENV)/bin/python --quiet
	@touch $(STAMP)

run: setup
	$(VENV)/bin/solarfleet demo

# Browser tests need Debian's chromium; ensure-chromium installs it where it can and never fails (they skip without it).
test: setup
	@bash scripts/ensure-chromium
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0 || exit $$rc

bench: setup
	$(VENV)/bin/python bench/api_read.py
	$(VENV)/bin/python bench/monitoring.py
	$(VENV)/bin/python bench/optimizer.py
	$(VENV)/bin/python bench/inference.py

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache
