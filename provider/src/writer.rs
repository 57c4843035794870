//! Writing a mount's files ourselves, with the Kubernetes atomic-writer layout, for
//! `--write-mode provider` and `check --out`.
//!
//! Files go into a fresh `..<timestamp>.<random>` directory; `..data` is switched to it with one
//! `rename`, so readers see the old set or the new set, never a mix. Top-level entries are
//! symlinks into `..data`. Entries no longer in the set and the old directory are removed
//! afterwards. Paths were validated earlier (`mount_path`); here every file is created with
//! `O_EXCL | O_NOFOLLOW` inside the directory we just made, so nothing is written through a
//! symlink. An unchanged set is not rewritten.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

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
    /// The target is not a usable directory.
    #[error("target path {0}: {1}")]
    Target(PathBuf, String),
    /// A filesystem call failed.
    #[error("{action} {path}: {source}")]
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

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Checks that `target` is a real directory (not a symlink) on tmpfs, unless `allow_non_tmpfs`.
pub fn check_target(target: &Path, allow_non_tmpfs: bool) -> Result<(), WriteError> {
    let meta = fs::symlink_metadata(target)
        .map_err(|e| WriteError::Target(target.to_owned(), e.to_string()))?;
    if !meta.file_type().is_dir() {
        return Err(WriteError::Target(
            target.to_owned(),
            "is not a directory (symlinks are not followed)".into(),
        ));
    }
    if !allow_non_tmpfs {
        let stat = nix::sys::statfs::statfs(target)
            .map_err(|e| WriteError::Target(target.to_owned(), e.to_string()))?;
        if stat.filesystem_type() != nix::sys::statfs::TMPFS_MAGIC {
            return Err(WriteError::Target(
                target.to_owned(),
                "is not a tmpfs mount; secrets must not reach persistent storage (see --allow-non-tmpfs)".into(),
            ));
        }
    }
    Ok(())
}

/// Replaces the contents of `target` with `files`. Returns false when nothing changed.
pub fn write_all(target: &Path, files: &[FileToWrite<'_>]) -> Result<bool, WriteError> {
    if unchanged(target, files) {
        return Ok(false);
    }
    let old_dir = fs::read_link(target.join(DATA)).ok();
    let ts_name = timestamped_name();
    let ts_dir = target.join(&ts_name);
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&ts_dir)
        .map_err(io("create", &ts_dir))?;
    let written = write_tree(&ts_dir, files).and_then(|()| {
        let tmp = target.join(DATA_TMP);
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&ts_name, &tmp).map_err(io("link", &tmp))?;
        fs::rename(&tmp, target.join(DATA)).map_err(io("switch", &tmp))
    });
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&ts_dir);
        return Err(e);
    }

    let tops: BTreeSet<&str> = files
        .iter()
        .map(|f| f.path.split('/').next().unwrap_or(f.path))
        .collect();
    for top in &tops {
        let link = target.join(top);
        match fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => continue,
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&link).map_err(io("replace", &link))?,
            Ok(_) => fs::remove_file(&link).map_err(io("replace", &link))?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(Path::new(DATA).join(top), &link).map_err(io("link", &link))?;
    }
    for entry in fs::read_dir(target).map_err(io("list", target))?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("..") && !tops.contains(name.as_ref()) {
            let path = entry.path();
            let _ = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
    if let Some(old) = old_dir.filter(|old| old.as_os_str() != ts_name.as_str()) {
        let old = target.join(old);
        if old.starts_with(target)
            && old
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".."))
        {
            let _ = fs::remove_dir_all(old);
        }
    }
    Ok(true)
}

fn write_tree(root: &Path, files: &[FileToWrite<'_>]) -> Result<(), WriteError> {
    for file in files {
        let path = root.join(file.path);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io("create directory", parent))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io("create", &path))?;
        out.write_all(file.contents).map_err(io("write", &path))?;
        out.set_permissions(fs::Permissions::from_mode(file.mode))
            .map_err(io("set mode of", &path))?;
    }
    Ok(())
}

/// True when `..data` already holds exactly these files with these contents and modes.
fn unchanged(target: &Path, files: &[FileToWrite<'_>]) -> bool {
    let data = target.join(DATA);
    let Ok(current) = fs::read_link(&data) else {
        return false;
    };
    let dir = target.join(current);
    let same_files = files.iter().all(|f| {
        let path = dir.join(f.path);
        fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == f.mode)
            && fs::read(&path).is_ok_and(|c| c == f.contents)
    });
    same_files && count_files(&dir) == files.len()
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => count_files(&e.path()),
                    Ok(t) if t.is_file() => 1,
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(usize::MAX)
}

fn timestamped_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut random = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("..{}.{:09}.{suffix}", now.as_secs(), now.subsec_nanos())
}

#[cfg(test)]
mod tests;
