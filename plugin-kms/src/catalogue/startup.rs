//! Messages of the plugin's start-up (configuration it refuses) and of `keywarden-kms scan`.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::ExitStart;

use super::Part;

keywarden_runtime::catalogue! {
    "keywarden-kms: start-up and scan",
    "The plugin checks its flags before binding anything and exits with code 2 and one line \
     naming the problem (the static pod's log shows it). `scan` exits 1 with one line.";

    /// `--decrypt-keys` lists key ARNs, not aliases or ids: the plugin must know exactly which
    /// keys it may decrypt with.
    ExitStart fn decrypt_key_not_arn(arn: &str) =
        "--decrypt-keys {arn:?} is not a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)";
    /// Give a duration such as `60s`.
    ExitStart fn zero_health_interval() = "--health-interval must be greater than 0";
    /// Give a duration such as `5m`.
    ExitStart fn zero_key_refresh() = "--key-refresh-interval must be greater than 0";
    /// Give a duration such as `2500ms`, below the EncryptionConfiguration `timeout` (3 s by
    /// default), and at most 10 s.
    ExitStart fn bad_kms_timeout(limit: &std::time::Duration) =
        "--kms-timeout must be greater than 0 and at most {limit:?}";
    /// The socket path kube-apiserver's EncryptionConfiguration names.
    ExitStart fn empty_socket() = "--socket must not be empty";
    /// Encryption contexts are `key=value` pairs (FLAG is `--encryption-context` or
    /// `--decrypt-encryption-contexts`).
    ExitStart fn context_not_pair(flag: &str, pair: &str) = "{flag} {pair:?} is not k=v";
    /// As for the entry above: a key is needed.
    ExitStart fn context_empty_key(flag: &str, pair: &str) = "{flag} {pair:?} has an empty key";
    /// As for the entry above: each key once.
    ExitStart fn context_repeated_key(flag: &str, key: &str) = "{flag} key {key:?} is given twice";
    /// `--key` names the KMS key: an ARN, id, alias or alias ARN.
    ExitStart fn empty_key() = "--key must not be empty";
    /// No KMS key reference is that long.
    ExitStart fn key_too_long(limit: usize) = "--key is longer than {limit} bytes";
    /// A key reference has no spaces: check the quoting in the static pod's manifest.
    ExitStart fn key_whitespace(key: &str) = "--key {key:?} contains whitespace";
    /// `scan`: a certificate or key file for etcd could not be used (REASON from the TLS
    /// library): check `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`.
    Part fn etcd_tls(path: &str, reason: impl Display) = "{path}: {reason}";
    /// `scan`: etcd could not be reached or did not answer in time: check `--etcd-endpoint`
    /// and that the command runs where the apiserver's etcd client certificates work.
    Part fn etcd_unreachable(endpoint: &str, reason: impl Display) = "etcd at {endpoint}: {reason}";
    /// `scan`: etcd answered with an error (REASON quotes at most 200 bytes of it).
    Part fn etcd_answer(endpoint: &str, reason: impl Display) = "etcd at {endpoint} answered {reason}";
    /// REASON of the entries above: etcd's answer is not what a range request returns.
    Part fn etcd_not_base64() = "a key or value that is not base64";
    /// REASON of the entries above: etcd's answer is not JSON (is the endpoint etcd's gRPC
    /// gateway?).
    Part fn etcd_not_json() = "something that is not JSON";
    /// REASON of the entries above.
    Part fn etcd_invalid_endpoint(reason: impl Display) = "invalid endpoint: {reason}";
    /// REASON of the entries above.
    Part fn etcd_read_failed(reason: impl Display) = "reading the answer: {reason}";
    /// REASON of the entries above.
    Part fn etcd_timeout(timeout: &std::time::Duration) = "no answer within {timeout:?}";
    /// REASON of the entries above.
    Part fn etcd_status(status: impl Display, text: &str) = "HTTP {status}: {text}";
}
