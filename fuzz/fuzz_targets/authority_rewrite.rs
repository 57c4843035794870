//! Client bytes on the provider socket before h2 sees them: the `:authority` rewriter must
//! consume any byte stream, split anywhere, without panicking.
#![no_main]

use bytes::BytesMut;
use keywarden_runtime::authority::Rewriter;
use libfuzzer_sys::fuzz_target;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut stream = PREFACE.to_vec();
    stream.extend_from_slice(rest);
    let mut rewriter = Rewriter::new();
    let mut input = BytesMut::new();
    let mut out = BytesMut::new();
    for chunk in stream.chunks(usize::from(split).max(1)) {
        input.extend_from_slice(chunk);
        if rewriter.feed(&mut input, &mut out).is_err() {
            return;
        }
    }
});
