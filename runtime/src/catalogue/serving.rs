//! Messages both binaries share about serving: flags the runtime parses, the unix socket, the
//! admin HTTP port, the probes, logging, and the HTTP/2 `:authority` repair.

use std::fmt::Display;
use std::path::Path;

use super::Part;
use super::codes::ExitStart;

crate::catalogue! {
    "Both binaries: serving",
    "Start-up failures (exit 2: before anything is bound; exit 1: while starting to serve), the \
     reasons `/livez` and `/readyz` answer 503 with, and what a client that breaks HTTP/2 is told.";

    /// `--http-addr` takes `HOST:PORT` (`[::]:8989`, `0.0.0.0:8989`) or `off`.
    ExitStart fn bad_http_addr(text: &str) = "{text:?} is not an address like 127.0.0.1:8080, or off";
    /// Durations are written `2s`, `5m`, `100s` or `1h30m`.
    ExitStart fn bad_duration(text: &str, reason: impl Display) =
        "{text:?} is not a duration like 2s, 5m or 100s ({reason})";
    /// `--log-level` takes `error`, `warn`, `info`, `debug`, `trace`, or a filter such as
    /// `info,keywarden_provider=debug`.
    ExitStart fn bad_log_level(level: &str, reason: impl Display) = "invalid log level {level:?}: {reason}";
    /// Another process on the node uses the port (only with host networking): change
    /// `http.port`. An IPv6 `[::]` address on a kernel with IPv6 disabled does not fail: the
    /// server logs `the kernel has IPv6 disabled` and listens on `0.0.0.0`.
    Part fn cannot_listen(addr: impl Display, reason: impl Display) = "cannot listen on --http-addr {addr}: {reason}";
    /// The process could not start its threads (a container's `pids` limit).
    Part fn no_runtime(reason: impl Display) = "cannot start the async runtime: {reason}";
    /// Another live process serves the socket: two releases of the chart on one node, or a
    /// second copy of the static pod. Keep one (for the KMS plugin during an upgrade, see
    /// `--take-over-socket`).
    Part fn socket_in_use(path: &Path) = "{path:?} is in use by another live process; refusing to take it over";
    /// The provider waits for a live process on its socket (a rolling update that starts the
    /// new pod before the old one stops) up to `--socket-wait` (60 s) and then gives up: two
    /// releases of the chart (or the node's provider and a sync controller sidecar) share one
    /// socket directory. Keep one per directory, or raise `--socket-wait` if the old pod's
    /// termination grace is longer.
    Part fn socket_still_in_use(path: &Path, waited: &std::time::Duration) =
        "{path:?} was still in use by another live process after waiting {waited:?}; refusing to take it over";
    /// Something other than a socket sits at the socket path; it is never removed: delete it.
    Part fn socket_not_a_socket(path: &Path) = "{path:?} exists and is not a socket; refusing to remove it";
    /// A file-system call on the socket or its directory failed (ACTION is `create`, `bind`,
    /// `chmod`, `rename`, `remove`, `inspect`; the reason is the kernel's): the directory is
    /// missing or not writable by the process's user.
    Part fn socket_io(action: &str, path: &Path, reason: impl Display) = "{action} {path:?}: {reason}";
    /// The gRPC server stopped with an error (the log line has its cause).
    Part fn grpc_failed() = "gRPC server failed";
    /// A `/livez` or `/readyz` reason: the server has not started serving yet, or stopped.
    Part fn not_serving() = "not serving";
    /// A `/readyz` reason: the process got SIGTERM and drains (bounded by its grace period).
    Part fn shutting_down() = "shutting down";
    /// A `/livez` reason: the socket file is gone or nobody listens: the socket directory was
    /// removed or remounted underneath the pod. Restarting the process recreates it.
    Part fn socket_refused(path: impl Display, reason: impl Display) = "cannot connect to {path}: {reason}";
    /// A `/livez` reason: the process is overloaded or stuck; the probe restarts it.
    Part fn socket_slow(path: impl Display, timeout: &std::time::Duration) =
        "{path} did not accept within {timeout:?}";
    /// The connection (REASON below) broke the HTTP/2 rules while its `:authority` was being
    /// repaired; the connection is closed. Only a client that is not the CSI driver or
    /// kube-apiserver does this.
    Part fn bad_preface() = "connection does not start with the HTTP/2 client preface";
    /// As for the entry above.
    Part fn bad_framing(what: &str) = "malformed header frame: {what}";
    /// As for the entry above: a header block over the size the repair buffers.
    Part fn header_block_too_large(limit: usize) = "header block larger than {limit} bytes";
    /// As for the entry above: an HPACK block that expands past the limit.
    Part fn header_list_too_large(limit: usize) = "decoded header list larger than {limit} bytes";
    /// As for the entry above: HPACK data that does not decode.
    Part fn bad_hpack(reason: impl Display) = "undecodable header block: {reason}";
}
