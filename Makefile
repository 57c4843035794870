# Keywarden: build, check and demonstrate.
#
#   make demo    mount secrets from a local AWS endpoint, as the CSI driver would
#                (`make e2e` runs it as a smoke test: e2e/test_demo.py)
#   make test    everything CI checks (.ci/run calls exactly this)
#   make bench   the benchmark suite (release build): writes target/bench/report.md
#   make soak    the load tests at full size (mk/soak.mk)
#   make fuzz    every fuzz target for FUZZ_SECONDS, corpus kept (mk/fuzz.mk)
#   make deps-check  unused dependencies (mk/deps.mk; part of make test)
#
# Python tools live outside the clone, in a venv keyed by the hash of
# e2e/requirements.txt: repeated runs reuse it, a changed pin builds a new one.

CARGO     ?= cargo
PYTHON    ?= python3
CACHE_DIR ?= $(HOME)/.cache/keywarden

REQUIREMENTS := e2e/requirements.txt
VENV_KEY     := $(shell sha256sum $(REQUIREMENTS) | cut -c1-12)
VENV         := $(CACHE_DIR)/venv-$(VENV_KEY)
VENV_PY      := $(VENV)/bin/python
VENV_DONE    := $(VENV)/.installed

PROVIDER_BIN := $(CURDIR)/target/debug/keywarden-provider

# The suite and the demo never leave bytecode in the clone.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all venv build lint fmt-check clippy unit e2e test demo clean-venv

all: build

## venv: the pinned Python environment for the e2e suite and the demo.
venv: $(VENV_DONE)

# The marker is written last, so an interrupted install is redone from scratch.
# No prerequisite on the requirements file's mtime: its hash is in the path.
$(VENV_DONE):
	@echo "creating $(VENV) from $(REQUIREMENTS)"
	rm -rf "$(VENV)"
	$(PYTHON) -m venv "$(VENV)"
	"$(VENV_PY)" -m pip install --quiet --disable-pip-version-check --no-input -r $(REQUIREMENTS)
	touch "$@"

build:
	$(CARGO) build --locked --workspace --bins

lint: fmt-check clippy

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --workspace

e2e: build venv
	KEYWARDEN_PROVIDER_BIN="$(PROVIDER_BIN)" "$(VENV_PY)" -m pytest e2e

# Parts of the project add their own checks to TEST_TARGETS from mk/*.mk.
TEST_TARGETS := lint unit e2e
include $(wildcard mk/*.mk)

test: $(TEST_TARGETS)

demo: build venv
	KEYWARDEN_PROVIDER_BIN="$(PROVIDER_BIN)" "$(VENV_PY)" e2e/demo.py

clean-venv:
	rm -rf "$(VENV)"
