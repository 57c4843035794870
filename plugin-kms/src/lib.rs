//! Keywarden's Kubernetes KMS plugin as a library: `main.rs` parses the command line and calls
//! [`server::run`]; tests call the same entry point.
//!
//! A request flows through: [`service`] (both API versions, metrics, logs) → [`plugin`]
//! (context and key checks, the [`cache`] that also coalesces cold reads, health evidence) →
//! [`envelope`] (format and apiserver limits) → [`kms`] (the bounded AWS call, classified by
//! [`aws_error`]). In the background, [`keys`] keeps the key ARN current (and on demand, when a
//! Decrypt names a key not seen yet) and [`health`] keeps `Status` truthful at the cost of at
//! most one KMS call per interval while healthy. [`scan`] is the read-only `keywarden-kms scan`
//! command that counts what etcd holds under each key.

pub mod aws_error;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod context;
pub mod detached;
pub mod envelope;
pub mod error;
pub mod etcd;
pub mod fuzzing;
pub mod health;
pub mod keys;
pub mod kms;
pub mod metrics;
pub mod plugin;
pub mod scan;
pub mod server;
pub mod service;

pub use error::PluginError;
