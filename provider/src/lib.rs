//! Keywarden's Secrets Store CSI provider as a library: `main.rs` parses the command line and
//! calls [`server::run`]; tests call the same entry point.
//!
//! A Mount flows through: [`service`] (admission, deadline, logging) → [`params`] (attributes,
//! permission) → [`objects`] / [`mount_path`] (validation) → [`identity`] → [`mount`] (concurrent
//! fetch, all-or-nothing) → [`s3`] (streaming with limits) → back as files and versions.

pub mod aws;
pub mod aws_error;
pub mod budget;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod content;
pub mod credentials;
pub mod encoding;
pub mod error;
pub mod failover;
pub mod fuzzing;
pub mod http_client;
pub mod identity;
pub mod jmes;
pub mod kms;
pub mod kube_api;
pub mod limits;
pub mod manifest_check;
pub mod metrics;
pub mod mount;
pub mod mount_path;
pub mod objects;
pub mod parameters;
pub mod params;
pub mod plan_cache;
pub mod pod_tokens;
pub mod s3;
pub mod s3_prefix;
pub mod sealed;
pub mod sealing;
pub mod secret_bytes;
pub mod secret_sync;
pub mod secrets_manager;
pub mod server;
pub mod service;
pub mod writer;

pub use error::MountError;

/// The unit tests measure real heap use through this allocator (bounds charged against bytes
/// held); see `keywarden_heap_meter`.
#[cfg(test)]
#[global_allocator]
static HEAP: keywarden_heap_meter::Counting = keywarden_heap_meter::Counting;
