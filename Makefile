# loadgen: `make run` runs the quick start against the embedded gateway, `make test` the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
BENCHSTAMP := $(VENV)/.installed-bench

.PHONY: run test test-unit test-integration lint format bench bench-peers bench-scale soak clean

# Every install is held to the exact versions of constraints.txt (what CI tested).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(DEVSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(BENCHSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[bench]'
	touch $@

run: $(STAMP)
	$(VENV)/bin/loadgen run configs/quickstart.yaml

# The suite in two worker processes (pytest-xdist); tests/conftest.py keeps each module in
# one worker and the heavy and timed tests one at a time. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: $(DEVSTAMP)
	bash scripts/system-packages.sh
	$(PY) -m pytest -n $(TEST_WORKERS)

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

bench: $(BENCHSTAMP)
	$(PY) -m bench.run

# loadgen against Tsung (Erlang), same workload and gateway; installs Debian's tsung as root.
bench-peers: $(BENCHSTAMP)
	$(PY) -m bench.peers

bench-scale: $(BENCHSTAMP)
	$(PY) -m bench.scale

# 2,000 chargers for 10 minutes, the gateway SIGKILLed and restarted at minute 4; the long
# run: make soak SOAK_ARGS="--minutes 60 --kill-every 10". Exit 1 when a target is missed.
SOAK_ARGS ?= --minutes 10 --kill-at 4
soak: $(STAMP)
	$(PY) -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
