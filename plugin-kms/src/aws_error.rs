//! Maps the runtime's reading of an AWS KMS SDK error ([`AwsFault`]) into a [`PluginError`]:
//! the one place where an AWS failure gets its gRPC code in the plugin.
//!
//! A missing key (`NotFoundException`) is `FAILED_PRECONDITION` like a disabled one, as in the
//! provider: the key the plugin is configured with is not usable, which only its owner can fix.
//! The full SDK error is described for the logs by [`describe`]; it never reaches the apiserver.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use keywarden_runtime::aws_error::{self, AwsFault, ProvideErrorKind};

use crate::catalogue;
use crate::error::PluginError;

pub use keywarden_runtime::aws_error::describe;

/// Classifies an SDK error. `status` is the HTTP status, if a response arrived.
pub fn classify<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> PluginError
where
    E: ProvideErrorMetadata + ProvideErrorKind,
{
    from_fault(aws_error::classify(err, status))
}

/// The plugin failure an AWS fault is.
pub fn from_fault(fault: AwsFault) -> PluginError {
    match fault {
        AwsFault::Retryable { reason, .. } => PluginError::Unavailable { reason },
        AwsFault::BadCiphertext { code } => PluginError::BadCiphertext { code },
        AwsFault::KeyUnusable { code } | AwsFault::NotFound { code, .. } => {
            PluginError::KeyUnusable { code }
        }
        AwsFault::AccessDenied { code } => PluginError::AccessDenied { code },
        AwsFault::Construction => catalogue::request_not_built(),
        AwsFault::BadRequest { code } | AwsFault::Rejected { code } => {
            catalogue::kms_rejected(&code)
        }
    }
}

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
            let got = from_fault(aws_error::classify_code(code, status));
            assert_eq!(got.grpc_code(), want, "{code} {status:?}: {got}");
        }
    }
}
