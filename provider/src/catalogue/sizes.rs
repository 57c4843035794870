//! Messages about size and load: object and response limits, the node's in-flight budget, the
//! number of concurrent Mounts and the Mount deadline.

use keywarden_runtime::catalogue::codes::{DeadlineExceededText, ResourceExhaustedText};

use super::{Part, TooLarge};

keywarden_runtime::catalogue! {
    "Sizes, load and time",
    "The Mount asks for more than the provider's limits allow, or the node is busy.";

    /// Raise `maxObjectBytes`, or split the object. Secrets of megabytes usually mean a wrong
    /// object. SIZE is `more than MAX` when S3 sends no length.
    TooLarge fn object_too_large(label: &str, size: String, limit: usize) =
        "{label}: object is {size} bytes, over the limit of {limit} (--max-object-bytes)";
    /// SIZE of the entry above.
    Part fn more_than(limit: usize) = "more than {limit}";
    /// The whole Mount must fit in the driver's gRPC message (4 MiB default,
    /// `maxCallRecvMsgSize`); split the volume into two SecretProviderClasses.
    TooLarge fn response_too_large(files: usize, size: usize, limit: usize) =
        "the mount's {files} files total {size} bytes, over the limit of {limit} (--max-response-bytes)";
    /// Counted as the files are produced, aliases and jmesPath fields included (an
    /// `objectEncoding` file counts its decoded size): the Mount stops at the first file over
    /// the limit. Split the volume.
    TooLarge fn files_too_large(owner: &str, total: usize, limit: usize) =
        "{owner}: the mount's files reach {total} bytes, over the limit of {limit} (--max-response-bytes)";
    /// One Mount alone needs more than the whole budget, e.g. a jmesPath over a JSON document
    /// with very many values (each parsed value is charged 256 bytes, each object 768 more). It can never succeed:
    /// shrink the object or raise the budget.
    TooLarge fn over_whole_budget(what: &str, bytes: usize, budget: usize) =
        "{what}: needs {bytes} bytes, more than the node's whole budget of {budget} (--max-inflight-bytes); make the object smaller, or raise the budget with the memory limit";
    /// The secrets held by all Mounts in flight on the node (bodies,
    /// plaintext, files, parsed jmesPath documents, responses) would exceed the budget: a
    /// burst of large Mounts. The driver retries. Raise `maxInflightBytes` together with the
    /// memory limit.
    ResourceExhaustedText fn over_budget(what: impl std::fmt::Display, bytes: &usize, budget: &usize) =
        "provider busy: {what} needs {bytes} bytes, more than is free of the node's budget of {budget} for in-flight mounts (--max-inflight-bytes); retry later";
    /// WHAT of the entries above when the whole response is charged.
    Part fn encoded_response() = "the encoded response";
    /// More concurrent Mounts than `maxConcurrentMounts` on one node
    /// (mass restarts); kubelet retries. Raise it if nodes run that many pods.
    ResourceExhaustedText fn busy(mounts: &usize) = "provider busy: {mounts} mounts in flight; retry later";
    /// The Mount as a whole exceeded `mountTimeout` (kubelet gives up at
    /// about 2 minutes): usually a network path that drops packets instead of refusing them.
    /// Check connectivity as for `UNAVAILABLE`.
    DeadlineExceededText fn deadline(timeout: &std::time::Duration) = "mount did not finish within {timeout:?}";
}
