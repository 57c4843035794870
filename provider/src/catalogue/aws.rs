//! Messages about what AWS answered for an object: not found, denied, unusable keys, transient
//! faults and refusals. The full AWS error goes to the provider's log, never into the message.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::{
    InternalText, NotFoundText, PermissionDeniedText, UnavailableText,
};

use super::{InvalidArgument, Part, Precondition};

keywarden_runtime::catalogue! {
    "AWS answers",
    "AWS answered for one object; the code depends on the answer. OBJECT is the object's label \
     `objects[N] (NAME)`, or what was being fetched for it: `role ARN` (the IRSA role), \
     `ServiceAccount NS/SA`, `EKS Pod Identity agent`. The provider's log line for the Mount \
     carries AWS's own error code and message.";

    /// WHAT is `object` (no such key: check the key and the region; a role
    /// without `s3:ListBucket` gets 403 for a missing key, so a typo can also show up as
    /// PERMISSION_DENIED), `bucket` (no such bucket in that region), `version`
    /// (`objectVersion` does not exist) or `key` (KMS `NotFoundException`: the key of a sealed
    /// object's header, or the blob's key, does not exist in that account and region),
    /// `secret` or `secret version` (Secrets Manager `ResourceNotFoundException`: no such
    /// secret in the Mount's region, or no version with that `objectVersion` or
    /// `objectVersionLabel`), `parameter` or `parameter version` (Parameter Store did not
    /// return it: check the name, the region, and the version or label).
    NotFoundText fn not_found(object: impl Display, what: impl Display) = "{object}: {what} not found";
    /// CODE `AccessDenied`: the pod's role lacks `s3:GetObject` on that
    /// key (or `s3:GetObjectVersion` for a pinned version), the bucket policy denies it, or the
    /// role lacks `kms:Decrypt` on the bucket's SSE-KMS key. `AccessDeniedException`: the role
    /// may not `kms:Decrypt` with this key and context, or lacks
    /// `secretsmanager:GetSecretValue` on the secret or `ssm:GetParameters` on a parameter (one
    /// refused parameter refuses the whole call, named by its first object). `ExpiredToken`, `InvalidToken`,
    /// `InvalidClientTokenId`, `SignatureDoesNotMatch`, `UnrecognizedClientException`,
    /// `InvalidAccessKeyId`: the credentials are not valid (for IRSA, the role's trust policy
    /// does not accept the token). See [install.md §5](install.md#5-iam-permissions-per-object-type).
    PermissionDeniedText fn access_denied(object: impl Display, code: impl Display) =
        "{object}: access denied by AWS ({code})";
    /// Retried by the driver. REASON `timeout`, `connection failed`,
    /// `unreadable response`: no network path to the AWS endpoint from the node (security
    /// groups, a missing VPC endpoint for S3, KMS or STS, DNS, a proxy). An AWS code
    /// (`ThrottlingException`, `SlowDown`, `ServiceUnavailable`, `InternalError`,
    /// `KMSInternalException`, …): AWS throttled or failed after the SDK's retries; KMS quotas
    /// are per account and region, and S3 Bucket Keys and `cacheTTL` cut calls.
    UnavailableText fn transient(object: impl Display, reason: impl Display) =
        "{object}: AWS temporarily unavailable ({reason})";
    /// REASON of the entry above: the connection broke while the object's body was read.
    Part fn body_interrupted() = "object body interrupted";
    /// REASON of the entry above: S3 answered `304 Not Modified` to a request that had no
    /// condition, which S3 never does; a proxy in between is rewriting requests.
    Part fn unexpected_not_modified() = "S3 answered 304 to an unconditional request";
    /// AWS refused the call in a way that fits no other code (for example HTTP
    /// 409), or CODE is `request construction failed` (an invalid endpoint override in
    /// `AWS_ENDPOINT_URL*`). Report it with the log line.
    InternalText fn rejected(object: impl Display, code: impl Display) = "{object}: AWS rejected the request ({code})";
    /// CODE of the entry above.
    Part fn construction_failed() = "request construction failed";
    /// AWS answered HTTP 400 with a code that names no better cause, e.g. `InvalidArgument`
    /// for a malformed `objectVersion`.
    InvalidArgument fn bad_request(object: &str, code: &str) = "{object}: AWS rejected the request ({code})";
    /// KMS refused the ciphertext with a code other than `InvalidCiphertextException`.
    InvalidArgument fn kms_refused(object: &str, code: &str) = "{object}: KMS refused the ciphertext ({code})";
    /// `DisabledException`, `KMSInvalidStateException` or `NotFoundException` for the key: enable
    /// the key, cancel its deletion (`aws kms cancel-key-deletion`), or re-encrypt the object
    /// under a usable key.
    Precondition fn key_cannot_be_used(object: &str, code: &str) =
        "{object}: the KMS key cannot be used ({code})";
    /// Enable the key, or re-encrypt the object under an enabled key.
    Precondition fn key_disabled(label: &str) = "{label}: the KMS key is disabled";
    /// The key is scheduled for deletion (cancel it: `aws kms cancel-key-deletion`) or awaits
    /// imported key material.
    Precondition fn key_unusable(label: &str) =
        "{label}: the KMS key is not usable (pending deletion or import)";
}
