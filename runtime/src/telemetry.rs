//! Log output for both binaries: JSON lines (default) or human-readable text, on stderr.
//!
//! Every JSON line carries the fields of the spans it was logged in (`spans`, outermost
//! first): a line logged while serving a Mount names the pod, its namespace, its
//! SecretProviderClass and the Mount's `request_id`; a line logged while serving a KMS request
//! names the operation and key. Stdout is left to commands that print results (`seal`,
//! `check`, `version`, `scan`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The level or filter directive did not parse.
    #[error("{}", crate::catalogue::bad_log_level(.level, .source))]
    Level {
        /// What was given.
        level: String,
        /// Why it failed.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Checks a `--log-level` value (`info`, `debug`, or a filter like `info,keywarden_provider=debug`).
pub fn parse_level(level: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(level)
        .map_err(|source| TelemetryError::Level {
            level: level.to_owned(),
            source,
        })
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat, filter: EnvFilter) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

/// A new id for one request, to tie its log lines together: 16 hex digits, unique within the
/// process and, as it starts from the process's start time and pid, unlikely to repeat
/// across restarts or nodes. It says nothing about the request.
pub fn request_id() -> String {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos.rotate_left(17) ^ (u64::from(std::process::id()) << 40)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}",
        base.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_differ() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
