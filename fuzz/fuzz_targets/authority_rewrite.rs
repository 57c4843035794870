//! Client bytes on the provider socket before h2 sees them: the `:authority` rewriter must
//! consume any byte stream, split anywhere, without panicking
//! (`keywarden_runtime::fuzzing::authority_rewrite`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keywarden_runtime::fuzzing::authority_rewrite(data);
});
