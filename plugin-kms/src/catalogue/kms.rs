//! Messages about AWS KMS's answers and the plugin's key: refusals, outages, unusable keys and
//! the health the plugin reports to kube-apiserver.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::{
    FailedPreconditionText, InvalidArgumentText, PermissionDeniedText, UnavailableText,
};

use super::{Internal, Part};

keywarden_runtime::catalogue! {
    "keywarden-kms: AWS KMS and the key",
    "What AWS KMS answered, or what the plugin knows about its key. `UNAVAILABLE` makes \
     kube-apiserver retry; while it lasts, reads of Secrets fail and `/readyz` reports the \
     reason.";

    /// KMS refused the ciphertext (`InvalidCiphertextException`): it was
    /// altered, or encrypted under another context.
    InvalidArgumentText fn bad_ciphertext(code: impl Display) = "ciphertext rejected by AWS KMS ({code})";
    /// KMS is unreachable (REASON `timeout`, `connection failed`), throttling
    /// (`ThrottlingException`) or failing after the SDK's retries: check the control plane's
    /// network path to KMS (a VPC endpoint in private subnets) and the account's KMS quotas.
    UnavailableText fn unavailable(reason: impl Display) = "AWS KMS unavailable ({reason})";
    /// The key is disabled, pending deletion, missing, or not a
    /// symmetric encryption key (CODE says which). Enable it or cancel its deletion: until then
    /// no Secret can be read.
    FailedPreconditionText fn key_unusable(code: impl Display) = "KMS key unusable ({code})";
    /// The plugin's role may not use the key (`kms:Encrypt`,
    /// `kms:Decrypt`, `kms:DescribeKey` in its IAM policy and the key policy).
    PermissionDeniedText fn access_denied(code: impl Display) = "access denied by AWS KMS ({code})";
    /// The plugin has not resolved its `--key` to a key ARN yet (REASON says
    /// why: the DescribeKey failure below). Encrypt waits for it.
    UnavailableText fn not_ready(reason: impl Display) = "key not resolved yet: {reason}";
    /// REASON of the entry above before the first DescribeKey answered.
    Part fn not_resolved_yet() = "not resolved yet";
    /// REASON of the entry above: DescribeKey of `--key` failed (ERROR is one of the messages
    /// here); the plugin retries every `--key-refresh-interval`.
    Part fn cannot_resolve(key: &str, error: impl Display) = "cannot resolve {key}: {error}";
    /// A reason `/readyz` and the KMS v2 `Status` report: DescribeKey failed.
    Part fn describe_failed(error: impl Display) = "DescribeKey: {error}";
    /// A reason `/readyz` and `Status` report: the key is in STATE (`Disabled`,
    /// `PendingDeletion`, …).
    Part fn key_state(arn: &str, state: impl Display) = "key {arn} is {state}";
    /// A reason `/readyz` and `Status` report: the last Encrypt or Decrypt (OPERATION) failed
    /// with ERROR, one of the messages here.
    Part fn operation_failed(operation: impl Display, error: impl Display) = "{operation}: {error}";
    /// REASON of `AWS KMS unavailable`: KMS did not answer within `--kms-timeout` (WAIT). The
    /// call goes on for up to 10 s; a Decrypt's plaintext is then cached, so kube-apiserver's
    /// retry is answered from it. Three in a row make the plugin unhealthy: check the network
    /// path to KMS (VPC endpoint, proxy) and KMS request quotas; raise `--kms-timeout` only
    /// together with the EncryptionConfiguration `timeout`.
    Part fn no_answer_within(wait: &std::time::Duration) = "no answer within {wait:?}";
    /// A reason `/readyz` and `Status` report: KMS answered OPERATION, but only after every
    /// request waiting for it had given up (their deadline, the apiserver's KMS `timeout`, was
    /// shorter than KMS took). As for the entry above; the answer is kept for the retry.
    Part fn answered_too_late(operation: impl Display) =
        "{operation}: AWS KMS answered after every request had given up";
    /// A reason `/readyz` and `Status` report: the health probe's round trip through KMS gave
    /// back other bytes than it encrypted: report it.
    Part fn probe_mismatch() = "Decrypt: health probe decrypted to the wrong value";
    /// KMS answered without the field the plugin needs (FIELD): a KMS-compatible
    /// endpoint that is not AWS KMS, or a proxy that rewrites answers.
    Internal fn kms_answer_lacks(field: &str) = "AWS KMS returned no {field}";
    /// As for the entry above, for DescribeKey.
    Internal fn describe_lacks(field: &str) = "DescribeKey returned no {field}";
    /// KMS answered an empty ciphertext.
    Internal fn kms_empty_ciphertext() = "AWS KMS returned an empty ciphertext";
    /// KMS answered a ciphertext larger than kube-apiserver stores: a key type
    /// that is not symmetric encryption.
    Internal fn kms_ciphertext_too_large(n: usize, limit: usize) =
        "AWS KMS returned a {n}-byte ciphertext; the apiserver accepts at most {limit} bytes";
    /// The v1beta1 framing (key, context and blob) would exceed kube-apiserver's
    /// limit: shorten the configured encryption context.
    Internal fn v1_too_large(total: usize, blob: usize, limit: usize) =
        "a {total}-byte v1beta1 ciphertext (key, context, {blob}-byte KMS blob) is over the {limit}-byte limit or empty";
    /// The SDK could not build the request (an invalid `AWS_ENDPOINT_URL*`).
    Internal fn request_not_built() = "AWS KMS request could not be built";
    /// KMS refused the call in a way that fits no other code; the plugin's log has
    /// AWS's message.
    Internal fn kms_rejected(code: &str) = "AWS KMS rejected the request ({code})";
}
