//! Messages about the bytes fetched: ciphertext, sealed objects, encryption contexts, jmesPath
//! extraction and `objectEncoding` decoding.

use std::fmt::Display;

use super::{InvalidArgument, Part, Precondition};

keywarden_runtime::catalogue! {
    "Decryption and content",
    "The object was fetched, but its bytes are not what its spec says.";

    /// Paste the `CiphertextBlob` as base64 text (`--output text` of `aws kms encrypt`).
    InvalidArgument fn ciphertext_not_base64(label: &str) = "{label}: ciphertext is not valid base64";
    /// The S3 object of `objectType: kms` is neither a KMS `CiphertextBlob` nor base64 of one
    /// (for example it was uploaded as plaintext, or with a trailing newline inside the base64).
    InvalidArgument fn not_a_blob(label: &str, object_type: &str) =
        "{label}: content is neither a binary {object_type} blob nor valid base64 text";
    /// The object is damaged or not made by `keywarden-provider seal`; REASON is one of the
    /// parts below. Use `objectType: kms` for raw KMS blobs and `s3` for plaintext.
    InvalidArgument fn sealed_malformed(label: &str, reason: String) =
        "{label}: malformed sealed object: {reason}";
    /// The sealed object could not be opened; REASON is one of the parts below.
    InvalidArgument fn sealed_unopenable(label: &str, reason: String) =
        "{label}: cannot open sealed object: {reason}";
    /// Fewer bytes than a header needs: a truncated upload.
    Part fn sealed_too_short(n: impl Display) = "too short to be a sealed object ({n} bytes)";
    /// Not a sealed object: plaintext (`objectType: s3`) or a raw KMS blob (`objectType: kms`).
    Part fn sealed_bad_magic() = "not a Keywarden sealed object (magic is not KWS1)";
    /// A header this large is not made by `seal`.
    Part fn sealed_header_too_large(n: impl Display, limit: usize) =
        "header length {n} exceeds the limit of {limit} bytes";
    /// The object was cut short.
    Part fn sealed_truncated(n: impl Display) = "header length {n} runs past the end of the object";
    /// The header was edited or damaged.
    Part fn sealed_bad_header(reason: impl Display) =
        "header is not valid JSON of the expected shape: {reason}";
    /// Made by another tool or a newer version.
    Part fn sealed_unknown_alg(alg_q: &str, supported: &str) =
        "unsupported alg {alg_q} (only {supported})";
    /// `key` must be a KMS key ARN, `iv` 12 bytes, base64 fields valid.
    Part fn sealed_bad_field(field: impl Display, problem: impl Display) = "header field {field}: {problem}";
    /// PROBLEM of the entry above.
    Part fn sealed_field_length(n: usize, expected: usize) = "is {n} bytes, not {expected}";
    /// PROBLEM of the entry above.
    Part fn sealed_field_not_base64(reason: impl Display) = "is not base64 ({reason})";
    /// The object was cut short after its header.
    Part fn sealed_ciphertext_truncated() = "ciphertext is truncated (shorter than the 16-byte tag)";
    /// The header's `edk` is not a 32-byte data key: a hand-made object.
    Part fn sealed_bad_data_key() = "data key from KMS is not 32 bytes";
    /// The AES-GCM tag does not verify: the ciphertext or header was changed after sealing.
    /// Re-seal; investigate who can write the bucket.
    Part fn sealed_tampered() =
        "authentication failed: the object was altered or does not belong to this key";
    /// Keys under `keywarden.io/` belong to Keywarden; only `keywarden.io/namespace` may be
    /// named, and only with the pod's own namespace.
    InvalidArgument fn context_key_reserved(label: &str, key_q: &str) =
        "{label}: encryption context key {key_q} is reserved for Keywarden";
    /// The object was sealed with `--namespace A` (or a `kms` object's `encryptionContext`
    /// names `keywarden.io/namespace: A`); only pods in `A` can open it. Re-seal it for the
    /// pod's namespace if that is intended.
    Precondition fn namespace_mismatch(label: &str, bound_q: &str, pod_q: &str) =
        "{label}: bound to namespace {bound_q}, but the pod is in {pod_q}";
    /// As above, and the driver sent no namespace (`podInfoOnMount` is off).
    Precondition fn namespace_unknown(label: &str, bound_q: &str) =
        "{label}: bound to namespace {bound_q}, and the request names no pod namespace";
    /// KMS `InvalidCiphertextException`: the blob is damaged or needs the context it was
    /// encrypted with.
    InvalidArgument fn kms_refused_no_context(label: &str) =
        "{label}: KMS refused the ciphertext: it is not a KMS ciphertext blob, or it was encrypted with an encryption context (set encryptionContext)";
    /// The context must match exactly, keys and values, case included.
    InvalidArgument fn kms_refused_context(label: &str) =
        "{label}: KMS refused the ciphertext: the encryptionContext does not match the one it was encrypted with, or it is not a KMS ciphertext blob";
    /// A sealed object's header names another key than the one that encrypted its data key:
    /// the object was altered or assembled by hand. Re-seal it.
    InvalidArgument fn wrong_key(label: &str) =
        "{label}: the ciphertext was not encrypted under the key named for it";
    /// The decrypted object is not JSON: `jmesPath` reads JSON documents only.
    InvalidArgument fn jmes_not_utf8(label: &str) =
        "{label}: jmesPath needs JSON content, which is not UTF-8";
    /// See the entry above.
    InvalidArgument fn jmes_not_json(label: &str) =
        "{label}: jmesPath needs JSON content, and it does not parse";
    /// The expression failed while it was evaluated against the document (REASON is the
    /// evaluator's, e.g. a slice step of 0).
    InvalidArgument fn jmes_failed(label: &str, path_q: &str, reason: impl Display) =
        "{label}: jmesPath {path_q}: {reason}";
    /// The path is absent from the document.
    InvalidArgument fn jmes_nothing(label: &str, path_q: &str) =
        "{label}: jmesPath {path_q} matched nothing";
    /// Each path must select a string: select the string inside, or store it as a string.
    InvalidArgument fn jmes_not_string(label: &str, path_q: &str, kind: impl Display) =
        "{label}: jmesPath {path_q} yields a {kind}, not a string";
    /// The value (after decryption; for `jmesPath[J]`, the extracted string) is not of the
    /// declared encoding; REASON is one of the parts below. A value that is not encoded at all
    /// needs `utf-8`.
    InvalidArgument fn bad_encoded_value(owner: &str, encoding: &str, reason: String) =
        "{owner}: objectEncoding {encoding}: {reason}";
    /// `-` and `_` mean `base64url`, `+` and `/` mean `base64`. Whitespace is skipped, so line
    /// breaks are not the cause.
    Part fn not_in_alphabet(offset: usize, alphabet: &str) = "byte {offset} is not in {alphabet}";
    /// The value is two values concatenated, or has text after its padding.
    Part fn after_padding(offset: usize) = "byte {offset} follows the padding '='";
    /// The value is cut short: store it again as one encoder's output.
    Part fn base64_length(digits: usize) = "{digits} digits is not a length any base64 encoder produces";
    /// See the entry above.
    Part fn bad_padding() = "the padding '=' does not complete the last group of 4 digits";
    /// `hex` is pairs of `0-9 a-f` (either case), without `0x` or separators other than
    /// whitespace.
    Part fn not_hex(offset: usize) = "byte {offset} is not a hexadecimal digit";
    /// See the entry above.
    Part fn odd_hex() = "an odd number of hexadecimal digits";
}
