//! Writing a mount's files ourselves, with the Kubernetes atomic-writer layout, for
//! `--write-mode provider` and `check --out`, touching nothing the writer did not create.
//!
//! Files go into a fresh generation directory `..<seconds>.<nanoseconds>.<random>`; `..data` is
//! switched to it by renaming a uniquely named temporary link over it, so readers see the old
//! set or the new set, never a mix. Top-level entries are symlinks `<name> -> ..data/<name>`.
//! The rules (docs/security-model.md, "The provider's file writer"):
//!
//! - Every call works through one descriptor of the target, opened without following a symlink;
//!   everything inside is reached relative to it, one element at a time, with `O_NOFOLLOW`
//!   (`fsat`). The tmpfs check is made on that descriptor, so it covers what is written.
//! - Writers of one target take turns: an exclusive `flock` on the target's descriptor, held
//!   for the whole write, including the clean-up of a stopped write.
//! - `..data` is accepted only as a symlink to a generation directory directly inside the
//!   target; a target without `..data` must be empty (but for what this writer abandoned).
//!   For a pod's volume that generation may be the Kubernetes atomic writer's (the driver wrote
//!   the volume before); for `check --out` ([`Rules::CHECK_OUT`]) only the writer's own, so a
//!   ConfigMap, Secret or projected volume's directory is refused, never replaced.
//! - `check --out` writes onto an operator's disk, so its files are narrowed to 0600 and its
//!   directories are 0700 whatever the SecretProviderClass asks for pods.
//! - Only the writer's own entries are removed: links of the previous generation's top-level
//!   names that are no longer in the set, the previous generation, and generations or temporary
//!   links of its own naming that `..data` does not name (left by a crash or a stopped write).
//!   An entry the writer did not create where one of its links must go fails the write.
//! - `Stop` is checked while waiting for the lock, before each file and right before the switch;
//!   a stopped write removes its new generation and leaves the previous set in place.
//! - An unchanged set is not rewritten; that comparison follows nothing and wipes what it read.

mod fsat;
mod layout;

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use layout::{DATA, Layout};

use crate::catalogue;

/// How long a writer sleeps between attempts to take a target's lock.
const LOCK_POLL: Duration = Duration::from_millis(10);
/// How many fresh names are tried when one is already taken.
const NAME_ATTEMPTS: usize = 8;

/// One file to write.
#[derive(Debug)]
pub struct FileToWrite<'a> {
    /// Relative path, already validated.
    pub path: &'a str,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub contents: &'a [u8],
}

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target is not a directory the writer may write into.
    #[error("{}", catalogue::target(.0, .1))]
    Target(PathBuf, String),
    /// The write was stopped (the Mount's deadline passed or it was cancelled) before the switch.
    #[error("{}", catalogue::write_stopped(.0))]
    Stopped(PathBuf),
    /// A filesystem call failed.
    #[error("{}", catalogue::io_failed(.action, .path, .source))]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn io_at<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Tells a running write to stop. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Asks the write to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it was asked to stop.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// A guard that asks the write to stop when dropped (with the future that awaits it).
    pub fn when_dropped(&self) -> StopWhenDropped {
        StopWhenDropped(self.clone())
    }
}

/// Stops a write when dropped; see [`Stop::when_dropped`].
#[derive(Debug)]
pub struct StopWhenDropped(Stop);

impl Drop for StopWhenDropped {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Who the files are for: what the writer accepts to replace in the target, and how widely
/// readable it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Write outside tmpfs too.
    allow_non_tmpfs: bool,
    /// Accept a `..data` that names a generation of the Kubernetes atomic writer.
    kubernetes_generations: bool,
    /// The widest permission bits a file gets; the requested mode is narrowed to them.
    max_file_mode: u32,
    /// Mode of the directories the writer creates.
    dir_mode: u32,
}

impl Rules {
    /// A pod's volume (`--write-mode provider`): on tmpfs unless `allow_non_tmpfs`, files with
    /// the modes asked for, directories 0755, and a volume the driver wrote before (the
    /// Kubernetes atomic writer's `..YYYY_MM_DD_HH_MM_SS.<suffix>` generation) is taken over.
    pub const fn volume(allow_non_tmpfs: bool) -> Self {
        Self {
            allow_non_tmpfs,
            kubernetes_generations: true,
            max_file_mode: 0o7777,
            dir_mode: 0o755,
        }
    }

    /// An operator's directory (`check --out`), on any file system: only what an earlier
    /// `check --out` wrote is replaced, files are at most 0600 and directories 0700.
    pub const CHECK_OUT: Self = Self {
        allow_non_tmpfs: true,
        kubernetes_generations: false,
        max_file_mode: 0o600,
        dir_mode: 0o700,
    };

    fn file_mode(&self, mode: u32) -> u32 {
        mode & self.max_file_mode
    }
}

/// Checks, before anything is fetched, that `target` is a directory (not a symlink) on tmpfs
/// (unless `allow_non_tmpfs`) that the writer may write into. `write_all` checks again.
pub fn check_target(target: &Path, allow_non_tmpfs: bool) -> Result<(), WriteError> {
    check_target_with(target, Rules::volume(allow_non_tmpfs))
}

/// [`check_target`] under `rules`.
pub fn check_target_with(target: &Path, rules: Rules) -> Result<(), WriteError> {
    let dir = open_target(target, rules.allow_non_tmpfs)?;
    Layout::read(&dir, target, rules.kubernetes_generations).map(drop)
}

fn open_target(target: &Path, allow_non_tmpfs: bool) -> Result<OwnedFd, WriteError> {
    let refuse = |reason: String| WriteError::Target(target.to_owned(), reason);
    let dir = fsat::open_dir(target).map_err(|e| match e.raw_os_error() {
        Some(nix::libc::ELOOP | nix::libc::ENOTDIR) => refuse(catalogue::target_not_dir()),
        _ => refuse(catalogue::target_unreadable(e)),
    })?;
    if !allow_non_tmpfs {
        let fs =
            nix::sys::statfs::fstatfs(&dir).map_err(|e| refuse(catalogue::target_unreadable(e)))?;
        if fs.filesystem_type() != nix::sys::statfs::TMPFS_MAGIC {
            return Err(refuse(catalogue::target_not_tmpfs()));
        }
    }
    Ok(dir)
}

/// Replaces the files in `target` (a pod's volume) with `files`. Returns false when nothing
/// changed.
pub fn write_all(
    target: &Path,
    files: &[FileToWrite<'_>],
    allow_non_tmpfs: bool,
    stop: &Stop,
) -> Result<bool, WriteError> {
    write_with(target, files, Rules::volume(allow_non_tmpfs), stop)
}

/// [`write_all`] under `rules`.
pub fn write_with(
    target: &Path,
    files: &[FileToWrite<'_>],
    rules: Rules,
    stop: &Stop,
) -> Result<bool, WriteError> {
    let dir = lock(open_target(target, rules.allow_non_tmpfs)?, target, stop)?;
    let dir: &OwnedFd = &dir;
    let layout = Layout::read(dir, target, rules.kubernetes_generations)?;
    for (name, kind) in &layout.abandoned {
        // Best effort: a later write tries again.
        let _ = match kind {
            fsat::Kind::Dir => fsat::remove_tree(dir, OsStr::new(name)),
            _ => fsat::unlink_at(dir, OsStr::new(name)),
        };
    }
    if let Some(current) = &layout.current
        && layout::unchanged(dir, current, files, &layout, |mode| rules.file_mode(mode))
    {
        return Ok(false);
    }
    let tops = layout::top_level(files);
    if let Some(taken) = tops.iter().find(|t| layout.foreign.contains(**t)) {
        return Err(WriteError::Target(
            target.to_owned(),
            catalogue::entry_foreign(&crate::limits::quote(taken), &layout::link_to(taken)),
        ));
    }

    let generation = Generation::create(dir, target, rules.dir_mode)?;
    for file in files {
        if stop.is_stopped() {
            return Err(WriteError::Stopped(target.to_owned()));
        }
        let path = target.join(&generation.name).join(file.path);
        fsat::create_file(
            &generation.dir,
            file.path,
            rules.file_mode(file.mode),
            rules.dir_mode,
            file.contents,
        )
        .map_err(io_at("create", &path))?;
    }
    if stop.is_stopped() {
        return Err(WriteError::Stopped(target.to_owned()));
    }
    let new = generation.switch(dir, target)?;

    // From here on the new set is what readers see; what follows only completes its layout.
    for top in &tops {
        if !layout.links.contains(*top) {
            fsat::symlink_at(dir, top, &layout::link_to(top))
                .map_err(io_at("link", &target.join(top)))?;
        }
    }
    if let Some(previous) = layout.current.filter(|p| *p != new) {
        let listed = fsat::open_dir_at(dir, OsStr::new(&previous))
            .and_then(fsat::list)
            .map_err(io_at("list", &target.join(&previous)))?;
        for (name, _) in listed {
            let Some(name) = name.to_str() else { continue };
            if !tops.contains(name) && layout.links.contains(name) {
                fsat::unlink_at(dir, OsStr::new(name))
                    .map_err(io_at("remove", &target.join(name)))?;
            }
        }
        fsat::remove_tree(dir, OsStr::new(&previous))
            .map_err(io_at("remove", &target.join(&previous)))?;
    }
    Ok(true)
}

/// Takes the exclusive lock on the target, waiting for another writer until `stop`.
fn lock(dir: OwnedFd, target: &Path, stop: &Stop) -> Result<Flock<OwnedFd>, WriteError> {
    let mut dir = dir;
    loop {
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((fd, Errno::EWOULDBLOCK | Errno::EINTR)) => {
                if stop.is_stopped() {
                    return Err(WriteError::Stopped(target.to_owned()));
                }
                dir = fd;
                std::thread::sleep(LOCK_POLL);
            }
            Err((_, e)) => return Err(io_at("lock", target)(e.into())),
        }
    }
}

/// A new generation directory, removed when dropped unless `..data` was switched to it.
struct Generation<'a> {
    parent: &'a OwnedFd,
    name: String,
    dir: OwnedFd,
    switched: bool,
}

impl<'a> Generation<'a> {
    fn create(parent: &'a OwnedFd, target: &Path, mode: u32) -> Result<Self, WriteError> {
        let (name, dir) = fresh(target, "create", layout::generation_name, |name| {
            fsat::create_dir_at(parent, name, mode)
        })?;
        Ok(Self {
            parent,
            name,
            dir,
            switched: false,
        })
    }

    /// Points `..data` at this generation with one rename; returns its name.
    fn switch(mut self, dir: &OwnedFd, target: &Path) -> Result<String, WriteError> {
        let (tmp, ()) = fresh(target, "link", layout::tmp_link_name, |tmp| {
            fsat::symlink_at(dir, tmp, &self.name)
        })?;
        if let Err(e) = fsat::rename_at(dir.as_fd(), &tmp, DATA) {
            let _ = fsat::unlink_at(dir, OsStr::new(&tmp));
            return Err(io_at("switch", &target.join(DATA))(e));
        }
        self.switched = true;
        Ok(std::mem::take(&mut self.name))
    }
}

impl Drop for Generation<'_> {
    fn drop(&mut self) {
        if !self.switched {
            let _ = fsat::remove_tree(self.parent, OsStr::new(&self.name));
        }
    }
}

/// Creates an entry under a fresh name from `name`, trying again when the name is taken.
fn fresh<T>(
    target: &Path,
    action: &'static str,
    name: fn() -> String,
    create: impl Fn(&str) -> std::io::Result<T>,
) -> Result<(String, T), WriteError> {
    let mut attempt = 0;
    loop {
        let candidate = name();
        match create(&candidate) {
            Ok(made) => return Ok((candidate, made)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < NAME_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(io_at(action, &target.join(candidate))(e)),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod check_out_tests;
