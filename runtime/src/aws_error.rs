//! One reading of AWS SDK errors for both binaries: what kind of failure it was, in terms that
//! do not depend on the service, so that each binary maps it once into its own error type.
//!
//! Whether a failure is worth retrying is the SDK's call, not ours: a timeout or a broken
//! connection, an error the service model marks retryable, a code on the SDK's own throttling
//! and transient lists (`aws_runtime::retries::classifiers`, what its standard retry policy
//! uses), or a 5xx or 429 status. What is left is told apart by the error code from the error's
//! metadata, with the HTTP status as a fallback for codes nobody listed. Messages from AWS are
//! never part of the result: they can name resources the caller should not learn about, so they
//! only reach the log, through [`describe`].

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
pub use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};

/// What an AWS call's failure means, whichever service it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsFault {
    /// Try again later: the SDK classes it as throttling, transient or a server error (its
    /// retries, if any, were already spent).
    Retryable {
        /// Which of the SDK's retry classes.
        kind: ErrorKind,
        /// The error code, or what happened when there was no response (`timeout`, …).
        reason: String,
    },
    /// The resource the request names (object, bucket, version) does not exist.
    NotFound {
        /// The error code.
        code: String,
        /// What is missing: `object`, `bucket` or `version`.
        what: &'static str,
    },
    /// The caller's identity may not do this, or its credentials are not valid.
    AccessDenied {
        /// The error code.
        code: String,
    },
    /// A KMS key the call needs cannot be used: disabled, pending deletion, missing, the wrong
    /// kind, or its custom key store is disconnected. Fixing it is up to the key's owner.
    KeyUnusable {
        /// The error code.
        code: String,
    },
    /// KMS refused the ciphertext: tampered, truncated, another key's, or another context's.
    BadCiphertext {
        /// The error code.
        code: String,
    },
    /// The service refused the request as malformed (HTTP 400 with no better code).
    BadRequest {
        /// The error code, or `no error code`.
        code: String,
    },
    /// The request could not even be built (a missing required field: a bug on our side).
    Construction,
    /// Anything else the service refused.
    Rejected {
        /// The error code, or `no error code`.
        code: String,
    },
}

impl AwsFault {
    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Retryable { .. } => "unavailable",
            Self::NotFound { .. } => "not_found",
            Self::AccessDenied { .. } => "access_denied",
            Self::KeyUnusable { .. } => "key_unusable",
            Self::BadCiphertext { .. } => "bad_ciphertext",
            Self::BadRequest { .. } => "bad_request",
            Self::Construction => "construction",
            Self::Rejected { .. } => "rejected",
        }
    }
}

/// Resources a code says are missing, and what to call them.
const NOT_FOUND: &[(&str, &str)] = &[
    ("NoSuchKey", "object"),
    ("NoSuchBucket", "bucket"),
    ("NoSuchVersion", "version"),
    ("NotFound", "object"),
];

/// Codes that refuse the caller's identity or credentials (AWS's common errors, STS, S3, KMS).
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidGrantIdException",
    "InvalidGrantTokenException",
    "InvalidSignatureException",
    "InvalidToken",
    "MissingAuthenticationToken",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
];

/// KMS codes about the key rather than the request; S3 reports SSE-KMS key failures with a
/// `KMS.` prefix.
const KEY_UNUSABLE: &[&str] = &[
    "CustomKeyStoreInvalidStateException",
    "DisabledException",
    "InvalidArnException",
    "InvalidKeyUsageException",
    "KMSInvalidStateException",
    "NotFoundException",
    "UnsupportedOperationException",
];

/// KMS codes that refuse the ciphertext itself.
const BAD_CIPHERTEXT: &[&str] = &["InvalidCiphertextException", "IncorrectKeyException"];

/// Classifies an SDK error. `status` is the HTTP status, if a response arrived.
pub fn classify<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> AwsFault
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    let transient = |reason: &str| AwsFault::Retryable {
        kind: ErrorKind::TransientError,
        reason: reason.to_owned(),
    };
    match err {
        SdkError::TimeoutError(_) => transient("timeout"),
        SdkError::DispatchFailure(_) => transient("connection failed"),
        SdkError::ResponseError(_) => transient("unreadable response"),
        SdkError::ConstructionFailure(_) => AwsFault::Construction,
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = ProvideErrorMetadata::code(e).unwrap_or_default();
            match ProvideErrorKind::retryable_error_kind(e) {
                Some(kind) => AwsFault::Retryable {
                    kind,
                    reason: shown(code),
                },
                None => classify_code(code, status),
            }
        }
        _ => transient("unknown SDK failure"),
    }
}

/// Classifies a service error by its code, falling back on the HTTP status.
pub fn classify_code(code: &str, status: Option<u16>) -> AwsFault {
    let owned = || code.to_owned();
    let code = code.strip_prefix("KMS.").unwrap_or(code);
    if let Some((_, what)) = NOT_FOUND.iter().find(|(c, _)| *c == code) {
        return AwsFault::NotFound {
            code: owned(),
            what,
        };
    }
    if ACCESS_DENIED.contains(&code) {
        return AwsFault::AccessDenied { code: owned() };
    }
    if KEY_UNUSABLE.contains(&code) {
        return AwsFault::KeyUnusable { code: owned() };
    }
    if BAD_CIPHERTEXT.contains(&code) {
        return AwsFault::BadCiphertext { code: owned() };
    }
    let retryable = |kind| AwsFault::Retryable {
        kind,
        reason: shown(code),
    };
    if THROTTLING_ERRORS.contains(&code) {
        return retryable(ErrorKind::ThrottlingError);
    }
    if TRANSIENT_ERRORS.contains(&code) {
        return retryable(ErrorKind::TransientError);
    }
    match status {
        Some(429) => retryable(ErrorKind::ThrottlingError),
        Some(500..=599) => retryable(ErrorKind::ServerError),
        Some(404) => AwsFault::NotFound {
            code: shown(code),
            what: "object",
        },
        Some(401 | 403) => AwsFault::AccessDenied { code: shown(code) },
        Some(400) => AwsFault::BadRequest { code: shown(code) },
        _ => AwsFault::Rejected { code: shown(code) },
    }
}

fn shown(code: &str) -> String {
    if code.is_empty() {
        "no error code".to_owned()
    } else {
        code.to_owned()
    }
}

/// The error code, AWS's message and the HTTP status of a service error, or the chain of causes
/// of a transport failure: for the log line, never for a client.
pub fn describe<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        return format!(
            "service error {} ({}), HTTP {}",
            e.code().unwrap_or("without code"),
            e.message().unwrap_or("no message"),
            status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string())
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_classified() {
        let cases: &[(&str, Option<u16>, &str)] = &[
            ("NoSuchKey", None, "not_found"),
            ("NoSuchBucket", Some(404), "not_found"),
            ("", Some(404), "not_found"),
            ("AccessDenied", Some(403), "access_denied"),
            ("ExpiredToken", Some(400), "access_denied"),
            ("", Some(401), "access_denied"),
            ("SlowDown", Some(503), "unavailable"),
            ("ThrottlingException", Some(400), "unavailable"),
            ("Throttling", Some(400), "unavailable"),
            ("RequestTimeout", Some(400), "unavailable"),
            ("KMSInternalException", Some(500), "unavailable"),
            ("Weird", Some(502), "unavailable"),
            ("", Some(429), "unavailable"),
            ("DisabledException", Some(400), "key_unusable"),
            ("KMS.DisabledException", Some(400), "key_unusable"),
            ("NotFoundException", Some(400), "key_unusable"),
            ("KMS.NotFoundException", Some(400), "key_unusable"),
            (
                "CustomKeyStoreInvalidStateException",
                Some(400),
                "key_unusable",
            ),
            ("InvalidCiphertextException", Some(400), "bad_ciphertext"),
            ("InvalidArgument", Some(400), "bad_request"),
            ("Odd", Some(409), "rejected"),
        ];
        for (code, status, want) in cases {
            let got = classify_code(code, *status);
            assert_eq!(got.label(), *want, "{code} {status:?}: {got:?}");
        }
    }

    #[test]
    fn throttling_comes_from_the_sdk_list() {
        for code in THROTTLING_ERRORS {
            assert_eq!(
                classify_code(code, Some(400)),
                AwsFault::Retryable {
                    kind: ErrorKind::ThrottlingError,
                    reason: (*code).to_owned()
                }
            );
        }
    }
}
