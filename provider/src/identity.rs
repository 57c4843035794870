//! Who the AWS calls of a Mount run as, and who may ask for what (SPEC §2.5).
//!
//! Node identity (the provider's own credentials) lets any pod read whatever the node can, so
//! it is off unless the operator turns it on, optionally only for listed namespaces. There is
//! never a fallback from one identity to another: a pod gets the identity it asked for or an
//! error.

use std::collections::BTreeSet;

use crate::error::MountError;
use crate::params::{IdentityKind, MountParams};

/// The identity a Mount's AWS calls run as, once allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The provider's own credential chain.
    Node,
}

impl Identity {
    /// Who this is, for cache keys: plaintext fetched by one identity is never served to another.
    pub fn cache_key(&self) -> String {
        match self {
            Self::Node => "node".to_owned(),
        }
    }
}

/// The operator's rules for identities (`--allow-node-identity`, `--node-identity-namespaces`).
#[derive(Debug, Clone, Default)]
pub struct IdentityPolicy {
    /// `--allow-node-identity`.
    pub allow_node: bool,
    /// `--node-identity-namespaces`; empty means every namespace (when allowed).
    pub node_namespaces: BTreeSet<String>,
}

impl IdentityPolicy {
    /// Decides the identity for a Mount, or why it is refused.
    pub fn resolve(&self, params: &MountParams) -> Result<Identity, MountError> {
        match params.identity {
            IdentityKind::Node => self.node(params),
            kind @ (IdentityKind::Irsa | IdentityKind::PodIdentity) => {
                Err(MountError::Precondition(format!(
                    "identity {} is not available in this provider version; \
                 set identity: node in the SecretProviderClass and start the provider with --allow-node-identity",
                    kind.as_str()
                )))
            }
        }
    }

    fn node(&self, params: &MountParams) -> Result<Identity, MountError> {
        if !self.allow_node {
            return Err(MountError::IdentityForbidden(
                "identity node is disabled: the provider runs without --allow-node-identity".into(),
            ));
        }
        if self.node_namespaces.is_empty() {
            return Ok(Identity::Node);
        }
        match params.pod.namespace.as_deref() {
            Some(ns) if self.node_namespaces.contains(ns) => Ok(Identity::Node),
            Some(ns) => Err(MountError::IdentityForbidden(format!(
                "identity node is not allowed for namespace {ns:?} (see --node-identity-namespaces)"
            ))),
            None => Err(MountError::IdentityForbidden(
                "identity node is limited to listed namespaces, and the request names no pod namespace".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::PodInfo;
    use tonic::Code;

    fn params(kind: IdentityKind, ns: Option<&str>) -> MountParams {
        MountParams {
            objects: vec![],
            region: None,
            identity: kind,
            role_arn: None,
            pod: PodInfo {
                namespace: ns.map(str::to_owned),
                ..PodInfo::default()
            },
            tokens: None,
            target_path: String::new(),
        }
    }

    #[test]
    fn node_identity_is_opt_in() {
        let off = IdentityPolicy::default();
        let err = off
            .resolve(&params(IdentityKind::Node, Some("a")))
            .expect_err("off");
        assert_eq!(err.grpc_code(), Code::PermissionDenied);
        assert!(err.to_string().contains("--allow-node-identity"));

        let on = IdentityPolicy {
            allow_node: true,
            ..IdentityPolicy::default()
        };
        assert_eq!(
            on.resolve(&params(IdentityKind::Node, Some("a")))
                .expect("on"),
            Identity::Node
        );
    }

    #[test]
    fn node_identity_namespace_list() {
        let policy = IdentityPolicy {
            allow_node: true,
            node_namespaces: ["team-a".to_owned()].into(),
        };
        assert!(
            policy
                .resolve(&params(IdentityKind::Node, Some("team-a")))
                .is_ok()
        );
        let err = policy
            .resolve(&params(IdentityKind::Node, Some("team-b")))
            .expect_err("b");
        assert!(err.to_string().contains("\"team-b\""), "{err}");
        assert_eq!(err.grpc_code(), Code::PermissionDenied);
        assert!(policy.resolve(&params(IdentityKind::Node, None)).is_err());
    }

    #[test]
    fn pod_identities_never_fall_back_to_node() {
        let policy = IdentityPolicy {
            allow_node: true,
            ..IdentityPolicy::default()
        };
        for kind in [IdentityKind::Irsa, IdentityKind::PodIdentity] {
            let err = policy
                .resolve(&params(kind, Some("a")))
                .expect_err("unavailable");
            assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        }
    }
}
