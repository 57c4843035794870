//! Tests of the atomic writer on a temporary directory. Each test reads the target back with
//! plain `std::fs` calls, as a pod (or an attacker) would, rather than trusting return values.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use super::*;

fn file<'a>(path: &'a str, mode: u32, contents: &'a [u8]) -> FileToWrite<'a> {
    FileToWrite {
        path,
        mode,
        contents,
    }
}

fn write(target: &Path, files: &[FileToWrite<'_>]) -> Result<bool, WriteError> {
    write_all(target, files, true, &Stop::default())
}

/// What a pod sees at `path`: contents and mode, following the writer's links.
fn read(target: &Path, path: &str) -> (Vec<u8>, u32) {
    let full = target.join(path);
    let mode = fs::metadata(&full).expect("exists").permissions().mode() & 0o777;
    (fs::read(full).expect("read"), mode)
}

/// Every entry directly in `target`, sorted.
fn entries(target: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(target)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// The generation directories in `target` (names starting with `..`, other than `..data`).
fn generations(target: &Path) -> Vec<String> {
    entries(target)
        .into_iter()
        .filter(|n| n.starts_with("..") && n != DATA)
        .collect()
}

fn data_link(target: &Path) -> String {
    fs::read_link(target.join(DATA))
        .expect("..data")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn writes_the_atomic_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let files = [
        file("db/password", 0o400, b"hunter2"),
        file("api-key", 0o644, b"k"),
    ];
    assert!(write(target, &files).expect("write"));
    assert_eq!(read(target, "db/password"), (b"hunter2".to_vec(), 0o400));
    assert_eq!(read(target, "api-key"), (b"k".to_vec(), 0o644));
    assert_eq!(
        fs::read_link(target.join("db")).expect("db"),
        Path::new("..data/db")
    );
    let generation = data_link(target);
    assert!(layout::is_own_generation(&generation), "{generation}");
    assert_eq!(
        entries(target),
        sorted(&[DATA, &generation, "api-key", "db"]),
        "no temporary link is left"
    );
}

#[test]
fn unchanged_set_is_not_rewritten_and_changes_swap_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let v1 = [file("a", 0o644, b"1"), file("b/c", 0o600, b"2")];
    assert!(write(target, &v1).expect("first"));
    let first = data_link(target);
    assert!(!write(target, &v1).expect("same"), "unchanged set skipped");
    assert_eq!(data_link(target), first);
    let v2 = [file("a", 0o644, b"changed")];
    assert!(write(target, &v2).expect("second"));
    let second = data_link(target);
    assert_ne!(first, second);
    assert_eq!(generations(target), [second], "old directory removed");
    assert!(
        fs::symlink_metadata(target.join("b")).is_err(),
        "stale entry removed"
    );
    assert_eq!(read(target, "a").0, b"changed");
    // A mode-only change is applied too, and an extra file in the generation is a change.
    assert!(write(target, &[file("a", 0o400, b"changed")]).expect("mode"));
    assert_eq!(read(target, "a").1, 0o400);
    fs::write(target.join(data_link(target)).join("extra"), b"x").expect("plant");
    assert!(write(target, &[file("a", 0o400, b"changed")]).expect("extra"));
    assert_eq!(entries(target).len(), 3, "{:?}", entries(target));
}

#[test]
fn unchanged_comparison_does_not_follow_a_symlink_in_the_generation() {
    let (_dir, target, outside) = target_and_outside("outside", "same");
    let outside = outside.join("same");
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).expect("mode");
    assert!(write(&target, &[file("a", 0o644, b"old")]).expect("first"));
    // Replace the file in the generation with a link to an identical file outside.
    let generation = target.join(data_link(&target));
    fs::remove_file(generation.join("a")).expect("rm");
    symlink(&outside, generation.join("a")).expect("plant");
    assert!(
        write(&target, &[file("a", 0o644, b"outside")]).expect("write"),
        "a symlink is never taken for an unchanged file"
    );
    let a = target.join(data_link(&target)).join("a");
    assert!(fs::symlink_metadata(&a).expect("a").is_file());
    assert_eq!(fs::read(&outside).expect("outside"), b"outside");
}

#[test]
fn refuses_symlinked_or_non_tmpfs_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    fs::create_dir(&real).expect("dir");
    let link = dir.path().join("link");
    symlink(&real, &link).expect("symlink");
    let err = check_target(&link, true).expect_err("symlink target");
    assert!(err.to_string().contains("not a directory"), "{err}");
    let err = write(&link, &[file("a", 0o644, b"x")]).expect_err("symlink target");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(entries(&real), Vec::<String>::new());
    check_target(&real, true).expect("allowed when non-tmpfs is allowed");
    let on_tmpfs = nix::sys::statfs::statfs(&real)
        .expect("statfs")
        .filesystem_type()
        == nix::sys::statfs::TMPFS_MAGIC;
    let written = write_all(&real, &[file("a", 0o644, b"x")], false, &Stop::default());
    if on_tmpfs {
        written.expect("a tmpfs target is accepted");
    } else {
        let err = written.expect_err("not tmpfs");
        assert!(err.to_string().contains("not a tmpfs mount"), "{err}");
        assert_eq!(entries(&real), Vec::<String>::new(), "nothing written");
    }
}

#[test]
fn foreign_files_without_data_are_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    fs::write(target.join("notes.txt"), b"mine").expect("foreign file");
    fs::create_dir(target.join("a")).expect("foreign dir");
    fs::write(target.join("a/keep"), b"keep").expect("foreign file");
    let err = check_target(target, true).expect_err("not empty");
    assert!(
        err.to_string().contains("is not empty and has no ..data"),
        "{err}"
    );
    assert!(
        err.to_string().contains(&target.display().to_string()),
        "{err}"
    );
    let err = write(target, &[file("a", 0o644, b"x")]).expect_err("not empty");
    assert!(err.to_string().contains("is not empty"), "{err}");
    assert_eq!(entries(target), ["a", "notes.txt"]);
    assert_eq!(fs::read(target.join("notes.txt")).expect("kept"), b"mine");
    assert_eq!(fs::read(target.join("a/keep")).expect("kept"), b"keep");
}

/// A temporary directory holding an empty target `t` and, next to it, a directory `outside`
/// with one file `file` holding `b"outside"`.
fn target_and_outside(outside: &str, file: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("t");
    fs::create_dir(&target).expect("target");
    let outside = dir.path().join(outside);
    fs::create_dir(&outside).expect("outside");
    fs::write(outside.join(file), b"outside").expect("outside file");
    (dir, target, outside)
}

#[test]
fn foreign_entries_next_to_data_are_never_removed_or_replaced() {
    let (_dir, target, outside) = target_and_outside("outside", "keep");
    assert!(write(&target, &[file("a", 0o644, b"1"), file("b", 0o644, b"2")]).expect("first"));

    // Someone replaces the link `b` with a symlink out of the target and adds a file.
    fs::remove_file(target.join("b")).expect("rm link");
    symlink(&outside, target.join("b")).expect("plant");
    fs::write(target.join("notes.txt"), b"mine").expect("foreign");
    // The next set drops `b`: the planted link is not the writer's, so it stays.
    assert!(write(&target, &[file("a", 0o644, b"3")]).expect("second"));
    assert_eq!(read(&target, "a").0, b"3");
    assert_eq!(fs::read_link(target.join("b")).expect("b"), outside);
    assert_eq!(fs::read(outside.join("keep")).expect("outside"), b"outside");
    assert_eq!(fs::read(target.join("notes.txt")).expect("kept"), b"mine");

    // A set that needs `b` again refuses to replace the planted entry, and changes nothing.
    let before = data_link(&target);
    let err = write(&target, &[file("b/x", 0o644, b"4")]).expect_err("foreign b");
    assert!(
        err.to_string()
            .contains("entry \"b\" was not created by the writer"),
        "{err}"
    );
    assert_eq!(data_link(&target), before);
    assert_eq!(read(&target, "a").0, b"3");
    assert_eq!(entries(&outside), ["keep"], "nothing written outside");
    assert_eq!(
        generations(&target),
        [before],
        "the refused write left no generation"
    );
}

#[test]
fn data_pointing_outside_is_refused_and_not_followed() {
    let (_dir, target, outside) = target_and_outside("..1700000000.000000000.deadbeef", "a");
    let plants: [(&str, PathBuf); 4] = [
        ("absolute", outside.clone()),
        (
            "relative",
            PathBuf::from("../..1700000000.000000000.deadbeef"),
        ),
        ("not a generation", PathBuf::from("elsewhere")),
        (
            "symlinked generation",
            PathBuf::from("..1700000001.000000000.deadbeef"),
        ),
    ];
    symlink(&outside, target.join("..1700000001.000000000.deadbeef")).expect("gen link");
    symlink("..data/a", target.join("a")).expect("link a");
    for (case, points_to) in plants {
        let _ = fs::remove_file(target.join(DATA));
        symlink(&points_to, target.join(DATA)).expect("plant ..data");
        let err = write(&target, &[file("a", 0o644, b"new")]).expect_err(case);
        assert!(
            err.to_string().contains("not following it")
                || err.to_string().contains("symlinks are not followed"),
            "{case}: {err}"
        );
        assert_eq!(
            fs::read_link(target.join(DATA)).expect("..data"),
            points_to,
            "{case}"
        );
        assert_eq!(entries(&outside), ["a"], "{case}");
        assert_eq!(
            fs::read(outside.join("a")).expect("a"),
            b"outside",
            "{case}"
        );
    }
    fs::remove_file(target.join(DATA)).expect("rm");
    fs::create_dir(target.join(DATA)).expect("..data as a directory");
    let err = write(&target, &[file("a", 0o644, b"new")]).expect_err("dir");
    assert!(err.to_string().contains("..data is not a symlink"), "{err}");
}

#[test]
fn a_stopped_write_leaves_the_previous_set_and_no_generation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    assert!(write(target, &[file("a", 0o644, b"1")]).expect("first"));
    let before = data_link(target);
    let stop = Stop::default();
    let guard = stop.when_dropped();
    drop(guard);
    let err = write_all(target, &[file("a", 0o644, b"2")], true, &stop).expect_err("stopped");
    assert!(matches!(err, WriteError::Stopped(_)), "{err}");
    assert_eq!(data_link(target), before);
    assert_eq!(generations(target), [before]);
    assert_eq!(read(target, "a").0, b"1");
}

#[test]
fn abandoned_generations_and_links_are_removed_but_not_foreign_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    // What a crash before the first switch leaves: a generation and a temporary link.
    let abandoned = "..1700000000.123456789.0badf00d";
    fs::create_dir_all(target.join(abandoned).join("deep/er")).expect("abandoned");
    fs::write(target.join(abandoned).join("deep/er/secret"), b"plaintext").expect("plaintext");
    symlink(abandoned, target.join("..data_tmp.0123456789abcdef")).expect("tmp link");
    check_target(target, true).expect("only the writer's own leftovers: not foreign");
    assert!(write(target, &[file("a", 0o644, b"1")]).expect("write"));
    let current = data_link(target);
    assert_eq!(entries(target), sorted(&[DATA, &current, "a"]));

    // Later, names that only look like the writer's are foreign and stay.
    fs::write(target.join("..1700000000.123456789.0badf00d"), b"a file").expect("file");
    fs::create_dir(target.join("..2024_01_01_00_00_00.123")).expect("k8s-looking dir");
    assert!(write(target, &[file("a", 0o644, b"2")]).expect("write"));
    let names = entries(target);
    assert!(
        names.contains(&"..1700000000.123456789.0badf00d".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"..2024_01_01_00_00_00.123".to_owned()),
        "{names:?}"
    );
}

/// `one` and `dir/two` of one generation, as a reader that resolves `..data` once sees them
/// (trying again when that generation is replaced in between).
fn snapshot(target: &Path) -> (Vec<u8>, Vec<u8>) {
    loop {
        let generation = target.join(data_link(target));
        if let (Ok(one), Ok(two)) = (
            fs::read(generation.join("one")),
            fs::read(generation.join("dir/two")),
        ) {
            return (one, two);
        }
    }
}

#[test]
fn concurrent_writers_take_turns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().to_owned();
    let big = vec![b'x'; 256 * 1024];
    let threads: Vec<_> = (0..4u8)
        .map(|i| {
            let target = target.clone();
            let big = big.clone();
            std::thread::spawn(move || {
                let mine = [i; 16];
                for _ in 0..10 {
                    let files = [
                        file("one", 0o644, &mine),
                        file("dir/two", 0o600, &mine),
                        file("big", 0o644, &big),
                    ];
                    write(&target, &files).expect("write");
                    // Whatever a reader sees is one writer's complete set.
                    let (one, two) = snapshot(&target);
                    assert_eq!(one, two);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let generation = data_link(&target);
    assert_eq!(
        entries(&target),
        sorted(&[DATA, &generation, "big", "dir", "one"])
    );
}

#[test]
fn a_waiting_writer_gives_up_when_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path();
    let held = lock(
        fsat::open_dir(target).expect("open"),
        target,
        &Stop::default(),
    )
    .expect("lock");
    let stop = Stop::default();
    let waiting = {
        let target = target.to_owned();
        let stop = stop.clone();
        std::thread::spawn(move || write_all(&target, &[file("a", 0o644, b"x")], true, &stop))
    };
    std::thread::sleep(Duration::from_millis(50));
    stop.stop();
    let err = waiting.join().expect("thread").expect_err("stopped");
    assert!(matches!(err, WriteError::Stopped(_)), "{err}");
    drop(held);
    assert_eq!(entries(target), Vec::<String>::new(), "nothing written");
}

#[test]
fn removal_does_not_follow_symlinks_and_handles_deep_trees() {
    let (_dir, parent, outside) = target_and_outside("outside", "keep");
    let mut deep = parent.join("tree");
    for _ in 0..300 {
        deep = deep.join("d");
    }
    fs::create_dir_all(&deep).expect("deep");
    fs::write(deep.join("f"), b"x").expect("f");
    symlink(&outside, parent.join("tree/link")).expect("link");
    let fd = fsat::open_dir(&parent).expect("open");
    fsat::remove_tree(&fd, OsStr::new("tree")).expect("remove");
    assert_eq!(entries(&parent), Vec::<String>::new());
    assert_eq!(entries(&outside), ["keep"]);
}

#[test]
fn generation_names() {
    let name = layout::generation_name();
    assert!(layout::is_own_generation(&name), "{name}");
    assert!(layout::is_generation("..2024_05_01_10_20_30.1234567"));
    for not in [
        "..data",
        "..1.2.3",
        "..1700000000.000000000.DEADBEEF",
        "x",
        "..",
        "../x",
    ] {
        assert!(!layout::is_generation(not), "{not}");
    }
}
