//! The measuring side of `make bench` (docs/reference.md §7): load generators and baselines that run where
//! timing matters, so that the client never dominates what is measured.
//!
//! - [`mount`]: Mounts over the provider's socket through the generated client, interleaved with
//!   [`bare`], a program making the same S3 and KMS calls with the AWS SDK and nothing else;
//!   and bursts of concurrent Mounts.
//! - [`decrypt_load`]: concurrent KMS v2 Decrypts over a plugin socket, against `keywarden-kms`
//!   or against [`noop_kms`], a tonic server that answers without doing anything.
//!
//! - [`fast_endpoint`]: a local AWS endpoint answering in microseconds, for the latency and
//!   throughput figures; [`noop_provider`]: the CSI provider service answering from memory, the
//!   baseline of re-Mount throughput.
//!
//! Each command prints one JSON document on stdout; `bench/figures/` (Python) starts the
//! servers, seeds the local AWS endpoint, counts calls there and writes the report.

pub mod bare;
pub mod channel;
pub mod decrypt_load;
pub mod fast_endpoint;
pub mod mount;
pub mod noop_kms;
pub mod noop_provider;
pub mod remount_load;
pub mod stats;
pub mod workload;

/// Writes `value` as one JSON document on stdout (a line: a server's first line is read while
/// it keeps running).
pub fn emit(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
