//! What the provider and the KMS plugin share about being a well-behaved node-local gRPC server
//! that talks to AWS: serving tonic routes on the unix socket ([`serve`]) with its lifecycle and
//! the repair of the HTTP/2 `:authority` old clients send, the admin HTTP port and its probes,
//! the bounded drain, the shared serving flags, logs with spans, and the one reading of AWS
//! errors and AWS call latency; and the one cache both binaries keep state in.

pub mod admin;
pub mod authority;
pub mod aws_error;
pub mod aws_metrics;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod fuzzing;
pub mod outbox;
pub mod probes;
pub mod process_metrics;
pub mod serve_flags;
pub mod server;
pub mod shutdown;
pub mod socket;
pub mod telemetry;

pub use authority::{AuthorityRepair, RepairedConnectInfo};
pub use outbox::Outbox;
pub use server::{Admin, ServeError, ServeOptions, serve};
pub use socket::{Listeners, SocketError, SocketGuard};
pub use telemetry::LogFormat;

/// Makes the process non-dumpable and disables core files, so that secrets held in memory do
/// not end up on disk or readable through `/proc/<pid>/mem` by other users. Best effort: a
/// failure is logged, not fatal.
pub fn harden_process() {
    if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0) {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "could not mark the process non-dumpable");
    }
}
