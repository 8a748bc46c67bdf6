# Two commands: `make run` (the main job on the default config) and `make test` (the test suite).
# Both create .venv and install the pinned dependencies on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install

install: $(STAMP)

$(STAMP): setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.train --config=experiments/configs/default.py

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests
