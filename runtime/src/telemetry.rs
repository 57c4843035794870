//! Log output for both binaries: JSON lines (default) or human-readable text, on stderr.
//!
//! Stdout is left to commands that print results (`seal`, `check`, `version`).

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
    #[error("invalid log level {level:?}: {source}")]
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
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}
