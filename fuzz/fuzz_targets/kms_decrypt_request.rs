//! v2 DecryptRequests as the apiserver sends them, read back from etcd: the protobuf message,
//! then the ciphertext framing, key id and annotations (format version and encryption context
//! JSON). Any input must be accepted or refused with a named error before KMS, never a panic.
#![no_main]

use keywarden_kms::envelope::{self, Context};
use keywarden_proto::kms_v2::DecryptRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = DecryptRequest::decode(data) else {
        return;
    };
    let configured = Context::from([("cluster".to_owned(), "fuzz".to_owned())]);
    if let Ok((blob, _context)) = envelope::decrypt_request(
        &request.ciphertext,
        &request.key_id,
        &request.annotations,
        &configured,
    ) {
        // What reaches KMS is a non-empty blob within the apiserver's limit.
        assert!(!blob.is_empty() && blob.len() < envelope::MAX_CIPHERTEXT);
    }
});
