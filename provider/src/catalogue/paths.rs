//! Messages about the file paths a Mount writes: object aliases, jmesPath aliases and the
//! default names taken from S3 keys.

use super::{InvalidArgument, Part};

keywarden_runtime::catalogue! {
    "File paths",
    "Every file path (`objectAlias`, `jmesPath[].objectAlias`, or the last segment of the S3 key) \
     is relative and clean, without `..` and without elements starting with `..` (the driver's \
     atomic writer uses `..data`). The rule broken follows `objectAlias: `.";

    /// Give the file a name.
    Part fn path_empty() = "path is empty";
    /// Paths are at most 4096 bytes.
    Part fn path_too_long(n: usize, limit: usize) = "path is {n} bytes, longer than {limit}";
    /// A NUL byte cannot be in a file name.
    Part fn path_nul() = "path contains a NUL byte";
    /// A file path may have at most 32 elements.
    Part fn path_too_deep(path_q: &str, n: usize, limit: usize) =
        "path {path_q} has {n} elements, more than {limit} (MAX_PATH_DEPTH)";
    /// Paths are relative to the volume: drop the leading `/`.
    Part fn path_absolute(path_q: &str) = "path {path_q} is absolute; it must be relative to the mount";
    /// `a//b` or `a/`: write `a/b`.
    Part fn path_empty_element(path_q: &str) =
        "path {path_q} is not clean (empty element or trailing '/')";
    /// `a/./b`: write `a/b`.
    Part fn path_dot(path_q: &str) = "path {path_q} is not clean ('.' element)";
    /// A path cannot leave the volume.
    Part fn path_dot_dot(path_q: &str) = "path {path_q} contains a '..' element";
    /// Names starting with `..` belong to the writer (`..data`, `..2024_…`).
    Part fn path_writer_name(path_q: &str) =
        "path {path_q} has an element starting with '..' (reserved for the writer)";
    /// File names are at most 255 bytes.
    Part fn path_long_element(path_q: &str, limit: usize) =
        "path {path_q} has an element longer than {limit} bytes";
    /// Two objects (or jmesPath entries) write the same file; the default alias is the last
    /// segment of the S3 key, so `a/config` and `b/config` clash: set `objectAlias`.
    InvalidArgument fn path_taken(owner: &str, path_q: &str, first: &str) =
        "{owner}: path {path_q} is already used by {first}";
    /// One alias is a file and a directory of another: rename one.
    InvalidArgument fn path_parent_is_file(owner: &str, path_q: &str, parent_q: &str, first: &str) =
        "{owner}: path {path_q} needs directory {parent_q}, which {first} uses as a file";
    /// As above, the other way round.
    InvalidArgument fn path_is_parent(owner: &str, path_q: &str, child_q: &str, first: &str) =
        "{owner}: path {path_q} is a directory of {child_q} ({first})";
}
