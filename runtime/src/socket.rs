//! The lifecycle of a server's unix socket: private from the first instant, never stolen.
//!
//! * A socket file left by a crashed process is removed; a socket some live process still
//!   answers on is not: the second instance refuses to start instead, or, with
//!   [`bind_when_free`], waits a bounded time for the live process to leave (a rolling update
//!   that starts the new instance before the old one stops) and then binds.
//! * The socket is bound under a temporary name, given its mode, then renamed into place, so it
//!   is never reachable with the umask's looser mode.
//! * The returned [`SocketGuard`] removes the file on drop, but only if it is still ours.
//! * [`bind_replacing`] is the one exception to "never stolen", for a successor that must take
//!   over without a moment where the path answers nothing: the new socket is renamed over the
//!   live one (atomic), new connections reach the successor, the predecessor keeps serving the
//!   connections it has and, its file gone, leaves the path alone when it stops.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another process is serving on the path.
    #[error("{}", crate::catalogue::socket_in_use(.path))]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Another process was still serving on the path when the wait for it ran out.
    #[error("{}", crate::catalogue::socket_still_in_use(.path, .waited))]
    StillInUse {
        /// The socket path.
        path: PathBuf,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// Something other than a socket sits at the path; we do not delete it.
    #[error("{}", crate::catalogue::socket_not_a_socket(.path))]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// A filesystem call failed.
    #[error("{}", crate::catalogue::socket_io(.action, .path, .source))]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SocketError + 'a {
    move |source| SocketError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Removes the socket file when dropped, if the file is still the one we created.
#[derive(Debug)]
pub struct SocketGuard {
    path: PathBuf,
    identity: FileIdentity,
}

/// Device, inode and change time: inode numbers alone are reused at once on tmpfs.
#[derive(Debug, PartialEq, Eq)]
struct FileIdentity(u64, u64, i64, i64);

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self(meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
    }
}

impl SocketGuard {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && FileIdentity::of(&meta) == self.identity
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What a server serves on: its unix socket, the guard that removes the socket file when
/// serving ends, and the admin HTTP listener unless `--http-addr off`.
#[derive(Debug)]
pub struct Listeners {
    /// The bound gRPC socket.
    pub socket: tokio::net::UnixListener,
    /// Removes the socket file when serving ends.
    pub socket_guard: SocketGuard,
    /// The admin HTTP listener, if any.
    pub http: Option<tokio::net::TcpListener>,
}

impl Listeners {
    /// Binds the socket at `path` with `mode` (see [`bind`]) beside an already bound `http`.
    pub fn bind(
        path: &Path,
        mode: u32,
        http: Option<tokio::net::TcpListener>,
    ) -> Result<Self, SocketError> {
        let (socket, socket_guard) = bind(path, mode)?;
        Ok(Self {
            socket,
            socket_guard,
            http,
        })
    }
}

/// Binds a listening unix socket at `path` with permission bits `mode`.
///
/// Must be called from within a Tokio runtime.
pub fn bind(
    path: &Path,
    mode: u32,
) -> Result<(tokio::net::UnixListener, SocketGuard), SocketError> {
    bind_with(path, mode, false)
}

/// Like [`bind`], but a socket a live process serves on is replaced instead of refused (see
/// the module documentation).
pub fn bind_replacing(
    path: &Path,
    mode: u32,
) -> Result<(tokio::net::UnixListener, SocketGuard), SocketError> {
    bind_with(path, mode, true)
}

/// How often [`bind_when_free`] probes a socket a live process holds.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Like [`bind`], but a socket a live process serves on is waited for, up to `wait`, instead of
/// refused at once: the path is probed every 200 ms and bound as soon as nothing answers on it
/// (the predecessor stopped and removed its file, or died and left a stale one). The
/// predecessor's socket is never replaced or removed while it answers. `wait` of zero is
/// [`bind`].
pub async fn bind_when_free(
    path: &Path,
    mode: u32,
    wait: std::time::Duration,
) -> Result<(tokio::net::UnixListener, SocketGuard), SocketError> {
    let started = tokio::time::Instant::now();
    let mut announced = false;
    loop {
        match bind_with(path, mode, false) {
            Err(SocketError::InUse { path }) => {
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(if wait.is_zero() {
                        SocketError::InUse { path }
                    } else {
                        SocketError::StillInUse { path, waited }
                    });
                }
                if !announced {
                    announced = true;
                    tracing::info!(path = %path.display(), ?wait,
                        "another live process serves on the socket; waiting for it to stop");
                }
                tokio::time::sleep(WAIT_POLL.min(wait - waited)).await;
            }
            Ok(bound) => {
                if announced {
                    tracing::info!(path = %path.display(), waited = ?started.elapsed(),
                        "the previous process left the socket; serving on it");
                }
                return Ok(bound);
            }
            Err(e) => return Err(e),
        }
    }
}

fn bind_with(
    path: &Path,
    mode: u32,
    replace_live: bool,
) -> Result<(tokio::net::UnixListener, SocketGuard), SocketError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
    }
    match remove_stale(path) {
        Err(SocketError::InUse { .. }) if replace_live => {
            tracing::info!(path = %path.display(), "taking the socket over from a live process");
        }
        other => other?,
    }

    // The socket is bound in a directory only this user can enter, given its mode there, and
    // renamed into place: between bind and chmod it has the umask's mode, and with a permissive
    // umask another user could connect in that window and be served after the rename.
    let staging_dir = private_dir(path)?;
    let staging = staging_dir.join("socket");
    let placed = std::os::unix::net::UnixListener::bind(&staging)
        .map_err(io_err("bind", &staging))
        .and_then(|listener| {
            std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))
                .map_err(io_err("set mode of", &staging))?;
            std::fs::rename(&staging, path).map_err(io_err("rename socket to", path))?;
            Ok(listener)
        });
    let _ = std::fs::remove_file(&staging);
    let _ = std::fs::remove_dir(&staging_dir);
    let listener = placed?;
    let meta = std::fs::symlink_metadata(path).map_err(io_err("stat", path))?;
    let guard = SocketGuard {
        path: path.to_owned(),
        identity: FileIdentity::of(&meta),
    };
    listener
        .set_nonblocking(true)
        .map_err(io_err("configure", path))?;
    let listener =
        tokio::net::UnixListener::from_std(listener).map_err(io_err("register", path))?;
    Ok((listener, guard))
}

/// A new directory beside `path`, mode 0700, for staging its socket.
fn private_dir(path: &Path) -> Result<std::path::PathBuf, SocketError> {
    use std::os::unix::fs::DirBuilderExt;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.with_file_name(format!(".{file_name}.{}.staging", std::process::id()));
    // A leftover of an earlier process with this pid: its socket and the directory itself
    // (`remove_dir_all` removes a symlink, never what it points to).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_err("bind: create the socket's staging directory", &dir))?;
    Ok(dir)
}

fn remove_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("stat", path)(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(SocketError::InUse {
            path: path.to_owned(),
        }),
        Err(e)
            if e.kind() == io::ErrorKind::ConnectionRefused
                || e.kind() == io::ErrorKind::NotFound =>
        {
            tracing::info!(path = %path.display(), "removing stale socket left by an earlier process");
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(io_err("remove stale socket", path)(e))
                }
                _ => Ok(()),
            }
        }
        Err(e) => Err(io_err("probe existing socket", path)(e)),
    }
}

#[cfg(test)]
mod tests;
