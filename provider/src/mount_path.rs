//! The rules a file path inside the mount must follow (docs/reference.md §2.3), shared by object aliases and
//! jmesPath aliases.
//!
//! They match what the Secrets Store CSI driver's writer enforces (relative, clean, no `..`
//! element) and go further where a path could collide with the atomic writer's own entries:
//! no element may start with `..` (`..data`, `..2024_01_01…`), and no path may be both a file
//! and a directory of another path.

use std::collections::BTreeMap;

use crate::catalogue;
use crate::error::MountError;

/// Longest path element, in bytes.
pub const MAX_ELEMENT_BYTES: usize = 255;
/// Longest whole path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Most elements in one path: checking a path against the others costs a lookup per parent.
pub const MAX_PATH_DEPTH: usize = 32;

/// Checks one path; the error says which rule it breaks.
pub fn validate(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(catalogue::path_empty());
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(catalogue::path_too_long(path.len(), MAX_PATH_BYTES));
    }
    if path.contains('\0') {
        return Err(catalogue::path_nul());
    }
    let depth = path.split('/').count();
    if depth > MAX_PATH_DEPTH {
        return Err(catalogue::path_too_deep(
            &crate::limits::quote(path),
            depth,
            MAX_PATH_DEPTH,
        ));
    }
    let path_q = crate::limits::quote(path);
    if path.starts_with('/') {
        return Err(catalogue::path_absolute(&path_q));
    }
    for element in path.split('/') {
        match element {
            "" => {
                return Err(catalogue::path_empty_element(&path_q));
            }
            "." => return Err(catalogue::path_dot(&path_q)),
            ".." => return Err(catalogue::path_dot_dot(&path_q)),
            e if e.starts_with("..") => {
                return Err(catalogue::path_writer_name(&path_q));
            }
            e if e.len() > MAX_ELEMENT_BYTES => {
                return Err(catalogue::path_long_element(&path_q, MAX_ELEMENT_BYTES));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Collects every path of one Mount and refuses duplicates and file/directory clashes.
#[derive(Debug, Default)]
pub struct PathSet {
    /// path → who claimed it (for the error message).
    claimed: BTreeMap<String, String>,
}

impl PathSet {
    /// Claims `path` for `owner` (e.g. `objects[2]`).
    pub fn claim(&mut self, path: &str, owner: &str) -> Result<(), MountError> {
        let path_q = crate::limits::quote(path);
        if let Some(first) = self.claimed.get(path) {
            return Err(catalogue::path_taken(owner, &path_q, first));
        }
        // A parent of `path` claimed as a file?
        let mut prefix = path;
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if let Some(first) = self.claimed.get(parent) {
                return Err(catalogue::path_parent_is_file(
                    owner,
                    &path_q,
                    &crate::limits::quote(parent),
                    first,
                ));
            }
            prefix = parent;
        }
        // `path` a parent of something already claimed?
        let dir = format!("{path}/");
        if let Some((child, first)) = self.claimed.range(dir.clone()..).next()
            && child.starts_with(&dir)
        {
            return Err(catalogue::path_is_parent(
                owner,
                &path_q,
                &crate::limits::quote(child),
                first,
            ));
        }
        self.claimed.insert(path.to_owned(), owner.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_clean_relative_paths() {
        for ok in [
            "a",
            "db/password",
            "a.b",
            ".hidden",
            "a/.b/c",
            "x..y",
            &"e".repeat(255),
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_each_broken_rule_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "'..' element"),
            ("a/../../x", "'..' element"),
            ("..data", "starting with '..'"),
            ("a/..b", "starting with '..'"),
            ("a//b", "not clean"),
            ("./a", "not clean"),
            ("a/", "not clean"),
            ("a\0b", "NUL"),
        ];
        for (path, reason) in cases {
            let err = validate(path).expect_err(path);
            assert!(err.contains(reason), "{path:?}: {err}");
        }
        let long_element = "e".repeat(256);
        assert!(
            validate(&long_element)
                .expect_err("long")
                .contains("longer than 255")
        );
        let long_path = vec!["abcdefgh"; 500].join("/");
        assert!(
            validate(&long_path)
                .expect_err("long")
                .contains("longer than 4096")
        );
    }

    #[test]
    fn path_set_refuses_duplicates_and_clashes() {
        let mut set = PathSet::default();
        set.claim("db/password", "objects[0]").expect("first");
        set.claim("db/user", "objects[1]").expect("sibling");
        let dup = set
            .claim("db/password", "objects[2]")
            .expect_err("duplicate")
            .to_string();
        assert!(dup.contains("already used by objects[0]"), "{dup}");
        let as_file = set
            .claim("db", "objects[3]")
            .expect_err("dir as file")
            .to_string();
        assert!(as_file.contains("is a directory of"), "{as_file}");
        set.claim("cert", "objects[4]").expect("file");
        let under_file = set
            .claim("cert/key", "objects[5]")
            .expect_err("file as dir")
            .to_string();
        assert!(under_file.contains("uses as a file"), "{under_file}");
        set.claim("dbx", "objects[6]")
            .expect("prefix of name is not a parent");
    }

    proptest! {
        /// Whatever is accepted is safe to join under a target directory: it stays inside it and
        /// never touches the writer's `..`-prefixed entries.
        #[test]
        fn accepted_paths_stay_inside(path in "[a-z./]{0,12}") {
            if validate(&path).is_ok() {
                let joined = std::path::Path::new("/target").join(&path);
                let mut depth = 0i32;
                for c in joined.strip_prefix("/target").expect("under target").components() {
                    match c {
                        std::path::Component::Normal(n) => {
                            prop_assert!(!n.to_string_lossy().starts_with(".."));
                            depth += 1;
                        }
                        other => prop_assert!(false, "unexpected component {other:?}"),
                    }
                }
                prop_assert!(depth >= 1);
            }
        }
    }
}
