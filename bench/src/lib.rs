//! The measuring side of `make bench` (docs/reference.md §7): load generators and baselines that run where
//! timing matters, so that the client never dominates what is measured.
//!
//! - [`mount`]: Mounts over the provider's socket through the generated client, interleaved with
//!   [`bare`], a program making the same S3 and KMS calls with the AWS SDK and nothing else;
//!   and bursts of concurrent Mounts.
//! - [`decrypt_load`]: concurrent KMS v2 Decrypts over a plugin socket, against `keywarden-kms`
//!   or against [`noop_kms`], a tonic server that answers without doing anything.
//!
//! Each command prints one JSON document on stdout; `bench/figures/` (Python) starts the
//! servers, seeds the local AWS endpoint, counts calls there and writes the report.

pub mod bare;
pub mod channel;
pub mod decrypt_load;
pub mod mount;
pub mod noop_kms;
pub mod stats;
pub mod workload;
