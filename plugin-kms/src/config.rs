//! The validated configuration the plugin runs with: everything the command line cannot check by
//! itself is checked here, before any socket is bound.

use std::path::PathBuf;

use keywarden_runtime::cli::ConfigError;
use std::time::Duration;

use crate::catalogue;
use crate::cli::{Args, HttpAddr};
use crate::envelope::{Context, MAX_KEY_ID};
use crate::kms::CALL_TIMEOUT;

/// Permission bits of the plugin socket: only the apiserver's user (root) may dial it.
pub const SOCKET_MODE: u32 = 0o600;

/// How `--key` names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    /// A key id or key ARN: the target never changes.
    Key(String),
    /// An alias name or alias ARN: re-resolved every `--key-refresh-interval`.
    Alias(String),
}

impl KeySpec {
    /// The string KMS is asked about.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Key(s) | Self::Alias(s) => s,
        }
    }

    /// Whether the key it names can change while the plugin runs.
    pub fn is_alias(&self) -> bool {
        matches!(self, Self::Alias(_))
    }
}

/// Configuration of a running plugin.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket path.
    pub socket: PathBuf,
    /// The configured key.
    pub key: KeySpec,
    /// Region override.
    pub region: Option<String>,
    /// Encryption context of new ciphertexts.
    pub context: Context,
    /// Further key ARNs Decrypt may use.
    pub decrypt_keys: Vec<String>,
    /// Earlier contexts Decrypt accepts besides those containing `context`.
    pub decrypt_contexts: Vec<Context>,
    /// Most AWS KMS calls in flight at once.
    pub kms_max_in_flight: usize,
    /// Admin HTTP address.
    pub http_addr: HttpAddr,
    /// Background health period.
    pub health_interval: Duration,
    /// Alias re-resolution period.
    pub key_refresh_interval: Duration,
    /// Decrypt cache entries.
    pub decrypt_cache_size: usize,
    /// Longest life of a decrypt cache entry.
    pub decrypt_cache_ttl: Duration,
    /// Longest wait of a request for KMS, and the latency above which a call is a failure.
    pub kms_timeout: Duration,
    /// Drain period after SIGTERM.
    pub shutdown_grace: Duration,
    /// Replace a live socket (and wait for a busy admin port) instead of refusing to start.
    pub take_over_socket: bool,
    /// The key's ARN when `main` resolved it before taking a socket over, so that the
    /// successor answers like its predecessor from its first request.
    pub resolved_key: Option<String>,
}

impl TryFrom<&Args> for Config {
    type Error = ConfigError;

    fn try_from(args: &Args) -> Result<Self, Self::Error> {
        let key = parse_key(&args.key)?;
        let context = parse_context("--encryption-context", &args.encryption_context)?;
        let mut decrypt_contexts = Vec::new();
        for entry in &args.decrypt_encryption_contexts {
            let pairs: Vec<String> = entry
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            let parsed = parse_context("--decrypt-encryption-contexts", &pairs)?;
            if !decrypt_contexts.contains(&parsed) {
                decrypt_contexts.push(parsed);
            }
        }
        let mut decrypt_keys = Vec::new();
        for arn in args
            .decrypt_keys
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
        {
            if !is_key_arn(arn) {
                return Err(catalogue::decrypt_key_not_arn(arn).into());
            }
            if !decrypt_keys.iter().any(|k| k == arn) {
                decrypt_keys.push(arn.to_owned());
            }
        }
        if args.health_interval.is_zero() {
            return Err(catalogue::zero_health_interval().into());
        }
        if args.key_refresh_interval.is_zero() {
            return Err(catalogue::zero_key_refresh().into());
        }
        if args.kms_timeout.is_zero() || args.kms_timeout > CALL_TIMEOUT {
            return Err(catalogue::bad_kms_timeout(&CALL_TIMEOUT).into());
        }
        if args.serve.socket.as_os_str().is_empty() {
            return Err(catalogue::empty_socket().into());
        }
        Ok(Self {
            socket: args.serve.socket.clone(),
            key,
            region: args.serve.region(),
            context,
            decrypt_keys,
            decrypt_contexts,
            kms_max_in_flight: usize::from(args.kms_max_in_flight),
            http_addr: args.serve.http_addr,
            health_interval: args.health_interval,
            key_refresh_interval: args.key_refresh_interval,
            decrypt_cache_size: args.decrypt_cache_size,
            decrypt_cache_ttl: args.decrypt_cache_ttl,
            kms_timeout: args.kms_timeout,
            shutdown_grace: args.serve.shutdown_grace,
            take_over_socket: args.take_over_socket,
            resolved_key: None,
        })
    }
}

/// `k=v` pairs into a context; `flag` names the option in errors.
fn parse_context(flag: &str, pairs: &[String]) -> Result<Context, String> {
    let mut context = Context::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| catalogue::context_not_pair(flag, pair))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(catalogue::context_empty_key(flag, pair));
        }
        if context.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(catalogue::context_repeated_key(flag, k));
        }
    }
    Ok(context)
}

fn parse_key(key: &str) -> Result<KeySpec, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err(catalogue::empty_key());
    }
    if key.len() > MAX_KEY_ID {
        return Err(catalogue::key_too_long(MAX_KEY_ID));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(catalogue::key_whitespace(key));
    }
    if key.starts_with("alias/") {
        return Ok(KeySpec::Alias(key.to_owned()));
    }
    if key.starts_with("arn:") {
        let resource = arn_resource(key).ok_or_else(|| {
            format!(
                "--key {key:?} is not a KMS key or alias ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
            )
        })?;
        return Ok(if resource.starts_with("alias/") {
            KeySpec::Alias(key.to_owned())
        } else {
            KeySpec::Key(key.to_owned())
        });
    }
    Ok(KeySpec::Key(key.to_owned()))
}

/// The `key/…` or `alias/…` part of a KMS ARN.
fn arn_resource(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "kms", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && (resource.starts_with("key/") || resource.starts_with("alias/"))
                && resource.len() > resource.find('/').unwrap_or(0) + 1 =>
        {
            Some(resource)
        }
        _ => None,
    }
}

/// Whether `s` is a KMS key ARN (not an alias ARN).
pub fn is_key_arn(s: &str) -> bool {
    arn_resource(s).is_some_and(|r| r.starts_with("key/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(extra: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["keywarden-kms"];
        argv.extend_from_slice(extra);
        Config::try_from(&Args::try_parse_from(argv).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn key_forms_are_told_apart() {
        let cases = [
            ("1234abcd-12ab-34cd-56ef-1234567890ab", false),
            ("arn:aws:kms:us-east-1:111122223333:key/1234abcd", false),
            ("alias/keywarden", true),
            ("arn:aws:kms:us-east-1:111122223333:alias/keywarden", true),
            (
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/k",
                true,
            ),
        ];
        for (key, alias) in cases {
            let config = config(&["--key", key]).expect(key);
            assert_eq!(config.key.is_alias(), alias, "{key}");
            assert_eq!(config.key.as_str(), key);
        }
    }

    #[test]
    fn context_and_decrypt_keys_are_parsed() {
        let config = config(&[
            "--key",
            "alias/k",
            "--encryption-context",
            "cluster=prod,purpose=etcd",
            "--decrypt-keys",
            "arn:aws:kms:us-east-1:1:key/a, arn:aws:kms:us-east-1:1:key/a",
        ])
        .expect("valid");
        assert_eq!(
            config.context.get("cluster").map(String::as_str),
            Some("prod")
        );
        assert_eq!(config.context.len(), 2);
        assert_eq!(config.decrypt_keys, ["arn:aws:kms:us-east-1:1:key/a"]);
        assert!(config.decrypt_contexts.is_empty());
    }

    #[test]
    fn earlier_contexts_are_whole_contexts() {
        let config = config(&[
            "--key",
            "alias/k",
            "--decrypt-encryption-contexts",
            "cluster=old,purpose=etcd;;cluster=older",
            "--decrypt-encryption-contexts",
            "cluster=older",
        ])
        .expect("valid");
        let contexts: Vec<Vec<(&str, &str)>> = config
            .decrypt_contexts
            .iter()
            .map(|c| c.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        assert_eq!(
            contexts,
            [
                vec![("cluster", "old"), ("purpose", "etcd")],
                vec![],
                vec![("cluster", "older")],
            ]
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        let long = "k".repeat(MAX_KEY_ID + 1);
        for args in [
            &["--key", ""][..],
            &["--key", "a b"],
            &["--key", long.as_str()],
            &["--key", "arn:aws:s3:::bucket"],
            &["--key", "arn:aws:kms:us-east-1:1:key/"],
            &["--key", "k", "--encryption-context", "novalue"],
            &["--key", "k", "--encryption-context", "=v"],
            &["--key", "k", "--encryption-context", "a=1,a=2"],
            &["--key", "k", "--kms-timeout", "0"],
            &["--key", "k", "--kms-timeout", "11s"],
            &["--key", "k", "--decrypt-encryption-contexts", "a"],
            &["--key", "k", "--decrypt-encryption-contexts", "a=1,a=2"],
            &["--key", "k", "--decrypt-keys", "alias/old"],
            &["--key", "k", "--health-interval", "0s"],
            &["--key", "k", "--key-refresh-interval", "0s"],
        ] {
            assert!(config(args).is_err(), "{args:?} accepted");
        }
    }
}
