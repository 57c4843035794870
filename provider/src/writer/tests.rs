//! Tests of the atomic writer on a temporary directory.

use super::*;

fn file<'a>(path: &'a str, mode: u32, contents: &'a [u8]) -> FileToWrite<'a> {
    FileToWrite {
        path,
        mode,
        contents,
    }
}

fn read(target: &Path, path: &str) -> (Vec<u8>, u32) {
    let full = target.join(path);
    let mode = fs::metadata(&full).expect("exists").permissions().mode() & 0o777;
    (fs::read(full).expect("read"), mode)
}

#[test]
fn writes_the_atomic_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let files = [
        file("db/password", 0o400, b"hunter2"),
        file("api-key", 0o644, b"k"),
    ];
    assert!(write_all(target, &files).expect("write"));
    assert_eq!(read(target, "db/password"), (b"hunter2".to_vec(), 0o400));
    assert_eq!(read(target, "api-key"), (b"k".to_vec(), 0o644));
    assert!(
        fs::symlink_metadata(target.join("db"))
            .expect("db")
            .file_type()
            .is_symlink()
    );
    let data = fs::read_link(target.join(DATA)).expect("..data");
    assert!(data.to_string_lossy().starts_with(".."));
}

#[test]
fn unchanged_set_is_not_rewritten_and_changes_swap_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let v1 = [file("a", 0o644, b"1"), file("b/c", 0o600, b"2")];
    assert!(write_all(target, &v1).expect("first"));
    let first = fs::read_link(target.join(DATA)).expect("data");
    assert!(
        !write_all(target, &v1).expect("same"),
        "unchanged set skipped"
    );
    let v2 = [file("a", 0o644, b"changed")];
    assert!(write_all(target, &v2).expect("second"));
    let second = fs::read_link(target.join(DATA)).expect("data");
    assert_ne!(first, second);
    assert!(!target.join(&first).exists(), "old directory removed");
    assert!(
        fs::symlink_metadata(target.join("b")).is_err(),
        "stale entry removed"
    );
    assert_eq!(read(target, "a").0, b"changed");
    // A mode-only change is applied too.
    assert!(write_all(target, &[file("a", 0o400, b"changed")]).expect("mode"));
    assert_eq!(read(target, "a").1, 0o400);
}

#[test]
fn refuses_symlinked_or_non_tmpfs_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    fs::create_dir(&real).expect("dir");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = check_target(&link, true).expect_err("symlink target");
    assert!(err.to_string().contains("not a directory"), "{err}");
    check_target(&real, true).expect("allowed when non-tmpfs is allowed");
    let on_tmpfs = nix::sys::statfs::statfs(&real)
        .expect("statfs")
        .filesystem_type()
        == nix::sys::statfs::TMPFS_MAGIC;
    let checked = check_target(&real, false);
    if on_tmpfs {
        checked.expect("a tmpfs target is accepted");
    } else {
        let err = checked.expect_err("not tmpfs");
        assert!(err.to_string().contains("not a tmpfs mount"), "{err}");
    }
}
