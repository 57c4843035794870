//! Every message `keywarden-kms` returns to kube-apiserver or prints, with its gRPC code and its
//! fix, in one place: each section below becomes functions that build the error, and one table
//! of `docs/troubleshooting.md`, which a test keeps equal to what this catalogue renders.
//!
//! A [`PluginError`] that carries text can only be made here: [`Message`] has no public
//! constructor, so a message written elsewhere does not compile.

mod kms;
mod requests;
mod startup;

pub use kms::*;
pub use requests::*;
pub use startup::*;

use keywarden_runtime::catalogue::{Kind, Placeholders, Section};

use crate::error::PluginError;

/// Text inside another message, or the `Display` of a structured error.
pub use keywarden_runtime::catalogue::Part;

/// The text of a plugin error, made only by this catalogue's functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Encrypt or Decrypt refused as `INVALID_ARGUMENT`.
pub struct InvalidArgument;

impl Kind for InvalidArgument {
    type Out = PluginError;
    const CODE: &'static str = "INVALID_ARGUMENT";
    fn make(text: String) -> PluginError {
        PluginError::InvalidArgument(Message(text))
    }
}

/// A call that failed as `INTERNAL`: KMS answered something the protocol cannot carry.
pub struct Internal;

impl Kind for Internal {
    type Out = PluginError;
    const CODE: &'static str = "INTERNAL";
    fn make(text: String) -> PluginError {
        PluginError::Internal(Message(text))
    }
}

/// The sections, in the order of the page.
pub const SECTIONS: &[Section] = &[requests::SECTION, kms::SECTION, startup::SECTION];

/// How the page shows arguments (none need more than capitals).
pub const PLACEHOLDERS: Placeholders = &[];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BEGIN: &str =
        "<!-- BEGIN keywarden-kms catalogue (generated: plugin-kms/src/catalogue.rs) -->";
    const END: &str = "<!-- END keywarden-kms catalogue -->";

    #[test]
    fn troubleshooting_page_is_the_catalogue() {
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/troubleshooting.md");
        let rendered = keywarden_runtime::catalogue::markdown(SECTIONS, PLACEHOLDERS);
        keywarden_runtime::catalogue::check_generated(&page, BEGIN, END, &rendered)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn no_message_is_written_outside_the_catalogue() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let offenders = keywarden_runtime::catalogue::stray_messages(&src, &src.join("catalogue"));
        assert!(
            offenders.is_empty(),
            "messages outside the catalogue:\n{}",
            offenders.join("\n")
        );
        let mut names = std::collections::BTreeSet::new();
        for entry in SECTIONS.iter().flat_map(|s| s.entries) {
            assert!(entry.fix.trim().len() > 10, "{} has no fix", entry.name);
            assert!(names.insert(entry.name), "{} is declared twice", entry.name);
        }
    }
}
