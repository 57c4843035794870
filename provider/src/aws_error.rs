//! Turns AWS SDK errors into [`MountError`]s with the right gRPC code (SPEC §2.8).
//!
//! Transient faults (throttling, 5xx, timeouts, broken connections) become `UNAVAILABLE`, which
//! the driver retries; everything else gets a code that tells the user what to fix. The full
//! SDK error goes to the log at the call site, never into the message.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::error::MountError;

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "KMSInternalException",
    "DependencyTimeoutException",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "AuthorizationHeaderMalformed",
];

const NOT_FOUND: &[(&str, &str)] = &[
    ("NoSuchKey", "object"),
    ("NoSuchBucket", "bucket"),
    ("NoSuchVersion", "version"),
    ("NotFound", "object"),
    ("NotFoundException", "key"),
];

const KEY_UNUSABLE: &[&str] = &[
    "DisabledException",
    "KMSInvalidStateException",
    "KMS.DisabledException",
    "KMS.KMSInvalidStateException",
    "KMS.NotFoundException",
];

/// Classifies an SDK error for `object` (its label). `status` is the HTTP status, if any.
pub fn classify<E, R>(object: &str, err: &SdkError<E, R>, status: Option<u16>) -> MountError
where
    E: ProvideErrorMetadata,
{
    let transient = |reason: &str| MountError::Transient {
        object: object.to_owned(),
        reason: reason.to_owned(),
    };
    match err {
        SdkError::TimeoutError(_) => transient("timeout"),
        SdkError::DispatchFailure(_) => transient("connection failed"),
        SdkError::ResponseError(_) => transient("unreadable response"),
        SdkError::ConstructionFailure(_) => MountError::Rejected {
            object: object.to_owned(),
            code: "request construction failed".to_owned(),
        },
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            classify_code(object, code, status)
        }
        _ => transient("unknown SDK failure"),
    }
}

fn classify_code(object: &str, code: &str, status: Option<u16>) -> MountError {
    let object = object.to_owned();
    if let Some((_, what)) = NOT_FOUND.iter().find(|(c, _)| *c == code) {
        return MountError::NotFound { object, what };
    }
    if ACCESS_DENIED.contains(&code) {
        return MountError::AccessDenied {
            object,
            code: code.to_owned(),
        };
    }
    if KEY_UNUSABLE.contains(&code) {
        return MountError::Precondition(format!("{object}: the KMS key cannot be used ({code})"));
    }
    if THROTTLING.contains(&code) {
        return MountError::Transient {
            object,
            reason: code.to_owned(),
        };
    }
    let shown = if code.is_empty() {
        "no error code"
    } else {
        code
    };
    match status {
        Some(404) => MountError::NotFound {
            object,
            what: "object",
        },
        Some(401 | 403) => MountError::AccessDenied {
            object,
            code: shown.to_owned(),
        },
        Some(429 | 500..=599) => MountError::Transient {
            object,
            reason: shown.to_owned(),
        },
        Some(400) => {
            MountError::InvalidArgument(format!("{object}: AWS rejected the request ({shown})"))
        }
        _ => MountError::Rejected {
            object,
            code: shown.to_owned(),
        },
    }
}

pub use keywarden_runtime::aws_errors::describe;

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn codes_map_to_grpc_codes() {
        let cases = [
            ("NoSuchKey", None, Code::NotFound),
            ("NoSuchBucket", Some(404), Code::NotFound),
            ("", Some(404), Code::NotFound),
            ("AccessDenied", Some(403), Code::PermissionDenied),
            ("ExpiredToken", Some(400), Code::PermissionDenied),
            ("SlowDown", Some(503), Code::Unavailable),
            ("ThrottlingException", Some(400), Code::Unavailable),
            ("Weird", Some(502), Code::Unavailable),
            ("DisabledException", Some(400), Code::FailedPrecondition),
            ("InvalidArgument", Some(400), Code::InvalidArgument),
            ("Odd", Some(409), Code::Internal),
        ];
        for (code, status, want) in cases {
            let got = classify_code("objects[0] (s3://b/k)", code, status);
            assert_eq!(got.grpc_code(), want, "{code} {status:?}: {got}");
            assert!(got.to_string().contains("objects[0]"), "{got}");
        }
    }
}
