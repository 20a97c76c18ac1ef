# mmsites: one-command setup, demo, tests and benchmarks.
# `make demo` and `make test` create .venv when missing and install the project with its dev extras.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmsites-installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Tests and demo never touch the network.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg
# Bytecode caches go to the venv, not next to the sources: nothing generated lands in a
# package folder (and DVC's code deps never see a stray .pyc).
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache

.PHONY: setup system-deps demo test test-fast lint bench clean-demo

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	# torch/torchvision first and pinned: pip takes them from local disk on the project machines.
	$(BIN)/python -m pip install torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -e '.[dev,cluster]'
	# test dependency: Neuroprobe's own task code and tables (tests/test_neuroprobe_agreement.py);
	# --no-deps: it imports only torch, h5py, pandas, scipy and sklearn, installed above
	$(BIN)/python -m pip install --no-deps neuroprobe==0.1.8
	# bytecode of every installed module, once (into PYTHONPYCACHEPREFIX): where the machine
	# sets PYTHONDONTWRITEBYTECODE, every process would otherwise compile what it imports
	# (~1 s per process start); files written for other Python versions fail and are skipped
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $(STAMP)

# Debian packages the tests need: Chromium renders the HTML reports headless.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian chromium for the report rendering tests"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	fi

demo: setup
	$(BIN)/dvc config core.analytics false
	$(BIN)/dvc repro
	@echo "demo finished: see results/report/index.html"

# The installed packages' folders (pyproject package-dir): what lint and numpydoc check.
PACKAGES := mmsites pipeline recordings features encoding stats atlases reports brainmodels decoding similarity guidance

# Lint and format (ruff), docstrings of every public function (numpydoc). The import contract
# and the DVC deps check are tests (tests/test_architecture.py, tests/test_dvc_deps.py).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m numpydoc lint $$(find $(PACKAGES) -name '*.py' | sort)

# The full suite: what CI runs.
test: setup system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q tests

# Everyday lane: everything but the slow end-to-end and recovery runs (under 90 s on 2 cores).
test-fast: setup system-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q -m "not slow" tests

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean-demo:
	rm -rf data/demo work results
