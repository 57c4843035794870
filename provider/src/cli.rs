//! The command line (docs/reference.md §2.1): every `serve` option, each also readable from an environment
//! variable so the Helm chart can use either.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
pub use keywarden_runtime::cli::{HttpAddr, parse_duration};
use keywarden_runtime::serve_flags::{Defaults, ServeFlags};

/// Keywarden's Secrets Store CSI provider: mounts S3 and KMS-protected secrets into pods.
#[derive(Debug, Parser)]
#[command(name = "keywarden-provider", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the CSI driver on a unix socket.
    Serve(Box<ServeArgs>),
    /// Encrypt a secret into a sealed object, to a file or to S3.
    Seal(crate::sealing::SealArgs),
    /// Validate a SecretProviderClass manifest; with --out, fetch it into a directory.
    Check(crate::manifest_check::CheckArgs),
    /// Print the version.
    Version,
}

/// Who writes the files of a Mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteMode {
    /// Return files to the driver, which writes them (default).
    Driver,
    /// Write files into the target path ourselves.
    Provider,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The serving flags both binaries share (socket, admin address, region, logs, grace).
    #[command(flatten)]
    pub serve: ServeFlags<ProviderDefaults>,

    /// Permission bits of the socket file (octal).
    #[arg(long, env = "KEYWARDEN_SOCKET_MODE", default_value = "0600", value_parser = parse_octal_mode)]
    pub socket_mode: u32,

    /// Path-style S3 addressing (needed for local endpoints).
    #[arg(long, env = "KEYWARDEN_S3_FORCE_PATH_STYLE", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub s3_force_path_style: bool,

    /// Audience of the pod token used for IRSA.
    #[arg(
        long,
        env = "KEYWARDEN_TOKEN_AUDIENCE",
        default_value = "sts.amazonaws.com"
    )]
    pub token_audience: String,

    /// Kubernetes API for ServiceAccount role lookups (default: in-cluster).
    #[arg(long, env = "KEYWARDEN_KUBERNETES_API")]
    pub kubernetes_api: Option<String>,

    /// EKS Pod Identity agent credential endpoints, tried in order (comma separated).
    #[arg(
        long,
        env = "KEYWARDEN_POD_IDENTITY_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://169.254.170.23/v1/credentials,http://[fd00:ec2::23]/v1/credentials"
    )]
    pub pod_identity_endpoints: Vec<String>,

    /// Timeout of one call to the EKS Pod Identity agent.
    #[arg(long, env = "KEYWARDEN_POD_IDENTITY_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub pod_identity_timeout: Duration,

    /// Permit `identity: node` (the provider's own AWS credentials).
    #[arg(long, env = "KEYWARDEN_ALLOW_NODE_IDENTITY", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub allow_node_identity: bool,

    /// Namespaces that may use node identity (comma separated); all when empty.
    #[arg(
        long,
        env = "KEYWARDEN_NODE_IDENTITY_NAMESPACES",
        value_delimiter = ','
    )]
    pub node_identity_namespaces: Vec<String>,

    /// Who writes files: the driver (default) or the provider.
    #[arg(
        long,
        env = "KEYWARDEN_WRITE_MODE",
        value_enum,
        default_value = "driver"
    )]
    pub write_mode: WriteMode,

    /// With `--write-mode provider`, also write into a target path that is not a tmpfs mount.
    #[arg(long, env = "KEYWARDEN_ALLOW_NON_TMPFS", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub allow_non_tmpfs: bool,

    /// Plaintext cache lifetime; `0` disables.
    #[arg(long, env = "KEYWARDEN_CACHE_TTL", default_value = "5m", value_parser = parse_duration)]
    pub cache_ttl: Duration,

    /// How long S3's answer (a fetch or a 304) for an identity's object stands: within it, other
    /// Mounts of the same identity and object reuse it without a conditional request. `0`
    /// revalidates on every Mount. Never extends `--cache-ttl`.
    #[arg(long, env = "KEYWARDEN_REVALIDATE_WINDOW", default_value = "30s", value_parser = parse_duration)]
    pub revalidate_window: Duration,

    /// Most bytes the plaintext cache holds (plaintext, keys and 512 bytes per entry); the
    /// oldest entries go first.
    #[arg(long, env = "KEYWARDEN_CACHE_MAX_BYTES", default_value_t = 33_554_432)]
    pub cache_max_bytes: usize,

    /// Internal deadline of one Mount, below kubelet's ~2 minutes.
    #[arg(long, env = "KEYWARDEN_MOUNT_TIMEOUT", default_value = "100s", value_parser = parse_duration)]
    pub mount_timeout: Duration,

    /// Largest object, in bytes; enforced while streaming.
    #[arg(long, env = "KEYWARDEN_MAX_OBJECT_BYTES", default_value_t = crate::limits::DEFAULT_MAX_OBJECT_BYTES)]
    pub max_object_bytes: usize,

    /// Largest Mount response, in bytes (the driver's default receive limit is 4 MiB).
    #[arg(
        long,
        env = "KEYWARDEN_MAX_RESPONSE_BYTES",
        default_value_t = crate::limits::DEFAULT_MAX_RESPONSE_BYTES
    )]
    pub max_response_bytes: usize,

    /// Objects the prefix entries (`objectName: s3://bucket/prefix/`) of one Mount may list
    /// together; a Mount whose prefixes hold more fails with RESOURCE_EXHAUSTED. `0` refuses
    /// every non-empty prefix.
    #[arg(long, env = "KEYWARDEN_MAX_PREFIX_OBJECTS", default_value_t = crate::limits::DEFAULT_MAX_PREFIX_OBJECTS)]
    pub max_prefix_objects: usize,

    /// Secret bytes all in-flight Mounts may hold together (fetched bodies, plaintext, files,
    /// parsed documents, encoded responses); a Mount that would exceed it is refused with
    /// RESOURCE_EXHAUSTED. The default fits the chart's 128 MiB memory limit beside the cache
    /// (docs/security-model.md, "Threats from a tenant").
    #[arg(
        long,
        env = "KEYWARDEN_MAX_INFLIGHT_BYTES",
        default_value_t = 33_554_432
    )]
    pub max_inflight_bytes: usize,

    /// Mounts served at once; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "KEYWARDEN_MAX_CONCURRENT_MOUNTS", default_value_t = 256)]
    pub max_concurrent_mounts: usize,

    /// Serve the Secrets Store sync controller (as the sidecar of its pod) instead of the CSI
    /// driver: only the controller's requests are accepted (docs/reference.md §2.10).
    #[arg(long, env = "KEYWARDEN_SYNC_CONTROLLER", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub sync_controller: bool,

    /// How long to wait for another live process serving on --socket to stop (a rolling update
    /// on the same node) before giving up; `0s` refuses at once.
    #[arg(long, env = "KEYWARDEN_SOCKET_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub socket_wait: Duration,

    /// Benchmark only: fetch every object of every Mount itself, with no coalescing of
    /// identical fetches and no reuse of cached plaintext (the uncoalesced baseline).
    #[arg(long, hide = true)]
    pub no_coalesce: bool,
}

/// The provider's defaults for the shared serving flags.
#[derive(Debug, Clone)]
pub struct ProviderDefaults;

impl Defaults for ProviderDefaults {
    /// The file name is the provider name the driver knows (`keywarden`).
    const SOCKET: &'static str = "/var/run/secrets-store-csi-providers/keywarden.sock";
    const HTTP_ADDR: &'static str = "0.0.0.0:8989";
    const SHUTDOWN_GRACE: &'static str = "25s";
}

fn parse_octal_mode(s: &str) -> Result<u32, String> {
    crate::objects::parse_mode(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_take_optional_boolish_values() {
        let cli = Cli::try_parse_from([
            "keywarden-provider",
            "serve",
            "--allow-node-identity",
            "--s3-force-path-style=false",
            "--node-identity-namespaces",
            "a,b",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert!(args.allow_node_identity);
        assert!(!args.s3_force_path_style);
        assert_eq!(args.node_identity_namespaces, ["a", "b"]);
        assert_eq!(args.mount_timeout, Duration::from_secs(100));
        assert_eq!(args.socket_wait, Duration::from_secs(60));
        assert!(!args.sync_controller);
        assert_eq!(
            args.serve.http_addr,
            HttpAddr::On("0.0.0.0:8989".parse().expect("addr"))
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["serve", "--mount-timeout", "soon"][..],
            &["serve", "--allow-node-identity=maybe"],
            &["serve", "--http-addr", "localhost"],
            &["serve", "--socket-mode", "0999"],
            &["serve", "--bogus"],
            &["serve", "--write-mode", "both"],
            &["serve", "--sync-controller=perhaps"],
            &["serve", "--socket-wait", "a while"],
        ] {
            let mut argv = vec!["keywarden-provider"];
            argv.extend_from_slice(args);
            let err = Cli::try_parse_from(&argv).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
