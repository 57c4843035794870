//! Every message `keywarden-provider` returns or prints, with its gRPC code and its fix, in one
//! place: each section below becomes functions that build the error, and one table of
//! `docs/troubleshooting.md`, which a test keeps equal to what this catalogue renders.
//!
//! A Mount error that carries text can only be made here: [`Message`] has no public
//! constructor, so a message written elsewhere does not compile. Parts (`Part`) are the
//! reasons other messages quote, such as the rule a path breaks.

mod aws;
mod content;
mod identity;
mod objects;
mod paths;
mod request;
mod secrets;
mod serving;
mod sizes;
mod writing;

pub use aws::*;
pub use content::*;
pub use identity::*;
pub use objects::*;
pub use paths::*;
pub use request::*;
pub use secrets::*;
pub use serving::*;
pub use sizes::*;
pub use writing::*;

use keywarden_runtime::catalogue::{Kind, Placeholders, Section};

use crate::error::MountError;

/// The text of a Mount error, made only by this catalogue's functions.
#[derive(Debug)]
pub struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! kinds {
    ($($kind:ident => $code:literal),* $(,)?) => {$(
        #[doc = concat!("A Mount error returned as `", $code, "`.")]
        pub struct $kind;
        impl Kind for $kind {
            type Out = MountError;
            const CODE: &'static str = $code;
            fn make(text: String) -> MountError {
                MountError::$kind(Message(text))
            }
        }
    )*};
}

kinds! {
    InvalidArgument => "INVALID_ARGUMENT",
    IdentityForbidden => "PERMISSION_DENIED",
    Precondition => "FAILED_PRECONDITION",
    TooLarge => "RESOURCE_EXHAUSTED",
}

/// Text inside another message or a `Display` of a structured error; shown with the code of
/// the message around it.
pub use keywarden_runtime::catalogue::Part;

/// The sections, in the order of the page.
pub const SECTIONS: &[Section] = &[
    request::SECTION,
    objects::SECTION,
    paths::SECTION,
    content::SECTION,
    identity::SECTION,
    secrets::SECTION,
    aws::SECTION,
    sizes::SECTION,
    writing::SECTION,
    serving::SECTION,
    keywarden_runtime::catalogue::SERVING,
];

/// How the page shows the arguments every section uses.
pub const PLACEHOLDERS: Placeholders = &[("label", "objects[N] (NAME)"), ("owner", "OWNER")];

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BEGIN: &str =
        "<!-- BEGIN keywarden-provider catalogue (generated: provider/src/catalogue.rs) -->";
    const END: &str = "<!-- END keywarden-provider catalogue -->";

    #[test]
    fn troubleshooting_page_is_the_catalogue() {
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/troubleshooting.md");
        let rendered = keywarden_runtime::catalogue::markdown(SECTIONS, PLACEHOLDERS);
        keywarden_runtime::catalogue::check_generated(&page, BEGIN, END, &rendered)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn every_entry_has_a_fix_and_a_unique_name() {
        let mut names = std::collections::BTreeSet::new();
        for section in SECTIONS {
            for entry in section.entries {
                assert!(entry.fix.trim().len() > 10, "{} has no fix", entry.name);
                assert!(names.insert(entry.name), "{} is declared twice", entry.name);
            }
        }
    }

    /// Messages are made by the catalogue only: no error text is formatted elsewhere.
    #[test]
    fn no_message_is_written_outside_the_catalogue() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let offenders = keywarden_runtime::catalogue::stray_messages(&src, &src.join("catalogue"));
        assert!(
            offenders.is_empty(),
            "messages outside the catalogue:\n{}",
            offenders.join("\n")
        );
    }
}
