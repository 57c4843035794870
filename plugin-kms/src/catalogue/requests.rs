//! Messages about what kube-apiserver sent: plaintext and ciphertext sizes and formats, key ids,
//! annotations, and the key and context rules a Decrypt must pass.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::PermissionDeniedText;

use super::InvalidArgument;

keywarden_runtime::catalogue! {
    "keywarden-kms: requests",
    "kube-apiserver logs these with the resource it was encrypting or decrypting; the plugin's \
     log has the same line with the request id.";

    /// AWS KMS encrypts at most 4096 bytes; kube-apiserver sends a 32-byte data key (KMS v2)
    /// or a small DEK (v1beta1), so anything else is a client that is not kube-apiserver.
    InvalidArgument fn plaintext_size(n: usize, limit: usize) =
        "plaintext is {n} bytes; AWS KMS encrypts 1 to {limit} bytes";
    /// The ciphertext is larger than any this plugin writes: etcd holds data written by
    /// something else, or it was damaged.
    InvalidArgument fn ciphertext_too_large(n: usize, limit: usize) =
        "ciphertext is {n} bytes, over the limit of {limit}";
    /// kube-apiserver sent an empty ciphertext: the stored value is damaged.
    InvalidArgument fn ciphertext_empty() = "ciphertext is empty";
    /// The ciphertext is only a format byte: the stored value is damaged.
    InvalidArgument fn ciphertext_no_blob() = "ciphertext has no KMS blob after the format byte";
    /// The stored value was written by another KMS plugin (or is damaged): decrypt it with the
    /// plugin that wrote it, or restore it from a backup.
    InvalidArgument fn unknown_format(byte: u8) =
        "ciphertext format byte 0x{byte:02x} is not one this plugin writes";
    /// A v1beta1 ciphertext ends inside its header: the stored value is damaged.
    InvalidArgument fn v1_truncated() = "v1beta1 ciphertext is truncated";
    /// A v1beta1 ciphertext's header has no key ARN: the stored value is damaged.
    InvalidArgument fn v1_no_key() = "v1beta1 ciphertext names no key";
    /// A v1beta1 ciphertext's header holds a context that is not a JSON object of strings: the
    /// stored value is damaged.
    InvalidArgument fn v1_bad_context() =
        "v1beta1 ciphertext's encryption context is not a JSON object of strings";
    /// A v1beta1 ciphertext has a header but no KMS blob: the stored value is damaged.
    InvalidArgument fn v1_no_blob() = "ciphertext has no KMS blob after its header";
    /// kube-apiserver sent back no `key_id` with a KMS v2 Decrypt: a client that is not
    /// kube-apiserver.
    InvalidArgument fn key_id_empty() = "key_id is empty";
    /// The `key_id` is longer than any key ARN: a client that is not kube-apiserver.
    InvalidArgument fn key_id_too_long(n: usize, limit: usize) = "key_id is {n} bytes, over the limit of {limit}";
    /// Annotations must be keyed by domain names (kube-apiserver's rule): the stored value is
    /// damaged or written by another plugin.
    InvalidArgument fn annotation_key(key_q: &str) =
        "annotation key {key_q} is not a fully qualified domain name";
    /// Annotations over kube-apiserver's 32 KiB limit: the stored value is damaged.
    InvalidArgument fn annotations_too_large(total: usize, limit: usize) =
        "annotations total {total} bytes, over the limit of {limit}";
    /// The stored value was written by a newer version of the plugin (its format annotation is
    /// not `1`): run that version, or a newer one.
    InvalidArgument fn unknown_annotation_version(annotation: &str) =
        "annotation {annotation} names a format this plugin does not know";
    /// The stored encryption-context annotation is damaged.
    InvalidArgument fn bad_context_annotation(annotation: &str) =
        "annotation {annotation} is not a JSON object of strings";
    /// The Decrypt names a key this plugin may not use: not its `--key`
    /// (or what its alias names or named), nor one of `--decrypt-keys`. After moving to a new
    /// key, list the old key's ARN in `--decrypt-keys` until `keywarden-kms scan` counts no
    /// object under it (see [kms-rotation.md](kms-rotation.md)).
    PermissionDeniedText fn key_not_allowed(key_q: &str) =
        "key {key_q} is not the current key, a --decrypt-keys key, or a key the alias names now or named before";
    /// The data was encrypted under another encryption context than the
    /// configured one: add the old context to `--decrypt-encryption-contexts` until the data
    /// is re-encrypted.
    PermissionDeniedText fn context_not_allowed(keys: impl Display) =
        "the stored encryption context lacks or changes configured key(s) {keys} and is not in --decrypt-encryption-contexts";
}
