//! Tests of the writer's `check --out` rules on a temporary directory: a Kubernetes volume's
//! layout is refused and left byte for byte, and what is written is private to its owner. The
//! target is read back with plain `std::fs` calls, not through the writer.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;

/// Every entry under `root` (not following links): a directory, a link's target, or a file's
/// mode and bytes.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_symlink() {
                format!("-> {}", fs::read_link(&path).expect("link").display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                format!("dir {mode:o}")
            } else {
                let bytes = fs::read(&path).expect("read");
                format!("file {mode:o} {}", String::from_utf8_lossy(&bytes))
            };
            let rel = path.strip_prefix(root).expect("under root");
            found.insert(rel.display().to_string(), what);
        }
    }
    found
}

/// A directory as kubelet's AtomicWriter lays out a ConfigMap volume.
fn kubelet_volume(target: &Path) {
    let generation = "..2024_05_01_10_20_30.123";
    fs::create_dir(target.join(generation)).expect("generation");
    fs::write(
        target.join(generation).join("app.conf"),
        b"the user's config",
    )
    .expect("file");
    symlink(generation, target.join("..data")).expect("..data");
    symlink("..data/app.conf", target.join("app.conf")).expect("link");
}

#[test]
fn a_kubernetes_volume_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    kubelet_volume(target);
    let before = tree(target);
    let err = check_target_with(target, Rules::CHECK_OUT).expect_err("refused");
    assert!(
        err.to_string().contains(
            "..data points to \"..2024_05_01_10_20_30.123\", a generation this writer did not make"
        ),
        "{err}"
    );
    let files = [FileToWrite {
        path: "app.conf",
        mode: 0o600,
        contents: b"fetched",
    }];
    write_with(target, &files, Rules::CHECK_OUT, &Stop::default()).expect_err("refused");
    assert_eq!(tree(target), before, "nothing added, removed or changed");
    // A pod's volume the driver wrote before is still taken over, as in driver mode.
    check_target(target, true).expect("a pod's volume");
}

#[test]
fn check_out_files_and_directories_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let files = [
        FileToWrite {
            path: "db/password",
            mode: 0o644,
            contents: b"p",
        },
        FileToWrite {
            path: "key",
            mode: 0o400,
            contents: b"k",
        },
        FileToWrite {
            path: "run.sh",
            mode: 0o755,
            contents: b"r",
        },
    ];
    assert!(write_with(target, &files, Rules::CHECK_OUT, &Stop::default()).expect("write"));
    let generation = fs::read_link(target.join("..data")).expect("..data");
    let found = tree(&target.join(&generation));
    let want: BTreeMap<String, String> = [
        ("db", "dir 700"),
        ("db/password", "file 600 p"),
        ("key", "file 400 k"),
        ("run.sh", "file 600 r"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(found, want);
    let mode = fs::symlink_metadata(target.join(&generation))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the generation directory");
    // The narrowed modes are what the unchanged comparison expects: no rewrite.
    assert!(!write_with(target, &files, Rules::CHECK_OUT, &Stop::default()).expect("again"));
    // A directory an earlier check --out wrote is replaced.
    assert!(write_with(target, &files[..1], Rules::CHECK_OUT, &Stop::default()).expect("less"));
    assert!(!target.join("key").exists());
}
