//! The provider's own write mode (`--write-mode provider`): the request's target path checked
//! before any AWS call, and the files written into it by the blocking writer, which stops and
//! removes what it started when the Mount is dropped (docs/reference.md §2.6).

use keywarden_proto::csi::MountResponse;

use crate::catalogue;
use crate::error::MountError;
use crate::writer::{self, FileToWrite};

pub(super) fn check_target_path(target: &str, allow_non_tmpfs: bool) -> Result<(), MountError> {
    let path = std::path::Path::new(target);
    let clean = path.is_absolute()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    if !clean {
        return Err(catalogue::bad_target_path(&crate::limits::quote(target)));
    }
    writer::check_target(path, allow_non_tmpfs)
        .map_err(|e| catalogue::target_refused(e.to_string()))
}

/// Writes the response's files into `target` and returns the response without them.
///
/// The blocking writer keeps running if this future is dropped (the Mount's deadline passed or
/// the caller went away), so dropping it sets the writer's `Stop`: the writer then writes no
/// further file, does not switch `..data`, and removes the generation it started.
pub(super) async fn write_files(
    target: &str,
    allow_non_tmpfs: bool,
    mut response: MountResponse,
) -> Result<MountResponse, MountError> {
    let target = std::path::PathBuf::from(target);
    let files = std::mem::take(&mut response.files);
    let stop = writer::Stop::default();
    let _stop_when_dropped = stop.when_dropped();
    let written = tokio::task::spawn_blocking(move || {
        let to_write: Vec<FileToWrite<'_>> = files
            .iter()
            .map(|f| FileToWrite {
                path: &f.path,
                mode: u32::try_from(f.mode).unwrap_or(0o644),
                contents: &f.contents,
            })
            .collect();
        // The contents share zeroizing buffers, wiped when their last reference drops.
        writer::write_all(&target, &to_write, allow_non_tmpfs, &stop)
    })
    .await
    .map_err(catalogue::write_incomplete)?;
    written?;
    Ok(response)
}
