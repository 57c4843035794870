# KMS plugin (keywarden-kms): its binary and a real etcd for the e2e suite and the demo.
#
# etcd comes from Debian's etcd-server package, downloaded with apt-get and
# unpacked with dpkg-deb into $(CACHE_DIR)/etcd-<version>/ (never installed
# system-wide). The version is pinned; a changed pin unpacks a new directory.

ETCD_VERSION := 3.4.23-4+b4
ETCD_DIR     := $(CACHE_DIR)/etcd-$(ETCD_VERSION)
ETCD_BIN     := $(ETCD_DIR)/usr/bin/etcd
KMS_BIN      := $(CURDIR)/target/debug/keywarden-kms

.PHONY: etcd

## etcd: the pinned etcd binary for the apiserver-side KMS tests.
etcd: $(ETCD_BIN)

# Unpacked into a scratch directory and moved into place last, so an
# interrupted download is redone from scratch.
$(ETCD_BIN):
	rm -rf "$(ETCD_DIR)" "$(ETCD_DIR).tmp"
	mkdir -p "$(ETCD_DIR).tmp"
	cd "$(ETCD_DIR).tmp" && { apt-get download "etcd-server=$(ETCD_VERSION)" \
		|| { apt-get update && apt-get download "etcd-server=$(ETCD_VERSION)"; }; }
	dpkg-deb -x "$(ETCD_DIR).tmp"/etcd-server_*.deb "$(ETCD_DIR).tmp/root"
	"$(ETCD_DIR).tmp/root/usr/bin/etcd" --version
	mv "$(ETCD_DIR).tmp/root" "$(ETCD_DIR)"
	rm -rf "$(ETCD_DIR).tmp"

e2e demo: etcd
e2e demo: export KEYWARDEN_KMS_BIN := $(KMS_BIN)
e2e demo: export KEYWARDEN_ETCD_BIN := $(ETCD_BIN)
