# Fuzzing: `make fuzz` runs every target of fuzz/ for FUZZ_SECONDS each and keeps the corpus.
# cargo-fuzz is installed once per pinned version under the cache; libFuzzer needs the
# sanitizer flags of a nightly compiler, which RUSTC_BOOTSTRAP unlocks on the stable toolchain.

CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ         := $(CACHE_DIR)/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz
FUZZ_TARGETS       := sealed_object mount_request authority_rewrite kms_decrypt_request
FUZZ_SECONDS       ?= 60

.PHONY: fuzz fuzz-smoke

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root "$(CACHE_DIR)/cargo-fuzz-$(CARGO_FUZZ_VERSION)"

fuzz: $(CARGO_FUZZ)
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
	  RUSTC_BOOTSTRAP=1 "$(CARGO_FUZZ)" run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
