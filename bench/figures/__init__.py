"""The orchestration of `make bench` (docs/reference.md §7).

Each module owns one part: the local AWS world the figures run against and the
workloads sent to the provider (world); the project's release binaries and the
bench binary's commands (tools); the provider's figures, latency against a bare
SDK program, call counts and memory (provider_figures); the KMS plugin's figures,
throughput against a no-op server and the apiserver restart (kms_figures); binary
sizes (binaries); the machine (machine); and the report (report).

Timing loops run in the Rust bench binary (bench/src); this package starts
processes, seeds the endpoint, counts calls where they arrive, and writes
target/bench/report.md and report.json. It reuses the end-to-end harness
(e2e/harness) for the endpoint, the server processes, the apiserver and etcd.
"""
