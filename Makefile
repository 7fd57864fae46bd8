# taskplatform: `make up` runs the platform, `make test` installs everything and tests it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is installed first and pinned, so transformers never pulls a multi-GB CUDA build.
# Elsewhere, e.g.: make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=
# make test runs the test groups (one per stack, else one per module) in this many processes (0: all in one process, as plain `pytest` does).
TEST_WORKERS ?= 4

.PHONY: install up test test-hosts lint typecheck unit bench-checkins clean test-tools k8s-render

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $@

install: $(STAMP)

up: install
	$(BIN)/python -m taskplatform up

lint: install
	$(BIN)/ruff check --no-cache .

# Strict on the platform's subpackages, mypy's default level elsewhere (pyproject.toml).
typecheck: install
	$(BIN)/mypy

# Debian's chromium and nginx-light for the browser and nginx tests (warns, never fails, where they cannot be installed).
test-tools:
	./scripts/ensure-test-tools.sh

test: lint typecheck test-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Faults across hosts (tests/hosts/): network namespaces with a RabbitMQ cluster, PostgreSQL, the object store, the
# API and worker hosts. Needs root, iproute2 and rabbitmq-server; skips loudly without them (fails under CI=true).
test-hosts: install
	$(BIN)/python -m pytest tests/hosts --hosts -p no:xdist -p no:cacheprovider -v $(PYTEST_ARGS)

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# docker/k8s rendered by kustomize (the kubectl requirements-dev.txt installs); K8S_VARIANT=redis-broker for Redis.
K8S_VARIANT ?=
k8s-render: install
	@$(BIN)/kubectl kustomize docker/k8s/$(K8S_VARIANT)

bench-checkins: install
	$(BIN)/python bench/checkins.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
