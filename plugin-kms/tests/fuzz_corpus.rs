//! The `kms_decrypt_request` fuzz corpus as a regression suite: every DecryptRequest `make fuzz`
//! kept is replayed through the checks that run before KMS on every `make test`, so a crash
//! once found stays fixed without a sanitizer build.

use std::path::PathBuf;

use keywarden_kms::envelope::{self, Context};
use keywarden_proto::kms_v2::DecryptRequest;
use prost::Message;

#[test]
fn decrypt_request_corpus_is_checked_before_kms() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kms_decrypt_request");
    let configured = Context::from([("cluster".to_owned(), "fuzz".to_owned())]);
    let (mut accepted, mut refused) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        let Ok(request) = DecryptRequest::decode(data.as_slice()) else {
            continue;
        };
        match envelope::decrypt_request(
            &request.ciphertext,
            &request.key_id,
            &request.annotations,
            &configured,
        ) {
            Ok((blob, _)) => {
                assert!(!blob.is_empty() && blob.len() < envelope::MAX_CIPHERTEXT);
                accepted += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}"
    );
}
