//! Messages about Mounts from the Secrets Store sync controller, served by a Keywarden sidecar
//! started with `--sync-controller` (docs/sync-controller.md), and about the SecretSyncs
//! `check` reads beside a class.

use super::{IdentityForbidden, Precondition};
use keywarden_runtime::catalogue::codes::{ExitCommand, ExitStart};

keywarden_runtime::catalogue! {
    "The sync controller",
    "A sidecar started with `--sync-controller` serves only the controller's Mounts (target \
     path `/mnt/secrets-store`, no `secretProviderClass`); the node's provider serves only the \
     driver's.";

    /// A SecretSync's Mount, and the sync controller sends no token for the audience Keywarden
    /// needs (its chart's `tokenRequestAudience` is empty or names another audience; it sends
    /// exactly one). Set it as
    /// [sync-controller-values.yaml](../charts/keywarden/examples/sync-controller-values.yaml)
    /// does.
    Precondition fn no_token_sync(audience: &str) =
        "no service account token for audience {audience:?} in the request: set tokenRequestAudience of the Secrets Store sync controller to [{{audience: {audience}}}] (its flag --token-request-audience)";
    /// The sync controller reached a provider started without `--sync-controller` (the node's
    /// DaemonSet socket directory mounted into the controller, or the sidecar's flag missing).
    /// Run Keywarden as the controller's sidecar as in the example values.
    Precondition fn controller_on_driver_socket(target: &str) =
        "the request is the Secrets Store sync controller's (target_path {target}, no secretProviderClass), and this provider serves the CSI driver: run the controller's Keywarden sidecar with --sync-controller";
    /// Either the CSI driver reached the sidecar's socket (the driver's `providersDir` or
    /// `additionalProvidersDirs` names the controller's socket directory: give them different
    /// directories), or the SecretProviderClass used by a SecretSync has a parameter
    /// `secretProviderClass` or `csi.storage.k8s.io/ephemeral`: remove it.
    Precondition fn driver_on_sync_socket(target: &str) =
        "this provider serves only the Secrets Store sync controller (--sync-controller), and the request is not its (the controller sends target_path {target} and no secretProviderClass or csi.storage.k8s.io/ephemeral)";
    /// The token the controller sent is not for the SecretSync's namespace and
    /// `serviceAccountName`. The controller mints it for exactly those, so this means a
    /// mixed-up or foreign client on the sidecar's socket; nothing was fetched.
    IdentityForbidden fn token_subject_mismatch(subject_q: &str, namespace: &str, name: &str) =
        "the token is for {subject_q}, not for ServiceAccount {namespace}/{name} named in the request";
    /// As above: the controller sent something that is not a Kubernetes ServiceAccount token.
    IdentityForbidden fn token_not_jwt(namespace: &str, name: &str) =
        "the token for ServiceAccount {namespace}/{name} is not a JWT with a subject";
    /// A request of the sync controller's shape without `csi.storage.k8s.io/pod.namespace` or
    /// `serviceAccount.name`; the controller always sends both (the SecretSync's), so the
    /// client is not the controller.
    IdentityForbidden fn sync_request_unnamed() =
        "the sync controller's request names no namespace or ServiceAccount";
    /// The sidecar was given `--write-mode provider`; drop it: the controller reads the files
    /// from the response.
    ExitStart fn sync_needs_driver_mode() =
        "--sync-controller needs --write-mode driver: the sync controller reads the files from the response";
    /// `check`: the API server would refuse the SecretSync: the value has a directory
    /// (`db/password`), starts with `-` or `_`, or breaks the CRD's pattern. Give the file an
    /// `objectAlias` that fits (`db-password`) and name that. FIELD is `sourcePath` or
    /// `targetKey`.
    ExitCommand fn source_path_refused(namespace: &str, name: &str, field: &str, value_q: &str, limit: usize) =
        "SecretSync {namespace}/{name}: {field} {value_q} is refused by the sync controller's CRD (no directory but /<digits>, at most {limit} characters; see docs/sync-controller.md)";
    /// `check`: the controller would find no such file in the response and fail the sync.
    /// Name one of the listed files (aliases, jmesPath aliases), exactly.
    ExitCommand fn source_path_unknown(namespace: &str, name: &str, path_q: &str, spc: &str, files: String) =
        "SecretSync {namespace}/{name}: sourcePath {path_q} is not a file of SecretProviderClass {spc} (its files: {files})";
    /// `check`: a SecretSync in the file lacks `spec.secretProviderClassName` or has
    /// `sourcePath`/`targetKey` entries that are not strings.
    ExitCommand fn secret_sync_shape(reason: impl std::fmt::Display) =
        "a SecretSync does not have the expected shape: {reason}";
}
