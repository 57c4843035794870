//! Sealed objects from untrusted storage: parsing and opening must fail cleanly, never panic.
#![no_main]

use keywarden_provider::sealed::Sealed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sealed) = Sealed::parse(data) {
        let _ = sealed.open(&[0u8; 32]);
    }
});
