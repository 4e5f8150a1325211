# loadgen: `make run` runs the quick start against the embedded gateway, `make test` the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test test-unit test-integration lint format bench bench-peers bench-scale clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(STAMP)
	$(VENV)/bin/loadgen run configs/quickstart.yaml

test: $(DEVSTAMP)
	bash scripts/system-packages.sh
	$(PY) -m pytest

test-unit: $(DEVSTAMP)
	$(PY) -m pytest tests/unit

test-integration: $(DEVSTAMP)
	$(PY) -m pytest tests/integration

lint: $(DEVSTAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(DEVSTAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench.run

# loadgen against Tsung (Erlang), same workload and gateway; installs Debian's tsung as root.
bench-peers: $(STAMP)
	$(PY) -m bench.peers

bench-scale: $(STAMP)
	$(PY) -m bench.scale

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
