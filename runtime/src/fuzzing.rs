//! The logic of the `authority_rewrite` fuzz target, shared with its corpus replay test so both
//! exercise exactly the same calls (`fuzz/fuzz_targets/authority_rewrite.rs`,
//! `provider/tests/fuzz_corpus.rs`).

use bytes::BytesMut;

use crate::authority::Rewriter;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Client bytes on a socket before h2 sees them: the first byte of `data` is the chunk size the
/// stream is split into, the rest follows the HTTP/2 preface. Any stream, split anywhere, must
/// be consumed or refused without a panic, and the output stays within a bound of the input.
/// Returns (input bytes, output bytes).
pub fn authority_rewrite(data: &[u8]) -> (usize, usize) {
    let Some((&split, rest)) = data.split_first() else {
        return (0, 0);
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
    (stream.len(), out.len())
}
