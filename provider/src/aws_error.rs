//! Maps the runtime's reading of an AWS SDK error ([`AwsFault`]) into a [`MountError`] for one
//! object: the one place where an AWS failure gets its gRPC code in the provider.
//!
//! Transient faults (throttling, 5xx, timeouts, broken connections) become `UNAVAILABLE`, which
//! the driver retries; everything else gets a code that tells the user what to fix. A KMS key
//! that cannot be used (disabled, pending deletion, or missing: `NotFoundException`) is
//! `FAILED_PRECONDITION`, as in the KMS plugin: the object was found, the key it needs is the
//! key owner's to fix. The full SDK error goes to the log at the call site, never into the
//! message.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use keywarden_runtime::aws_error::{self, AwsFault, ProvideErrorKind};

use crate::catalogue;
use crate::error::MountError;
use crate::metrics::AwsRequest;

pub use keywarden_runtime::aws_error::describe;

/// Closes a failed call the same way at every call site: its metrics record `mapped`'s outcome,
/// and the log gets `<operation> failed` with the object and AWS's own error (which never goes
/// into a message). Returns `mapped`.
pub fn failed<E, R>(
    call: AwsRequest,
    object: &str,
    err: &SdkError<E, R>,
    status: Option<u16>,
    mapped: MountError,
) -> MountError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let operation = call.operation();
    call.finish(mapped.label());
    tracing::warn!(object, error = describe(err, status), "{operation} failed");
    mapped
}

/// Classifies an SDK error for `object` (its label). `status` is the HTTP status, if any.
pub fn classify<E, R>(object: &str, err: &SdkError<E, R>, status: Option<u16>) -> MountError
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    from_fault(object, aws_error::classify(err, status))
}

/// The Mount failure an AWS fault on `object` is.
pub fn from_fault(object: &str, fault: AwsFault) -> MountError {
    let object = object.to_owned();
    match fault {
        AwsFault::Retryable { reason, .. } => MountError::Transient { object, reason },
        AwsFault::NotFound { what, .. } => MountError::NotFound {
            object,
            what: what.to_owned(),
        },
        AwsFault::AccessDenied { code } => MountError::AccessDenied { object, code },
        AwsFault::KeyUnusable { code } => catalogue::key_cannot_be_used(&object, &code),
        AwsFault::BadCiphertext { code } => catalogue::kms_refused(&object, &code),
        AwsFault::BadRequest { code } => catalogue::bad_request(&object, &code),
        AwsFault::Construction => MountError::Rejected {
            object,
            code: catalogue::construction_failed(),
        },
        AwsFault::Rejected { code } => MountError::Rejected { object, code },
    }
}

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
            ("NotFoundException", Some(400), Code::FailedPrecondition),
            ("InvalidArgument", Some(400), Code::InvalidArgument),
            ("Odd", Some(409), Code::Internal),
        ];
        for (code, status, want) in cases {
            let got = from_fault(
                "objects[0] (s3://b/k)",
                aws_error::classify_code(code, status),
            );
            assert_eq!(got.grpc_code(), want, "{code} {status:?}: {got}");
            assert!(got.to_string().contains("objects[0]"), "{got}");
        }
    }
}
