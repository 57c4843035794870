# Benchmarks (docs/reference.md §7): `make bench` builds the release binaries and measures every figure of
# the performance table once, each beside its baseline, into target/bench/report.md and
# report.json, with the machine described.
#
#   make bench                          the whole suite
#   make bench BENCH_ONLY="latency"     some figures only, while working on them
#                                       (size latency fanout warm remount deployment rotation managed memory
#                                       throughput apiserver coldstart)
#
# The run exits non-zero and names each figure that missed its target. Latency and re-Mount
# throughput run against the fast local endpoint (keywarden-bench fast-endpoint), call counts
# against moto.
#
# The timing loops and the fast endpoint live in the keywarden-bench binary (bench/src).
# bench/figures (Python, in the e2e venv, reusing e2e/harness) starts moto, the fast endpoint, the
# release binaries and etcd, counts AWS calls at the endpoints and writes the report. README.md's Performance section shows the last full run.

# The release binaries are where cargo puts them: $CARGO_TARGET_DIR when it is set.
RELEASE_DIR := $(if $(CARGO_TARGET_DIR),$(abspath $(CARGO_TARGET_DIR)),$(CURDIR)/target)/release
BENCH_OUT   := $(CURDIR)/target/bench
BENCH_ONLY  ?=

.PHONY: bench bench-build

bench-build:
	$(CARGO) build --release --locked --workspace --bins

bench: bench-build venv etcd
	KEYWARDEN_ETCD_BIN="$(ETCD_BIN)" PYTHONPATH="$(CURDIR)/bench:$(CURDIR)/e2e" \
	"$(VENV_PY)" -m figures --release-dir "$(RELEASE_DIR)" --out "$(BENCH_OUT)" \
		$(if $(strip $(BENCH_ONLY)),--only $(BENCH_ONLY))
