//! Everything that can fail an Encrypt or Decrypt, with the gRPC code and metric label each
//! failure carries.
//!
//! kube-apiserver records every plugin call by gRPC status code; a plain error would show up
//! as `Unknown`. Messages are short and never contain key material, plaintext, ciphertext or an
//! AWS error body; full error chains go to the logs only.

use tonic::Code;

use crate::catalogue::{self, Message};

/// Why a request to the plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The request breaks a rule of the protocol (size, format, annotations).
    #[error("{0}")]
    InvalidArgument(Message),
    /// The ciphertext is not one this key and context can decrypt (tampered, truncated, or
    /// written under another key).
    #[error("{}", catalogue::bad_ciphertext(.code))]
    BadCiphertext {
        /// The AWS error code.
        code: String,
    },
    /// The request names a key this plugin is not allowed to decrypt with.
    #[error("{}", catalogue::key_not_allowed(&keywarden_runtime::catalogue::quote(.key_id)))]
    KeyNotAllowed {
        /// The key the request named.
        key_id: String,
    },
    /// The encryption context recorded with the data does not contain the configured one and
    /// is not on the allow-list of older contexts.
    #[error("{}", catalogue::context_not_allowed(format_args!("{:?}", .keys)))]
    ContextNotAllowed {
        /// The configured context keys the recorded one lacks or changes.
        keys: String,
    },
    /// The plugin has not resolved its key yet.
    #[error("{}", catalogue::not_ready(.0))]
    NotReady(String),
    /// AWS KMS is unreachable, throttling or failing on its side.
    #[error("{}", catalogue::unavailable(.reason))]
    Unavailable {
        /// Short reason: the error code or "timeout" / "connection failed".
        reason: String,
    },
    /// The key cannot be used now: disabled, pending deletion, missing, or the wrong kind.
    #[error("{}", catalogue::key_unusable(.code))]
    KeyUnusable {
        /// The AWS error code or the key state.
        code: String,
    },
    /// AWS refused the call for the plugin's identity.
    #[error("{}", catalogue::access_denied(.code))]
    AccessDenied {
        /// The AWS error code.
        code: String,
    },
    /// AWS rejected the request in a way that has no better code, or KMS answered with
    /// something the protocol cannot carry.
    #[error("{0}")]
    Internal(Message),
}

impl PluginError {
    /// The gRPC status code for this failure (docs/reference.md §3.2).
    pub fn grpc_code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) | Self::BadCiphertext { .. } => Code::InvalidArgument,
            Self::KeyNotAllowed { .. }
            | Self::ContextNotAllowed { .. }
            | Self::AccessDenied { .. } => Code::PermissionDenied,
            Self::NotReady(_) | Self::Unavailable { .. } => Code::Unavailable,
            Self::KeyUnusable { .. } => Code::FailedPrecondition,
            Self::Internal(_) => Code::Internal,
        }
    }

    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::InvalidArgument(_) => "invalid_argument",
            Self::BadCiphertext { .. } => "bad_ciphertext",
            Self::KeyNotAllowed { .. } => "key_not_allowed",
            Self::ContextNotAllowed { .. } => "context_not_allowed",
            Self::NotReady(_) => "not_ready",
            Self::Unavailable { .. } => "unavailable",
            Self::KeyUnusable { .. } => "key_unusable",
            Self::AccessDenied { .. } => "access_denied",
            Self::Internal(_) => "internal",
        }
    }

    /// Whether this failure says something about the health of KMS or of the key, as opposed
    /// to a problem with one request's input.
    pub fn is_health_evidence(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::KeyUnusable { .. }
                | Self::AccessDenied { .. }
                | Self::Internal(_)
        )
    }
}

impl From<PluginError> for tonic::Status {
    fn from(err: PluginError) -> Self {
        tonic::Status::new(err.grpc_code(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_failure_is_unknown() {
        let all = [
            catalogue::key_id_empty(),
            PluginError::BadCiphertext { code: "c".into() },
            PluginError::KeyNotAllowed { key_id: "k".into() },
            PluginError::ContextNotAllowed { keys: "k".into() },
            PluginError::NotReady("r".into()),
            PluginError::Unavailable { reason: "r".into() },
            PluginError::KeyUnusable { code: "c".into() },
            PluginError::AccessDenied { code: "c".into() },
            catalogue::request_not_built(),
        ];
        for err in all {
            let status = tonic::Status::from(err.clone());
            assert_ne!(status.code(), Code::Unknown, "{err}");
            assert_eq!(status.code(), err.grpc_code());
            assert!(!err.label().is_empty());
        }
    }
}
