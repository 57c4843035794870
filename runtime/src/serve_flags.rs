//! The serving flags both binaries share, flattened into each one's command line, so that the
//! same thing has the same flag and the same environment variable in both: the socket, the
//! admin address, the region, the log format and level, the shutdown grace and
//! `--check-config`. Only the defaults differ, and each binary states them in [`Defaults`].

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::LogFormat;
use crate::cli::{HttpAddr, parse_duration};

/// A binary's defaults for the shared flags.
pub trait Defaults: Clone + Send + Sync + 'static {
    /// `--socket`.
    const SOCKET: &'static str;
    /// `--http-addr`.
    const HTTP_ADDR: &'static str;
    /// `--shutdown-grace`.
    const SHUTDOWN_GRACE: &'static str;
}

/// The shared serving flags; `#[command(flatten)]` them into a binary's arguments.
#[derive(Debug, Clone, Args)]
pub struct ServeFlags<D: Defaults> {
    /// Unix socket to serve on (its client dials this path).
    #[arg(long, env = "KEYWARDEN_SOCKET", default_value = D::SOCKET)]
    pub socket: PathBuf,

    /// Address of the /livez /readyz /healthz /metrics HTTP server, or `off`.
    #[arg(long, env = "KEYWARDEN_HTTP_ADDR", default_value = D::HTTP_ADDR)]
    pub http_addr: HttpAddr,

    /// AWS region (the provider's default when a SecretProviderClass names none); default:
    /// the SDK's chain (profile, instance metadata).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,

    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "KEYWARDEN_SHUTDOWN_GRACE", default_value = D::SHUTDOWN_GRACE, value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log format.
    #[arg(long, env = "KEYWARDEN_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `info,keywarden_provider=debug`).
    #[arg(long, env = "KEYWARDEN_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Validate the configuration, print the outcome and exit without serving (used by the
    /// chart's tests and by operators checking a changed manifest).
    #[arg(long)]
    pub check_config: bool,

    #[arg(skip)]
    _defaults: PhantomData<D>,
}

impl<D: Defaults> ServeFlags<D> {
    /// The region, unless empty.
    pub fn region(&self) -> Option<String> {
        self.region.clone().filter(|r| !r.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Clone)]
    struct Test;
    impl Defaults for Test {
        const SOCKET: &'static str = "/run/test.sock";
        const HTTP_ADDR: &'static str = "127.0.0.1:1";
        const SHUTDOWN_GRACE: &'static str = "3s";
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeFlags<Test>,
    }

    #[test]
    fn defaults_come_from_the_binary() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["x"]).expect("parses");
        assert_eq!(cli.serve.socket, PathBuf::from("/run/test.sock"));
        assert_eq!(
            cli.serve.http_addr,
            HttpAddr::On("127.0.0.1:1".parse().expect("addr"))
        );
        assert_eq!(cli.serve.shutdown_grace, Duration::from_secs(3));
        assert_eq!(cli.serve.log_format, LogFormat::Json);
        assert!(!cli.serve.check_config);
        let cli = Cli::try_parse_from(["x", "--region", "", "--http-addr", "off"]).expect("parses");
        assert_eq!(cli.serve.region(), None);
        assert_eq!(cli.serve.http_addr, HttpAddr::Off);
    }
}
