//! The logic of the provider's fuzz targets, shared with the corpus replay tests so that both
//! exercise exactly the same calls (`fuzz/fuzz_targets/*.rs`, `provider/tests/fuzz_corpus.rs`).
//!
//! The attribute path is run on a thread with a small stack: a recursion that the bounds of
//! [`crate::limits`] do not cover crashes the fuzzer (or the replay test) here, instead of the
//! provider of a node.

use keywarden_proto::csi::MountRequest;

use crate::params;

/// The stack the attribute path runs on: half of a tokio worker thread's default 2 MiB.
pub const ATTRIBUTE_PATH_STACK_BYTES: usize = 1024 * 1024;

/// How the inputs derived from one fuzz input fared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttributeOutcome {
    /// Requests that parsed into Mount parameters.
    pub accepted: usize,
    /// Requests refused with a (non-empty) error.
    pub refused: usize,
}

/// Feeds `data` through the whole attribute path (attributes JSON → objects YAML → jmesPath
/// compile) three ways: as the raw `attributes`, as the `objects` parameter, and as the
/// jmesPath expression of an otherwise valid object. Panics only on a bug: an empty error
/// message, or (by crashing the thread's small stack) unbounded recursion.
pub fn attribute_path(data: &[u8]) -> AttributeOutcome {
    let text = String::from_utf8_lossy(data).into_owned();
    std::thread::Builder::new()
        .stack_size(ATTRIBUTE_PATH_STACK_BYTES)
        .spawn(move || {
            let objects = serde_json::json!({ "objects": text }).to_string();
            let jmes = serde_json::json!({
                "objects": format!(
                    "- objectName: s3://bucket/key\n  jmesPath:\n    - path: {}\n      objectAlias: field\n",
                    serde_json::Value::String(text.clone())
                ),
            })
            .to_string();
            let mut outcome = AttributeOutcome::default();
            for attributes in [text, objects, jmes] {
                let request = MountRequest {
                    attributes,
                    secrets: "null".into(),
                    target_path: "/tmp/t".into(),
                    permission: "420".into(),
                    current_object_version: vec![],
                };
                match params::parse(&request) {
                    Ok(_) => outcome.accepted += 1,
                    Err(e) => {
                        assert!(!e.to_string().is_empty(), "an error without a message");
                        outcome.refused += 1;
                    }
                }
            }
            outcome
        })
        .map(|thread| thread.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        .unwrap_or_default()
}

/// A sealed object from untrusted storage: parsed, and when it parses, opened under a key that
/// cannot be its own. Returns whether it parsed; panics only if it opened.
pub fn sealed_object(data: &[u8]) -> bool {
    match crate::sealed::Sealed::parse(data) {
        Ok(sealed) => {
            assert!(sealed.open(&[0u8; 32]).is_err(), "opened under a zero key");
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_the_jmespath_compiler_and_refuses_bombs() {
        let good = attribute_path(b"a.b");
        assert_eq!(
            good.accepted, 1,
            "a valid expression is accepted as jmesPath"
        );
        let bomb = format!("{}a", "(".repeat(100_000));
        let outcome = attribute_path(bomb.as_bytes());
        assert_eq!(
            outcome,
            AttributeOutcome {
                accepted: 0,
                refused: 3
            }
        );
    }
}
