# Soak: the load tests of e2e/test_load.py at full size (1,000 volumes re-Mounted for
# SOAK_ROUNDS rounds while classes change, 200 Mounts in flight), with the same leak checks.
# `make test` runs the same tests short.

SOAK_ROUNDS  ?= 10
SOAK_VOLUMES ?= 1000

.PHONY: soak

soak: build venv
	KEYWARDEN_PROVIDER_BIN="$(PROVIDER_BIN)" KEYWARDEN_LOAD_ROUNDS=$(SOAK_ROUNDS) \
	KEYWARDEN_LOAD_VOLUMES=$(SOAK_VOLUMES) "$(VENV_PY)" -m pytest -o timeout=3600 e2e/test_load.py
