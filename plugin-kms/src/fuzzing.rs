//! The logic of the `kms_decrypt_request` fuzz target, shared with its corpus replay test so both
//! exercise exactly the same calls (`fuzz/fuzz_targets/kms_decrypt_request.rs`,
//! `plugin-kms/tests/fuzz_corpus.rs`).

use keywarden_proto::kms_v2::DecryptRequest;
use prost::Message;

use crate::envelope::{self, Context};

/// What became of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptOutcome {
    /// Not a DecryptRequest at all.
    Undecodable,
    /// Would reach KMS: a non-empty blob within the apiserver's limit.
    Accepted,
    /// Refused before KMS, with a named error.
    Refused,
}

/// A v2 DecryptRequest as the apiserver sends it (read back from etcd): the protobuf message,
/// then the ciphertext framing, key id and annotations, checked as before a KMS call.
pub fn decrypt_request(data: &[u8]) -> DecryptOutcome {
    let Ok(request) = DecryptRequest::decode(data) else {
        return DecryptOutcome::Undecodable;
    };
    let configured = Context::from([("cluster".to_owned(), "fuzz".to_owned())]);
    match envelope::decrypt_request(
        &request.ciphertext,
        &request.key_id,
        &request.annotations,
        &configured,
    ) {
        Ok((blob, _context)) => {
            assert!(!blob.is_empty() && blob.len() < envelope::MAX_CIPHERTEXT);
            DecryptOutcome::Accepted
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            DecryptOutcome::Refused
        }
    }
}
