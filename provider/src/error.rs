//! Everything that can fail a Mount, with the gRPC code and metric label each failure carries.
//!
//! Messages are short and safe to show in a pod's events: they name the object and the rule,
//! never a secret, a token or an AWS error body. Full error chains go to the logs only.

use tonic::Code;

use crate::catalogue::{self, Message};

/// Why a Mount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The request or the SecretProviderClass parameters are malformed or break a rule.
    #[error("{0}")]
    InvalidArgument(Message),
    /// The identity asked for is not allowed for this pod.
    #[error("{0}")]
    IdentityForbidden(Message),
    /// Something outside the request must be fixed first (missing token, role, region, …).
    #[error("{0}")]
    Precondition(Message),
    /// An object, bucket or version does not exist.
    #[error("{}", catalogue::not_found(.object, .what))]
    NotFound {
        /// The object as written in the SecretProviderClass.
        object: String,
        /// What is missing: "object", "bucket", "version".
        what: String,
    },
    /// AWS refused the call for the identity used.
    #[error("{}", catalogue::access_denied(.object, .code))]
    AccessDenied {
        /// The object.
        object: String,
        /// The AWS error code.
        code: String,
    },
    /// An object or the whole response exceeds a configured limit.
    #[error("{0}")]
    TooLarge(Message),
    /// Too many Mounts are in flight; the driver should retry later.
    #[error("{}", catalogue::busy(.0))]
    Busy(usize),
    /// The node's budget for secret bytes held by in-flight Mounts is spent; the driver should
    /// retry later.
    #[error("{}", catalogue::over_budget(.what, .bytes, .budget))]
    OverBudget {
        /// What needed the bytes.
        what: String,
        /// How many.
        bytes: usize,
        /// The node's whole budget.
        budget: usize,
    },
    /// A transient AWS fault: throttling, 5xx, timeout, connection failure.
    #[error("{}", catalogue::transient(.object, .reason))]
    Transient {
        /// The object.
        object: String,
        /// Short reason: the error code or "timeout" / "connection failed".
        reason: String,
    },
    /// The Mount did not finish within `--mount-timeout`.
    #[error("{}", catalogue::deadline(.0))]
    Deadline(std::time::Duration),
    /// The provider could not write the Mount's files into the target path
    /// (`--write-mode provider`); the previous files stay.
    #[error("{}", catalogue::cannot_write(.0))]
    Write(#[from] crate::writer::WriteError),
    /// AWS rejected the request in a way that is not transient and has no better code.
    #[error("{}", catalogue::rejected(.object, .code))]
    Rejected {
        /// The object.
        object: String,
        /// The AWS error code.
        code: String,
    },
}

impl MountError {
    /// The gRPC status code for this failure (docs/reference.md §2.8).
    pub fn grpc_code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::IdentityForbidden(_) | Self::AccessDenied { .. } => Code::PermissionDenied,
            Self::Precondition(_) | Self::Write(_) => Code::FailedPrecondition,
            Self::NotFound { .. } => Code::NotFound,
            Self::TooLarge(_) | Self::Busy(_) | Self::OverBudget { .. } => Code::ResourceExhausted,
            Self::Transient { .. } => Code::Unavailable,
            Self::Deadline(_) => Code::DeadlineExceeded,
            Self::Rejected { .. } => Code::Internal,
        }
    }

    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid_argument",
            Self::IdentityForbidden(_) => "identity_forbidden",
            Self::Precondition(_) | Self::Write(_) => "failed_precondition",
            Self::NotFound { .. } => "not_found",
            Self::AccessDenied { .. } => "access_denied",
            Self::TooLarge(_) => "too_large",
            Self::Busy(_) => "busy",
            Self::OverBudget { .. } => "over_budget",
            Self::Transient { .. } => "unavailable",
            Self::Deadline(_) => "deadline_exceeded",
            Self::Rejected { .. } => "rejected",
        }
    }
}

impl From<MountError> for tonic::Status {
    fn from(err: MountError) -> Self {
        tonic::Status::new(err.grpc_code(), err.to_string())
    }
}
