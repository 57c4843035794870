//! The command line (SPEC §3.1): every option, each also readable from an environment variable
//! so that a static pod or the Helm chart can use either.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use keywarden_runtime::LogFormat;
pub use keywarden_runtime::cli::{HttpAddr, parse_duration};

/// Keywarden's Kubernetes KMS plugin: encrypts Secrets at rest in etcd under an AWS KMS key.
#[derive(Debug, Parser)]
#[command(
    name = "keywarden-kms",
    version,
    about,
    after_help = "Also: `keywarden-kms scan --help` counts the objects etcd stores under each key."
)]
pub struct Args {
    /// Socket kube-apiserver dials (the `endpoint` of the EncryptionConfiguration, without
    /// `unix://`).
    #[arg(
        long,
        env = "KEYWARDEN_KMS_SOCKET",
        default_value = "/var/run/kmsplugin/keywarden.sock"
    )]
    pub socket: PathBuf,

    /// The KMS key: key id, key ARN, alias name (`alias/…`) or alias ARN.
    #[arg(long, env = "KEYWARDEN_KMS_KEY")]
    pub key: String,

    /// AWS region; default: the SDK chain (AWS_REGION, profile, instance metadata).
    #[arg(long, env = "KEYWARDEN_KMS_REGION")]
    pub region: Option<String>,

    /// Encryption context pair `k=v` sent with every KMS call (repeatable, or comma separated).
    #[arg(
        long = "encryption-context",
        env = "KEYWARDEN_KMS_ENCRYPTION_CONTEXT",
        value_delimiter = ','
    )]
    pub encryption_context: Vec<String>,

    /// Further key ARNs Decrypt may use (keys of earlier configurations during a rotation).
    #[arg(long, env = "KEYWARDEN_KMS_DECRYPT_KEYS", value_delimiter = ',')]
    pub decrypt_keys: Vec<String>,

    /// Earlier encryption contexts Decrypt accepts although they lack or change configured
    /// pairs: `k=v,k2=v2` per context, contexts separated by `;` (or repeat the flag); an empty
    /// entry is the empty context.
    #[arg(
        long,
        env = "KEYWARDEN_KMS_DECRYPT_ENCRYPTION_CONTEXTS",
        value_delimiter = ';'
    )]
    pub decrypt_encryption_contexts: Vec<String>,

    /// Most AWS KMS calls in flight at once; more wait for a slot.
    #[arg(
        long,
        env = "KEYWARDEN_KMS_MAX_IN_FLIGHT",
        default_value_t = 32,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub kms_max_in_flight: u16,

    /// Address of the /healthz /livez /readyz /metrics HTTP server, or `off`.
    #[arg(
        long,
        env = "KEYWARDEN_KMS_HTTP_ADDR",
        default_value = "127.0.0.1:8083"
    )]
    pub http_addr: HttpAddr,

    /// Background KMS round trip when no real traffic proved health within this period.
    #[arg(long, env = "KEYWARDEN_KMS_HEALTH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub health_interval: Duration,

    /// How often an alias is resolved again.
    #[arg(long, env = "KEYWARDEN_KMS_KEY_REFRESH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub key_refresh_interval: Duration,

    /// Decrypted seeds kept in memory; `0` disables the cache.
    #[arg(
        long,
        env = "KEYWARDEN_KMS_DECRYPT_CACHE_SIZE",
        default_value_t = 10_000
    )]
    pub decrypt_cache_size: usize,

    /// How long in-flight calls may take to finish after SIGTERM.
    #[arg(long, env = "KEYWARDEN_KMS_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Replace a socket a live process serves on instead of refusing to start (a DaemonSet's
    /// surge update: the new pod serves before the old one stops); a busy --http-addr is then
    /// bound once the old process has freed it.
    #[arg(long, env = "KEYWARDEN_KMS_TAKE_OVER_SOCKET")]
    pub take_over_socket: bool,

    /// Log format.
    #[arg(
        long,
        env = "KEYWARDEN_KMS_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `info,keywarden_kms=debug`).
    #[arg(long, env = "KEYWARDEN_KMS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Validate the configuration, print the outcome and exit without serving.
    #[arg(long)]
    pub check_config: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_spec() {
        let args = Args::try_parse_from(["keywarden-kms", "--key", "alias/k"]).expect("parses");
        assert_eq!(
            args.socket,
            PathBuf::from("/var/run/kmsplugin/keywarden.sock")
        );
        assert_eq!(
            args.http_addr,
            HttpAddr::On("127.0.0.1:8083".parse().expect("addr"))
        );
        assert_eq!(args.health_interval, Duration::from_secs(300));
        assert_eq!(args.key_refresh_interval, Duration::from_secs(300));
        assert_eq!(args.decrypt_cache_size, 10_000);
        assert_eq!(args.kms_max_in_flight, 32);
        assert!(args.decrypt_encryption_contexts.is_empty());
        assert_eq!(args.log_format, LogFormat::Json);
    }

    #[test]
    fn repeatable_and_comma_separated_lists() {
        let args = Args::try_parse_from([
            "keywarden-kms",
            "--key",
            "k",
            "--encryption-context",
            "a=1",
            "--encryption-context",
            "b=2,c=3",
            "--decrypt-keys",
            "arn:aws:kms:r:1:key/a,arn:aws:kms:r:1:key/b",
        ])
        .expect("parses");
        assert_eq!(args.encryption_context, ["a=1", "b=2", "c=3"]);
        assert_eq!(args.decrypt_keys.len(), 2);
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &[][..],
            &["--key", "k", "--health-interval", "soon"],
            &["--key", "k", "--http-addr", "localhost"],
            &["--key", "k", "--decrypt-cache-size", "-1"],
            &["--key", "k", "--kms-max-in-flight", "0"],
            &["--key", "k", "--bogus"],
        ] {
            let mut argv = vec!["keywarden-kms"];
            argv.extend_from_slice(args);
            let err = Args::try_parse_from(&argv).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
