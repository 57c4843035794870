//! Who the AWS calls of a Mount run as, and who may ask for what (docs/reference.md §2.5).
//!
//! Node identity (the provider's own credentials) lets any pod read whatever the node can, so
//! it is off unless the operator turns it on, optionally only for listed namespaces. There is
//! never a fallback from one identity to another: a pod gets the identity it asked for or an
//! error.

use std::collections::BTreeSet;

use aws_credential_types::Credentials;

use crate::catalogue;
use crate::credentials::{CredentialCache, StsClients};
use crate::error::MountError;
use crate::kube_api::{KubeApi, ROLE_ANNOTATION};
use crate::params::{Caller, IdentityKind, MountParams};
use crate::pod_tokens;

/// Audience of the token the EKS Pod Identity agent accepts.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// The operator's rules for identities (`--allow-node-identity`, `--node-identity-namespaces`).
#[derive(Debug, Clone, Default)]
pub struct IdentityPolicy {
    /// `--allow-node-identity`.
    pub allow_node: bool,
    /// `--node-identity-namespaces`; empty means every namespace (when allowed).
    pub node_namespaces: BTreeSet<String>,
}

impl IdentityPolicy {
    /// Decides whether a Mount asking for node identity may have it.
    pub fn allow_node(&self, params: &MountParams) -> Result<(), MountError> {
        if !self.allow_node {
            return Err(catalogue::node_identity_disabled());
        }
        if self.node_namespaces.is_empty() {
            return Ok(());
        }
        match params.pod.namespace.as_deref() {
            Some(ns) if self.node_namespaces.contains(ns) => Ok(()),
            Some(ns) => Err(catalogue::node_identity_namespace(ns)),
            None => Err(catalogue::node_identity_no_namespace()),
        }
    }
}

/// An identity ready for use: who it is (for cache keys) and its credentials (`None`: the
/// provider's own chain).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// `node`, `role:<arn>` or `pod-identity:<namespace>/<service account>`.
    pub key: String,
    /// Credentials to sign with.
    pub credentials: Option<Credentials>,
}

/// Turns a Mount's identity parameters into credentials. No fallback between identities.
#[derive(Debug)]
pub struct IdentityResolver {
    policy: IdentityPolicy,
    token_audience: String,
    kube: Option<KubeApi>,
    credentials: CredentialCache,
}

impl IdentityResolver {
    /// A resolver under `policy`, exchanging tokens for `token_audience` (IRSA).
    pub fn new(
        policy: IdentityPolicy,
        token_audience: String,
        kube: Option<KubeApi>,
        credentials: CredentialCache,
    ) -> Self {
        Self {
            policy,
            token_audience,
            kube,
            credentials,
        }
    }

    /// Resolves the identity of a Mount; `sts` is used for IRSA.
    pub async fn resolve(
        &self,
        params: &MountParams,
        sts: StsClients<'_>,
    ) -> Result<Resolved, MountError> {
        match params.identity {
            IdentityKind::Node => {
                self.policy.allow_node(params)?;
                Ok(Resolved {
                    key: "node".into(),
                    credentials: None,
                })
            }
            IdentityKind::Irsa => {
                let token = pod_tokens::for_audience(
                    params.tokens.as_ref(),
                    &self.token_audience,
                    params.caller,
                )?;
                controller_token_matches(params, &token)?;
                let role = match &params.role_arn {
                    Some(role) => role.clone(),
                    None => self.role_from_service_account(params).await?,
                };
                let session = session_name(params);
                let credentials = self
                    .credentials
                    .assume_role(sts, &role, &token, &session)
                    .await?;
                Ok(Resolved {
                    key: format!("role:{role}"),
                    credentials: Some(credentials),
                })
            }
            IdentityKind::PodIdentity => {
                let token = pod_tokens::for_audience(
                    params.tokens.as_ref(),
                    POD_IDENTITY_AUDIENCE,
                    params.caller,
                )?;
                controller_token_matches(params, &token)?;
                let credentials = self.credentials.pod_identity(&token).await?;
                let (ns, sa) = (
                    params.pod.namespace.as_deref().unwrap_or_default(),
                    params.pod.service_account.as_deref().unwrap_or_default(),
                );
                Ok(Resolved {
                    key: format!("pod-identity:{ns}/{sa}"),
                    credentials: Some(credentials),
                })
            }
        }
    }

    async fn role_from_service_account(&self, params: &MountParams) -> Result<String, MountError> {
        let (Some(ns), Some(sa)) = (
            params.pod.namespace.as_deref(),
            params.pod.service_account.as_deref(),
        ) else {
            return Err(catalogue::no_service_account());
        };
        let Some(kube) = &self.kube else {
            return Err(catalogue::no_kubernetes_api(ROLE_ANNOTATION, ns, sa));
        };
        kube.role_of(ns, sa)
            .await?
            .ok_or_else(|| catalogue::no_role(ns, sa, ROLE_ANNOTATION))
    }
}

/// The sync controller names the namespace and ServiceAccount itself and proves them only with
/// the token (bound to no pod): the token's subject must be that account, so the namespace
/// Keywarden's own checks use (sealed objects, node identity) is the one AWS verifies. The
/// driver's tokens are kubelet's, for the pod kubelet names.
fn controller_token_matches(
    params: &MountParams,
    token: &pod_tokens::PodToken,
) -> Result<(), MountError> {
    if params.caller != Caller::SyncController {
        return Ok(());
    }
    let (Some(ns), Some(sa)) = (
        params.pod.namespace.as_deref(),
        params.pod.service_account.as_deref(),
    ) else {
        return Err(catalogue::sync_request_unnamed());
    };
    token.check_subject(ns, sa)
}

/// `keywarden-<namespace>-<pod>` for the driver; `keywarden-sync-<namespace>-<service account>`
/// for the sync controller, whose request names the controller's own pod, not a pod of the
/// namespace. Limited to what STS accepts (64 of `[\w+=,.@-]`).
pub fn session_name(params: &MountParams) -> String {
    let namespace = params.pod.namespace.as_deref().unwrap_or("unknown");
    let raw = match params.caller {
        Caller::Driver => format!(
            "keywarden-{namespace}-{}",
            params.pod.name.as_deref().unwrap_or("pod")
        ),
        Caller::SyncController => format!(
            "keywarden-sync-{namespace}-{}",
            params.pod.service_account.as_deref().unwrap_or("default")
        ),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::PodInfo;
    use tonic::Code;

    fn params(kind: IdentityKind, ns: Option<&str>) -> MountParams {
        MountParams {
            objects: std::sync::Arc::from([]),
            region: None,
            failover_region: None,
            identity: kind,
            role_arn: None,
            pod: PodInfo {
                namespace: ns.map(str::to_owned),
                ..PodInfo::default()
            },
            tokens: None,
            target_path: String::new(),
            caller: Caller::Driver,
        }
    }

    #[test]
    fn node_identity_is_opt_in() {
        let off = IdentityPolicy::default();
        let err = off
            .allow_node(&params(IdentityKind::Node, Some("a")))
            .expect_err("off");
        assert_eq!(err.grpc_code(), Code::PermissionDenied);
        assert!(err.to_string().contains("--allow-node-identity"));

        let on = IdentityPolicy {
            allow_node: true,
            ..IdentityPolicy::default()
        };
        on.allow_node(&params(IdentityKind::Node, Some("a")))
            .expect("on");
    }

    #[test]
    fn node_identity_namespace_list() {
        let policy = IdentityPolicy {
            allow_node: true,
            node_namespaces: ["team-a".to_owned()].into(),
        };
        assert!(
            policy
                .allow_node(&params(IdentityKind::Node, Some("team-a")))
                .is_ok()
        );
        let err = policy
            .allow_node(&params(IdentityKind::Node, Some("team-b")))
            .expect_err("b");
        assert!(err.to_string().contains("\"team-b\""), "{err}");
        assert_eq!(err.grpc_code(), Code::PermissionDenied);
        assert!(
            policy
                .allow_node(&params(IdentityKind::Node, None))
                .is_err()
        );
    }

    #[tokio::test]
    async fn pod_identities_never_fall_back_to_node() {
        // Node identity is allowed, but a pod asking for IRSA or Pod Identity without a token
        // gets an error, not the node's credentials.
        let policy = IdentityPolicy {
            allow_node: true,
            ..IdentityPolicy::default()
        };
        let metrics = crate::metrics::Metrics::register(&mut Default::default());
        let http = crate::http_client::HttpClient::new(
            rustls::RootCertStore::empty(),
            std::time::Duration::from_secs(1),
        )
        .expect("client");
        let credentials = CredentialCache::new(http, vec![], metrics);
        let resolver = IdentityResolver::new(policy, "sts.amazonaws.com".into(), None, credentials);
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new("us-east-1"))
                .build(),
        );
        for kind in [IdentityKind::Irsa, IdentityKind::PodIdentity] {
            let err = resolver
                .resolve(
                    &params(kind, Some("a")),
                    StsClients {
                        client: &sts,
                        failover: None,
                    },
                )
                .await
                .expect_err("no token");
            assert_eq!(err.grpc_code(), Code::FailedPrecondition);
            assert!(err.to_string().contains("tokenRequests"), "{err}");
        }
    }

    #[test]
    fn session_names_fit_sts_rules() {
        let mut p = params(IdentityKind::Irsa, Some("team-a"));
        p.pod.name = Some("web/0:x".repeat(20));
        let name = session_name(&p);
        assert!(name.len() <= 64);
        assert!(name.starts_with("keywarden-team-a-web-0-x"), "{name}");
    }

    #[test]
    fn the_sync_controllers_session_is_named_after_the_service_account() {
        let mut p = params(IdentityKind::Irsa, Some("team-a"));
        p.caller = Caller::SyncController;
        p.pod.name = Some("secrets-store-sync-controller-manager-0".into());
        p.pod.service_account = Some("app".into());
        assert_eq!(session_name(&p), "keywarden-sync-team-a-app");
    }
}
