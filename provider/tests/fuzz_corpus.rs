//! The fuzz corpus as a regression suite: every input `make fuzz` kept for the provider's
//! targets (sealed objects, Mount requests, the `:authority` rewrite) is replayed through the
//! same calls on every `make test`, so a crash once found stays fixed without a sanitizer build.

use std::path::PathBuf;

use bytes::BytesMut;
use keywarden_provider::sealed::Sealed;
use keywarden_runtime::authority::Rewriter;

/// Every file of `fuzz/corpus/<target>`; at least one, so a moved corpus fails loudly.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            (path, data)
        })
        .collect();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

#[test]
fn sealed_object_corpus_parses_or_fails_cleanly() {
    let mut parsed = 0;
    for (_, data) in corpus("sealed_object") {
        if let Ok(sealed) = Sealed::parse(&data) {
            parsed += 1;
            assert!(sealed.open(&[0u8; 32]).is_err(), "opened under a zero key");
        }
    }
    assert!(parsed > 0, "the corpus reaches past the header checks");
}

#[test]
fn mount_request_corpus_parses_or_names_the_error() {
    let mut accepted = 0;
    for (_, data) in corpus("mount_request") {
        accepted += keywarden_provider::fuzzing::attribute_path(&data).accepted;
    }
    assert!(accepted > 0, "the corpus holds valid requests too");
}

#[test]
fn authority_rewrite_corpus_never_panics() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    for (_, data) in corpus("authority_rewrite") {
        let Some((&split, rest)) = data.split_first() else {
            continue;
        };
        let stream = [PREFACE, rest].concat();
        let mut rewriter = Rewriter::new();
        let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
        for chunk in stream.chunks(usize::from(split).max(1)) {
            input.extend_from_slice(chunk);
            if rewriter.feed(&mut input, &mut out).is_err() {
                break;
            }
        }
        assert!(
            out.len() <= stream.len() * 4 + 4096,
            "output bounded by input"
        );
    }
}
