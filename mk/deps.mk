# Unused dependencies: `make deps-check` (part of `make test`) fails when a crate of the
# workspace (or the fuzz workspace) declares a dependency its code does not use.
#
# cargo-machete is installed once per pinned version under $(CACHE_DIR), reused across runs.
# A dependency used only in a way it cannot see (a macro's expansion) is listed under
# `[package.metadata.cargo-machete] ignored` in that crate's Cargo.toml, with the reason.

CARGO_MACHETE_VERSION := 0.9.2
CARGO_MACHETE         := $(CACHE_DIR)/cargo-machete-$(CARGO_MACHETE_VERSION)/bin/cargo-machete

TEST_TARGETS += deps-check

.PHONY: deps-check

$(CARGO_MACHETE):
	$(CARGO) install cargo-machete --version $(CARGO_MACHETE_VERSION) --locked \
		--root "$(CACHE_DIR)/cargo-machete-$(CARGO_MACHETE_VERSION)"

deps-check: $(CARGO_MACHETE)
	"$(CARGO_MACHETE)" --with-metadata
