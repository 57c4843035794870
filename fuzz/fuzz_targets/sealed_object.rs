//! Sealed objects from untrusted storage: parsing and opening must fail cleanly, never panic
//! (`keywarden_provider::fuzzing::sealed_object`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keywarden_provider::fuzzing::sealed_object(data);
});
