//! Turns AWS KMS SDK errors into [`PluginError`]s with the right gRPC code (SPEC §3.2).
//!
//! Classification is by the error code KMS returns (never by matching message text), with the
//! HTTP status as a fallback for codes we do not know. The full SDK error is described for the
//! logs by [`describe`]; it never reaches the apiserver.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::error::PluginError;

/// KMS or the network is struggling; the apiserver should retry later.
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "CustomKeyStoreInvalidStateException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The key exists in a state that forbids this use, or does not exist at all.
const KEY_UNUSABLE: &[&str] = &[
    "DisabledException",
    "KMSInvalidStateException",
    "NotFoundException",
    "InvalidKeyUsageException",
    "UnsupportedOperationException",
    "InvalidArnException",
];

/// The plugin's identity may not do this.
const ACCESS_DENIED: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidGrantTokenException",
    "InvalidGrantIdException",
    "MissingAuthenticationToken",
];

/// The ciphertext (or the key/context pair it is tried with) is wrong.
const BAD_CIPHERTEXT: &[&str] = &["InvalidCiphertextException", "IncorrectKeyException"];

/// Classifies an SDK error. `status` is the HTTP status, if a response arrived.
pub fn classify<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> PluginError
where
    E: ProvideErrorMetadata,
{
    let unavailable = |reason: &str| PluginError::Unavailable {
        reason: reason.to_owned(),
    };
    match err {
        SdkError::TimeoutError(_) => unavailable("timeout"),
        SdkError::DispatchFailure(_) => unavailable("connection failed"),
        SdkError::ResponseError(_) => unavailable("unreadable response"),
        SdkError::ConstructionFailure(_) => {
            PluginError::Internal("AWS KMS request could not be built".to_owned())
        }
        SdkError::ServiceError(service) => {
            classify_code(service.err().code().unwrap_or_default(), status)
        }
        _ => unavailable("unknown SDK failure"),
    }
}

/// Classifies a KMS error code, falling back on the HTTP status.
pub fn classify_code(code: &str, status: Option<u16>) -> PluginError {
    let owned = || code.to_owned();
    if BAD_CIPHERTEXT.contains(&code) {
        return PluginError::BadCiphertext { code: owned() };
    }
    if KEY_UNUSABLE.contains(&code) {
        return PluginError::KeyUnusable { code: owned() };
    }
    if ACCESS_DENIED.contains(&code) {
        return PluginError::AccessDenied { code: owned() };
    }
    if TRANSIENT.contains(&code) {
        return PluginError::Unavailable { reason: owned() };
    }
    let shown = if code.is_empty() {
        "no error code".to_owned()
    } else {
        owned()
    };
    match status {
        Some(401 | 403) => PluginError::AccessDenied { code: shown },
        Some(429 | 500..=599) => PluginError::Unavailable { reason: shown },
        _ => PluginError::Internal(format!("AWS KMS rejected the request ({shown})")),
    }
}

pub use keywarden_runtime::aws_errors::describe;

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn kms_codes_map_to_grpc_codes() {
        let cases = [
            ("ThrottlingException", Some(400), Code::Unavailable),
            ("KMSInternalException", Some(500), Code::Unavailable),
            ("KeyUnavailableException", Some(500), Code::Unavailable),
            ("DisabledException", Some(400), Code::FailedPrecondition),
            (
                "KMSInvalidStateException",
                Some(400),
                Code::FailedPrecondition,
            ),
            ("NotFoundException", Some(400), Code::FailedPrecondition),
            ("AccessDeniedException", Some(400), Code::PermissionDenied),
            ("ExpiredTokenException", Some(400), Code::PermissionDenied),
            (
                "InvalidCiphertextException",
                Some(400),
                Code::InvalidArgument,
            ),
            ("IncorrectKeyException", Some(400), Code::InvalidArgument),
            ("Weird", Some(503), Code::Unavailable),
            ("", Some(403), Code::PermissionDenied),
            ("Odd", Some(409), Code::Internal),
        ];
        for (code, status, want) in cases {
            let got = classify_code(code, status);
            assert_eq!(got.grpc_code(), want, "{code} {status:?}: {got}");
        }
    }
}
