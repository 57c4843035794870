//! Mount requests as the driver sends them, through the whole attribute path: `attributes` JSON,
//! the `objects` YAML inside it and the jmesPath expressions it names, on a small thread stack
//! (`keywarden_provider::fuzzing`). Any input must give parameters or a named error, never a
//! panic or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keywarden_provider::fuzzing::attribute_path(data);
});
