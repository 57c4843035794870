//! The command line (docs/reference.md §3.1): every option, each also readable from an environment variable
//! so that a static pod or the Helm chart can use either.

use std::time::Duration;

use clap::Parser;
pub use keywarden_runtime::cli::{HttpAddr, parse_duration};
use keywarden_runtime::serve_flags::{Defaults, ServeFlags};

/// Keywarden's Kubernetes KMS plugin: encrypts Secrets at rest in etcd under an AWS KMS key.
#[derive(Debug, Parser)]
#[command(
    name = "keywarden-kms",
    version,
    about,
    after_help = "Also: `keywarden-kms scan --help` counts the objects etcd stores under each key."
)]
pub struct Args {
    /// The serving flags both binaries share (socket, admin address, region, logs, grace).
    #[command(flatten)]
    pub serve: ServeFlags<KmsDefaults>,

    /// The KMS key: key id, key ARN, alias name (`alias/…`) or alias ARN.
    #[arg(long, env = "KEYWARDEN_KMS_KEY")]
    pub key: String,

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

    /// How long a request waits for AWS KMS before the plugin answers UNAVAILABLE, and the
    /// latency above which a KMS call counts as a health failure. Keep it below the
    /// EncryptionConfiguration `timeout` (3s by default). The call itself goes on (at most 10s)
    /// and a Decrypt's plaintext is cached for the apiserver's retry.
    #[arg(long, env = "KEYWARDEN_KMS_TIMEOUT", default_value = "2500ms", value_parser = parse_duration)]
    pub kms_timeout: Duration,

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

    /// How long a decrypted seed is served from memory after the KMS call that produced it
    /// (reads do not extend it): the most a disabled key or a revoked kms:Decrypt keeps being
    /// served to a restarted apiserver. `0` disables the cache.
    #[arg(long, env = "KEYWARDEN_KMS_DECRYPT_CACHE_TTL", default_value = "1h", value_parser = parse_duration)]
    pub decrypt_cache_ttl: Duration,

    /// Replace a socket a live process serves on instead of refusing to start (a DaemonSet's
    /// surge update: the new pod serves before the old one stops); a busy --http-addr is then
    /// bound once the old process has freed it.
    #[arg(long, env = "KEYWARDEN_KMS_TAKE_OVER_SOCKET")]
    pub take_over_socket: bool,
}

/// The plugin's defaults for the shared serving flags.
#[derive(Debug, Clone)]
pub struct KmsDefaults;

impl Defaults for KmsDefaults {
    /// The `endpoint` of the EncryptionConfiguration, without `unix://`.
    const SOCKET: &'static str = "/var/run/kmsplugin/keywarden.sock";
    const HTTP_ADDR: &'static str = "127.0.0.1:8083";
    const SHUTDOWN_GRACE: &'static str = "10s";
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use keywarden_runtime::LogFormat;
    use std::path::PathBuf;

    #[test]
    fn cli_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_spec() {
        let args = Args::try_parse_from(["keywarden-kms", "--key", "alias/k"]).expect("parses");
        assert_eq!(
            args.serve.socket,
            PathBuf::from("/var/run/kmsplugin/keywarden.sock")
        );
        assert_eq!(
            args.serve.http_addr,
            HttpAddr::On("127.0.0.1:8083".parse().expect("addr"))
        );
        assert_eq!(args.health_interval, Duration::from_secs(300));
        assert_eq!(args.key_refresh_interval, Duration::from_secs(300));
        assert_eq!(args.decrypt_cache_size, 10_000);
        assert_eq!(args.decrypt_cache_ttl, Duration::from_secs(3600));
        assert_eq!(args.kms_timeout, Duration::from_millis(2500));
        assert_eq!(args.kms_max_in_flight, 32);
        assert!(args.decrypt_encryption_contexts.is_empty());
        assert_eq!(args.serve.log_format, LogFormat::Json);
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
            &["--key", "k", "--kms-timeout", "fast"],
            &["--key", "k", "--decrypt-cache-ttl", "-1s"],
            &["--key", "k", "--bogus"],
        ] {
            let mut argv = vec!["keywarden-kms"];
            argv.extend_from_slice(args);
            let err = Args::try_parse_from(&argv).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
