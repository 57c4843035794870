//! Every message `keywarden-provider` returns or prints, with its gRPC code and its fix, in one
//! place: each section below becomes functions that build the error, and one table of
//! `docs/troubleshooting.md`, which a test keeps equal to what this catalogue renders.
//!
//! A Mount error that carries text can only be made here: [`Message`] has no public
//! constructor, so a message written elsewhere does not compile. Parts (`Part`) are the
//! reasons other messages quote, such as the rule a path breaks.

mod aws;
mod content;
mod failover;
mod identity;
mod objects;
mod paths;
mod prefixes;
mod request;
mod secrets;
mod serving;
mod sizes;
mod sync;
mod writing;

pub use aws::*;
pub use content::*;
pub use failover::*;
pub use identity::*;
pub use objects::*;
pub use paths::*;
pub use prefixes::*;
pub use request::*;
pub use secrets::*;
pub use serving::*;
pub use sizes::*;
pub use sync::*;
pub use writing::*;

use keywarden_runtime::catalogue::{Placeholders, Section};

use crate::error::MountError;

/// The text of a Mount error, made only by this catalogue's functions.
#[derive(Debug)]
pub struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

keywarden_runtime::error_kinds! { MountError;
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
    prefixes::SECTION,
    content::SECTION,
    identity::SECTION,
    secrets::SECTION,
    failover::SECTION,
    aws::SECTION,
    sizes::SECTION,
    sync::SECTION,
    writing::SECTION,
    serving::SECTION,
    keywarden_runtime::catalogue::SERVING,
];

/// How the page shows the arguments every section uses.
pub const PLACEHOLDERS: Placeholders = &[("label", "objects[N] (NAME)"), ("owner", "OWNER")];

keywarden_runtime::catalogue_test!("keywarden-provider");
