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

use keywarden_runtime::catalogue::{Placeholders, Section};

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

keywarden_runtime::error_kinds! { PluginError;
    InvalidArgument => "INVALID_ARGUMENT",
    Internal => "INTERNAL",
}

/// The sections, in the order of the page.
pub const SECTIONS: &[Section] = &[requests::SECTION, kms::SECTION, startup::SECTION];

/// How the page shows arguments (none need more than capitals).
pub const PLACEHOLDERS: Placeholders = &[];

keywarden_runtime::catalogue_test!("keywarden-kms");
