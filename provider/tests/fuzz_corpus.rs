//! The fuzz corpus as a regression suite: every input `make fuzz` kept for the provider's
//! targets (sealed objects, Mount requests, the `:authority` rewrite) is replayed through the
//! same calls on every `make test`, so a crash once found stays fixed without a sanitizer build.

use std::path::PathBuf;

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
    let parsed = corpus("sealed_object")
        .iter()
        .filter(|(_, data)| keywarden_provider::fuzzing::sealed_object(data))
        .count();
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
    let rewritten = corpus("authority_rewrite")
        .iter()
        .map(|(_, data)| keywarden_runtime::fuzzing::authority_rewrite(data))
        .filter(|(_, out)| *out > 0)
        .count();
    assert!(rewritten > 0, "the corpus reaches past the preface");
}
