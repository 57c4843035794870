//! v2 DecryptRequests as the apiserver sends them, read back from etcd: the protobuf message,
//! then the ciphertext framing, key id and annotations. Any input must be accepted or refused
//! with a named error before KMS, never a panic (`keywarden_kms::fuzzing::decrypt_request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keywarden_kms::fuzzing::decrypt_request(data);
});
