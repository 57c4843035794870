//! Messages of the provider's start-up (configuration it refuses) and of its `seal` and
//! `check` commands; both exit non-zero with one line on stderr.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::{ExitCommand, ExitStart};

use super::Part;

keywarden_runtime::catalogue! {
    "Start-up and commands",
    "`keywarden-provider serve` checks its configuration before binding anything and exits \
     with code 2 and one line naming the problem (`kubectl logs --previous` shows it; run the \
     same arguments with `--check-config` to test a change). A failure while starting to serve, \
     and a failed `seal` or `check`, exit 1 with one line.";

    /// The flag only relaxes the provider's own writer.
    ExitStart fn non_tmpfs_needs_provider_mode() = "--allow-non-tmpfs applies only with --write-mode provider";
    /// A Mount needs time: give a duration such as `100s`.
    ExitStart fn zero_mount_timeout() = "--mount-timeout must be greater than 0";
    /// Zero would refuse every object.
    ExitStart fn zero_size_limit() = "--max-object-bytes and --max-response-bytes must be greater than 0";
    /// Raise `maxInflightBytes` (and the memory limit) or lower `maxResponseBytes`.
    ExitStart fn budget_below_response(budget: usize, response: usize) =
        "--max-inflight-bytes ({budget}) must be at least --max-response-bytes ({response}): a full response could never be served";
    /// Zero would refuse every Mount.
    ExitStart fn zero_concurrent_mounts() = "--max-concurrent-mounts must be at least 1";
    /// `--pod-identity-endpoints` and `--kubernetes-api` take URLs with a scheme.
    ExitStart fn not_http_url(url: &str) = "{url:?} is not an http:// or https:// URL";
    /// IRSA needs the audience of the tokens kubelet hands over (`sts.amazonaws.com`).
    ExitStart fn empty_token_audience() = "--token-audience must not be empty";
    /// Namespaces for node identity only make sense when it is allowed.
    ExitStart fn namespaces_need_node_identity() = "--node-identity-namespaces needs --allow-node-identity";
    /// The Kubernetes API client or the Pod Identity agent client could not be built (WHAT);
    /// the log line carries the reason, e.g. an unreadable CA bundle at
    /// `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`.
    ExitCommand fn setup_failed(what: &str) = "cannot set up the {what}";
    /// A WHAT of the entry above.
    Part fn kube_client() = "Kubernetes API client";
    /// A WHAT of the entry above.
    Part fn agent_client() = "Pod Identity agent client";
    /// The reason of the entry above: the service account CA bundle holds an unreadable or
    /// unusable certificate.
    Part fn bad_certificate(reason: impl Display) = "bad PEM certificate: {reason}";
    /// As for the entry above.
    Part fn unusable_certificate(reason: impl Display) = "unusable CA certificate: {reason}";
    /// Logged (not returned) when the Kubernetes API or the Pod Identity agent does not
    /// answer; the Mount fails with the `UNAVAILABLE` error of that lookup. URL is the
    /// endpoint, REASON the connection's error.
    Part fn http_unreachable(url: &str, reason: impl Display) = "{url}: {reason}";
    /// As for the entry above, while the answer's body was read.
    Part fn http_body_failed(url: &str, reason: impl Display) = "{url}: reading the body: {reason}";
    /// As for the entry above, when no answer came within the client's timeout
    /// (`--pod-identity-timeout` for the agent).
    Part fn http_timeout(url: &str, timeout: &std::time::Duration) = "{url}: no answer within {timeout:?}";
    /// The endpoint URL or a header could not be used (REASON from the HTTP library): check
    /// `--kubernetes-api` and `--pod-identity-endpoints`.
    Part fn http_bad_request(reason: impl Display) = "invalid request: {reason}";
    /// A `/readyz` reason (the probe calls `Version` on the provider's own socket, as the
    /// driver would): the socket refuses connections because its directory was removed or
    /// remounted underneath the pod (for example by reinstalling the driver with another
    /// `providersDir`). `/livez` fails too, and the restart recreates it.
    Part fn health_no_connect(socket: impl Display, reason: impl Display) = "cannot connect to {socket}: {reason}";
    /// A `/readyz` reason: the socket answered `Version` with an error: the server is shutting
    /// down, or another program holds the socket.
    Part fn health_version_failed(reason: &str) = "Version failed: {reason}";
    /// A `/readyz` reason: the socket did not answer in time: the provider is overloaded or
    /// stuck (the pod is taken out of service until it answers again).
    Part fn health_timeout(timeout: &std::time::Duration) = "socket did not answer within {timeout:?}";
    /// `seal --context` takes `key=value` pairs.
    Part fn not_a_pair(text: &str) = "{text:?} is not k=v";
    /// `seal --namespace` sets `keywarden.io/namespace`; a `--context` with another value for
    /// it contradicts it. Give one.
    ExitCommand fn namespace_conflict(namespace: &str, key: &str, other: &str) =
        "--namespace {namespace} conflicts with --context {key}={other}";
    /// KMS refused to make a data key under `--key` for the caller's credentials (REASON has
    /// AWS's error): check `kms:GenerateDataKey` on the key and the key's state.
    ExitCommand fn generate_data_key_failed(key: &str, reason: impl Display) = "GenerateDataKey under {key}: {reason}";
    /// The sealed object could not be uploaded (REASON has AWS's error): check `s3:PutObject`
    /// and, for SSE-KMS buckets, `kms:GenerateDataKey` on the bucket's key.
    ExitCommand fn upload_failed(out: &str, reason: impl Display) = "uploading to {out}: {reason}";
    /// `seal` refuses input larger than `--max-object-bytes` (default 1 MiB, as the provider's):
    /// a larger sealed object could never be mounted. Raise both together if the provider runs
    /// with a larger limit.
    ExitCommand fn plaintext_too_big(what: &str, limit: usize) =
        "{what} is larger than {limit} bytes (--max-object-bytes): the sealed object could never be mounted; shorten it, or raise --max-object-bytes here and in the provider";
    /// The plaintext fits, but with the sealed header it does not: shorten the plaintext or the
    /// encryption context, or raise `--max-object-bytes` here and in the provider.
    ExitCommand fn sealed_too_big(size: usize, limit: usize) =
        "the sealed object would be {size} bytes, over --max-object-bytes ({limit}): the provider could never mount it";
    /// `seal --out FILE` never truncates an existing file or writes through a symlink: pick a
    /// new name, or give `--force` to replace the file (a symlink is then replaced, not
    /// followed).
    ExitCommand fn out_exists(path: impl Display) =
        "{path} already exists (a file or a symlink); seal replaces it only with --force";
    /// `seal --out` with `--force` needs a file name to write beside and rename over.
    ExitCommand fn out_not_file(path: impl Display) = "{path} does not name a file";
    /// A file could not be read or written (the reason follows).
    Part fn reading(what: impl Display) = "reading {what}";
    /// As for the entry above.
    Part fn writing(what: impl Display) = "writing {what}";
    /// As for the entry above, for `check --out`.
    Part fn creating(what: impl Display) = "creating {what}";
    /// As for the entry above, for `check --out`.
    Part fn resolving(what: impl Display) = "resolving {what}";
    /// `check` reads SecretProviderClass manifests of the CSI driver's API.
    ExitCommand fn wrong_api_version(version_q: &str) =
        "apiVersion {version_q} is not secrets-store.csi.x-k8s.io/v1";
    /// The manifest is for another provider.
    ExitCommand fn wrong_provider(provider_q: &str) = "spec.provider is {provider_q}; it must be \"keywarden\"";
    /// As in the cluster, every parameter is a string: quote it.
    ExitCommand fn parameter_not_string(key: &str) = "spec.parameters.{key} must be a string (quote it in YAML)";
    /// The file is not YAML, or uses YAML `check` does not read (REASON says which, with the
    /// line): anchors, aliases and tags are refused, as in `objects`, because they let a small
    /// file expand into gigabytes; write the values out. Depth and node count are bounded
    /// (`MAX_MANIFEST_DEPTH`, `MAX_MANIFEST_NODES`).
    ExitCommand fn manifest_yaml(reason: String) = "the manifest's YAML is refused: {reason}";
    /// `check` reads one manifest file of at most `MAX_MANIFEST_BYTES` (4 MiB); split a larger
    /// file and check the file that holds the SecretProviderClass.
    ExitCommand fn manifest_too_big(path: impl Display, limit: usize) =
        "{path} is larger than {limit} bytes (MAX_MANIFEST_BYTES): split it and check the file that holds the SecretProviderClass";
    /// The SecretProviderClass lacks `spec.provider` or `spec.parameters`, or has the wrong
    /// types.
    Part fn manifest_shape() = "the SecretProviderClass does not have the expected shape";
    /// The file holds no document of kind SecretProviderClass.
    ExitCommand fn no_spc(kinds: &str) = "no SecretProviderClass in the file (found kinds: {kinds})";
    /// `check --out` writes with the provider's writer: the directory's problem follows (see
    /// "Writing the files").
    ExitCommand fn out_refused(reason: impl Display) = "--out: {reason}";
}
