//! Messages about whose AWS identity a Mount runs as: the pod's tokens, its IAM role, the EKS
//! Pod Identity agent, node identity and the region.

use std::fmt::Display;

use super::{IdentityForbidden, InvalidArgument, Part, Precondition};

keywarden_runtime::catalogue! {
    "Identity, tokens and roles",
    "The Mount's parameters are fine, but the AWS identity it runs as cannot be had.";

    /// The SecretProviderClass says `identity: node`; use `irsa` or `podIdentity`, or have the
    /// cluster operator set `identity.allowNodeIdentity: true` (read
    /// [security-model.md](security-model.md) first).
    IdentityForbidden fn node_identity_disabled() =
        "identity node is disabled: the provider runs without --allow-node-identity";
    /// Node identity is limited to other namespaces: `identity.nodeIdentityNamespaces`.
    IdentityForbidden fn node_identity_namespace(namespace: &str) =
        "identity node is not allowed for namespace {namespace:?} (see --node-identity-namespaces)";
    /// The driver sent no pod namespace (driver without `podInfoOnMount`, or a non-standard
    /// client).
    IdentityForbidden fn node_identity_no_namespace() =
        "identity node is limited to listed namespaces, and the request names no pod namespace";
    /// The driver was installed without `tokenRequests` for that audience (`sts.amazonaws.com`
    /// for IRSA, `pods.eks.amazonaws.com` for Pod Identity, or the `--token-audience` set).
    /// Upgrade the driver with
    /// [csi-driver-values.yaml](../charts/keywarden/examples/csi-driver-values.yaml), then
    /// re-create the pod.
    Precondition fn no_token(audience: &str) =
        "no service account token for audience {audience:?} in the request: add {{audience: {audience}}} to tokenRequests of the CSIDriver secrets-store.csi.k8s.io";
    /// `csi.storage.k8s.io/serviceAccount.tokens` is not a JSON object of
    /// `{"token", "expirationTimestamp"}` per audience: a non-standard client, or a
    /// SecretProviderClass parameter of that name.
    InvalidArgument fn tokens_not_json() =
        "csi.storage.k8s.io/serviceAccount.tokens is not the JSON kubelet sends";
    /// The token's `expirationTimestamp` is not an RFC 3339 time: a non-standard client.
    InvalidArgument fn token_expiry_unreadable(audience: &str) =
        "the token for audience {audience:?} has an unreadable expirationTimestamp";
    /// Kubelet handed over an expired token: the node's clock is wrong, or `requiresRepublish`
    /// is off so tokens are not refreshed (enable rotation in the driver chart).
    Precondition fn token_expired(audience: &str, at: impl Display) =
        "the service account token for audience {audience:?} expired at {at}";
    /// The driver sent no ServiceAccount name (`podInfoOnMount` off, or a non-standard
    /// client): set `roleArn`.
    Precondition fn no_service_account() =
        "no IAM role: set roleArn in the SecretProviderClass (the request names no ServiceAccount)";
    /// The provider has no Kubernetes API access: it runs outside a cluster without
    /// `--kubernetes-api`, or the chart's `identity.serviceAccountLookup` is `false` (no API
    /// token is mounted, so the provider does not try the API). Set `roleArn`, or turn the
    /// lookup on.
    Precondition fn no_kubernetes_api(annotation: &str, namespace: &str, name: &str) =
        "no IAM role: set roleArn in the SecretProviderClass; the provider has no Kubernetes API access to read the {annotation} annotation of ServiceAccount {namespace}/{name}";
    /// Neither `roleArn` nor the annotation exists. Add one.
    Precondition fn no_role(namespace: &str, name: &str, annotation: &str) =
        "no IAM role: set roleArn in the SecretProviderClass or annotate ServiceAccount {namespace}/{name} with {annotation}";
    /// The pod's ServiceAccount was deleted after the pod started.
    Precondition fn service_account_missing(namespace: &str, name: &str) =
        "ServiceAccount {namespace}/{name} not found";
    /// The API token is mounted but its role may not `get serviceaccounts` (the chart's
    /// `rbac.create: false` without an equivalent ClusterRole). Grant it, or set `roleArn`.
    Precondition fn service_account_forbidden(namespace: &str, name: &str, status: u16) =
        "the provider may not read ServiceAccount {namespace}/{name} (HTTP {status}): grant it get serviceaccounts, or set roleArn in the SecretProviderClass";
    /// The OBJECT of an `UNAVAILABLE` error while the Kubernetes API was asked for the
    /// ServiceAccount's role annotation (REASON: `Kubernetes API unreachable`, or `Kubernetes
    /// API answered HTTP N`): check the provider's network path to the API server.
    Part fn service_account_object(namespace: &str, name: &str) = "ServiceAccount {namespace}/{name}";
    /// REASON of the entry above.
    Part fn kube_unreachable() = "Kubernetes API unreachable";
    /// REASON of the entry above.
    Part fn kube_status(status: u16) = "Kubernetes API answered HTTP {status}";
    /// The cluster's OIDC issuer is not an IAM identity provider in the role's account, or the
    /// token's audience is not the one the provider was told (`--token-audience`), or the
    /// token expired.
    Precondition fn sts_refused_token(label: &str, code: &str) =
        "STS refused the pod's token for {label} ({code}): check the IAM OIDC provider and --token-audience";
    /// The OBJECT of errors about assuming the role (for example `role ARN: access denied by AWS
    /// (AccessDenied)`: the role's trust policy does not name the cluster's OIDC provider, or
    /// its `sub`/`aud` conditions do not match `system:serviceaccount:NS:SA` /
    /// `sts.amazonaws.com`).
    Part fn role_object(role: &str) = "role {role}";
    /// REASON of an `UNAVAILABLE` error: STS answered without credentials, which a working STS
    /// never does; the driver retries.
    Part fn sts_no_credentials() = "STS returned no credentials";
    /// No pod identity association for the pod's namespace and ServiceAccount, or the token's
    /// audience is wrong.
    IdentityForbidden fn agent_refused(status: u16) =
        "the EKS Pod Identity agent refused the pod (HTTP {status}): check the pod identity association";
    /// The OBJECT of an `UNAVAILABLE` error from the EKS Pod Identity agent (REASON:
    /// `unreachable`, `HTTP N`, `unreadable credentials`): the agent's DaemonSet
    /// (`eks-pod-identity-agent`) is not running on the node, or the add-on is not installed.
    Part fn agent_object() = "EKS Pod Identity agent";
    /// REASON of the entry above.
    Part fn agent_unreachable() = "unreachable";
    /// REASON of the entry above.
    Part fn agent_status(status: u16) = "HTTP {status}";
    /// REASON of the entry above.
    Part fn agent_unreadable() = "unreadable credentials";
    /// Neither the SecretProviderClass `region` nor the chart's `region` is set.
    Precondition fn no_region() =
        "no AWS region: set region in the SecretProviderClass or start the provider with --region";
}
