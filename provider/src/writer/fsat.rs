//! Filesystem calls relative to an open directory, never following a symlink, so that nothing
//! the writer does can be redirected out of the target by an entry someone planted in it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, RenameFlags};
use nix::sys::stat::{self, Mode, SFlag};
use nix::unistd::{self, UnlinkatFlags};
use zeroize::Zeroizing;

/// Most passes `remove_tree` makes over one directory (each pass flattens one level), so that a
/// tree someone keeps growing cannot hold the writer forever.
const MAX_REMOVE_PASSES: usize = 4096;

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// What an entry is, read without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// Opens the directory `path` (a plain path: the target itself) without following a final
/// symlink.
pub(super) fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    Ok(fcntl::open(path, DIR_FLAGS, Mode::empty())?)
}

/// Opens the directory `name` directly inside `dir`, refusing a symlink.
pub(super) fn open_dir_at(dir: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(fcntl::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// Opens the directory `rel` (`a/b`, or empty for `root` itself) under `root`, one element at
/// a time, refusing a symlink at every step.
pub(super) fn open_dir_beneath(root: &OwnedFd, rel: &str) -> io::Result<OwnedFd> {
    let mut current = open_dir_at(root, OsStr::new("."))?;
    for element in rel.split('/').filter(|e| !e.is_empty()) {
        current = open_dir_at(&current, OsStr::new(element))?;
    }
    Ok(current)
}

/// The kind of `name` inside `dir`, or `None` when it does not exist.
pub(super) fn kind_at(dir: impl AsFd, name: &OsStr) -> io::Result<Option<Kind>> {
    match stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(kind_of(st.st_mode))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn kind_of(mode: nix::libc::mode_t) -> Kind {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// The entries of `dir` (without `.` and `..`) and their kinds.
pub(super) fn list(dir: impl AsFd) -> io::Result<Vec<(OsString, Kind)>> {
    let mut listing = Dir::openat(dir, ".", DIR_FLAGS, Mode::empty())?;
    let mut entries = Vec::new();
    let mut unknown = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
        if name == "." || name == ".." {
            continue;
        }
        match entry.file_type() {
            Some(Type::Directory) => entries.push((name, Kind::Dir)),
            Some(Type::File) => entries.push((name, Kind::File)),
            Some(Type::Symlink) => entries.push((name, Kind::Symlink)),
            Some(_) => entries.push((name, Kind::Other)),
            None => unknown.push(name),
        }
    }
    for name in unknown {
        if let Some(kind) = kind_at(&listing, &name)? {
            entries.push((name, kind));
        }
    }
    Ok(entries)
}

/// The contents of the symlink `name` in `dir`; `None` when there is no such entry, an error
/// when it is not a symlink.
pub(super) fn read_link_at(dir: impl AsFd, name: &str) -> io::Result<Option<OsString>> {
    match fcntl::readlinkat(dir, name) {
        Ok(link) => Ok(Some(link)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates the symlink `name -> points_to` in `dir`; fails if `name` exists.
pub(super) fn symlink_at(dir: impl AsFd, name: &str, points_to: &str) -> io::Result<()> {
    Ok(unistd::symlinkat(points_to, dir, name)?)
}

/// Renames `from` to `to`, both in `dir`, replacing `to`.
pub(super) fn rename_at(dir: impl AsFd + Copy, from: &str, to: &str) -> io::Result<()> {
    Ok(fcntl::renameat(dir, from, dir, to)?)
}

/// Removes the non-directory `name` from `dir` (a symlink itself, never what it points to).
pub(super) fn unlink_at(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    Ok(unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)?)
}

/// Creates the directory `name` in `dir` with exactly `mode`; fails if it exists.
pub(super) fn create_dir_at(dir: impl AsFd, name: &str, mode: u32) -> io::Result<OwnedFd> {
    let dir = dir.as_fd();
    stat::mkdirat(dir, name, Mode::from_bits_truncate(mode))?;
    let created = open_dir_at(dir, OsStr::new(name))?;
    stat::fchmod(&created, Mode::from_bits_truncate(mode))?;
    Ok(created)
}

/// Creates the file `path` (with its missing parent directories, mode `dir_mode`) under `root`,
/// which the writer created itself, and writes `contents` with exactly `mode`.
pub(super) fn create_file(
    root: &OwnedFd,
    path: &str,
    mode: u32,
    dir_mode: u32,
    contents: &[u8],
) -> io::Result<()> {
    let (parents, name) = path.rsplit_once('/').unwrap_or(("", path));
    let mut parent = open_dir_at(root, OsStr::new("."))?;
    for element in parents.split('/').filter(|e| !e.is_empty()) {
        parent = match create_dir_at(&parent, element, dir_mode) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                open_dir_at(&parent, OsStr::new(element))?
            }
            other => other?,
        };
    }
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut file = File::from(fcntl::openat(
        &parent,
        name,
        flags,
        Mode::from_bits_truncate(mode),
    )?);
    file.write_all(contents)?;
    stat::fchmod(&file, Mode::from_bits_truncate(mode))?;
    Ok(())
}

/// The contents and mode of the regular file `path` under `root`, or `None` when it is missing,
/// not a regular file, or reached through a symlink. The bytes are wiped when dropped.
pub(super) fn read_file(
    root: &OwnedFd,
    path: &str,
) -> io::Result<Option<(Zeroizing<Vec<u8>>, u32)>> {
    let (parents, name) = path.rsplit_once('/').unwrap_or(("", path));
    let not_there = |e: &io::Error| {
        matches!(
            e.raw_os_error(),
            Some(nix::libc::ENOENT | nix::libc::ELOOP | nix::libc::ENOTDIR)
        )
    };
    let parent = match open_dir_beneath(root, parents) {
        Err(e) if not_there(&e) => return Ok(None),
        other => other?,
    };
    // O_NONBLOCK: a FIFO planted in place of a file must not hang the open.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match fcntl::openat(&parent, name, flags, Mode::empty()) {
        Err(e) if not_there(&e.into()) => return Ok(None),
        other => other?,
    };
    let st = stat::fstat(&fd)?;
    if kind_of(st.st_mode) != Kind::File {
        return Ok(None);
    }
    let size = usize::try_from(st.st_size).unwrap_or(usize::MAX);
    let mut contents = Zeroizing::new(Vec::with_capacity(size.saturating_add(1).min(1 << 24)));
    File::from(fd)
        .take(u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut contents)?;
    Ok(Some((contents, st.st_mode & 0o7777)))
}

/// Removes the directory `name` in `dir` and everything under it, never following a symlink
/// and with a bounded number of open descriptors at any depth: each pass moves the contents of
/// every subdirectory up one level (under fresh names) and removes the emptied subdirectory.
pub(super) fn remove_tree(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dir = dir.as_fd();
    let root = open_dir_at(dir, name)?;
    let mut fresh = 0u64;
    for _ in 0..MAX_REMOVE_PASSES {
        let entries = list(&root)?;
        if entries.is_empty() {
            drop(root);
            return Ok(unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir)?);
        }
        for (entry, kind) in entries {
            if kind != Kind::Dir {
                unlink_at(&root, &entry)?;
                continue;
            }
            let sub = open_dir_at(&root, &entry)?;
            for (child, _) in list(&sub)? {
                loop {
                    fresh += 1;
                    let to = format!("..removing.{fresh}");
                    match fcntl::renameat2(
                        &sub,
                        &*child,
                        &root,
                        to.as_str(),
                        RenameFlags::RENAME_NOREPLACE,
                    ) {
                        Err(Errno::EEXIST) => continue,
                        other => break other?,
                    }
                }
            }
            unistd::unlinkat(&root, &*entry, UnlinkatFlags::RemoveDir)?;
        }
    }
    Err(io::Error::other(crate::catalogue::still_not_empty(
        MAX_REMOVE_PASSES,
    )))
}
