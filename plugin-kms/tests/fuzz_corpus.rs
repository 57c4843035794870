//! The `kms_decrypt_request` fuzz corpus as a regression suite: every DecryptRequest `make fuzz`
//! kept is replayed through the same function the fuzz target calls, on every `make test`, so a
//! crash once found stays fixed without a sanitizer build.

use std::path::PathBuf;

use keywarden_kms::fuzzing::{DecryptOutcome, decrypt_request};

#[test]
fn decrypt_request_corpus_is_checked_before_kms() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kms_decrypt_request");
    let (mut accepted, mut refused) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        match decrypt_request(&data) {
            DecryptOutcome::Accepted => accepted += 1,
            DecryptOutcome::Refused => refused += 1,
            DecryptOutcome::Undecodable => {}
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}"
    );
}
