//! Messages about writing a Mount's files into the target path (`--write-mode provider` and
//! `check --out`): the writer never removes or follows what it did not create.

use std::fmt::Display;

use keywarden_runtime::catalogue::codes::FailedPreconditionText;

use super::{Part, Precondition};

keywarden_runtime::catalogue! {
    "Writing the files",
    "With `--write-mode provider` (or `check --out`) the provider writes the files itself, \
     atomically through a `..data` link; these are `FAILED_PRECONDITION`, and the previous files \
     stay.";

    /// The target path is not usable (REASON is one of the parts below), checked before
    /// anything is fetched.
    Precondition fn target_refused(reason: String) = "{reason}";
    /// The message of a write that failed; REASON is one of the parts below.
    FailedPreconditionText fn cannot_write(reason: impl Display) = "cannot write the mount: {reason}";
    /// The target path and what is wrong with it.
    Part fn target(path: impl std::fmt::Debug, reason: impl Display) = "target path {path:?}: {reason}";
    /// The target path is a file or a symlink: the kubelet's target path is a directory.
    Part fn target_not_dir() = "is not a directory (symlinks are not followed)";
    /// Secrets must stay in memory: the driver mounts a tmpfs at the target path. Checked
    /// again right before writing. `--allow-non-tmpfs` is for tests only.
    Part fn target_not_tmpfs() =
        "is not a tmpfs mount; secrets must not reach persistent storage (see --allow-non-tmpfs)";
    /// The target could not be opened or inspected (REASON from the kernel, e.g. `Permission
    /// denied`): the provider needs the driver's mount directory (`/var/lib/kubelet/pods`)
    /// with `mountPropagation: HostToContainer`.
    Part fn target_unreadable(reason: impl Display) = "{reason}";
    /// The writer was pointed at a directory holding files it did not create; it never removes
    /// them: use an empty directory (the kubelet's target path is empty on first mount).
    Part fn target_not_empty(first_q: &str, data: &str) =
        "is not empty and has no {data} (found {first_q}); the writer only writes into an empty directory or one it wrote before, and never removes what it did not create";
    /// Something other than the writer changed `..data`. Nothing outside the target is read or
    /// removed; unmount and re-create the pod's volume.
    Part fn data_link_foreign(data: &str, link_q: &str) =
        "{data} points to {link_q}, which is not a generation directory of the target; not following it";
    /// As for the entry above.
    Part fn data_link_not_dir(data: &str, name_q: &str) =
        "{data} points to {name_q}, which is not a directory in the target (symlinks are not followed)";
    /// As for the entry above.
    Part fn data_not_link(data: &str) = "{data} is not a symlink; the writer only follows its own link";
    /// `check --out` was pointed at a directory another writer manages: a ConfigMap, Secret or
    /// projected volume, or one the CSI driver wrote. It only replaces what an earlier
    /// `check --out` wrote, and nothing was changed: give it a new or empty directory.
    Part fn data_link_not_own(data: &str, link_q: &str) =
        "{data} points to {link_q}, a generation this writer did not make (a Kubernetes volume's or another program's); check --out only replaces what an earlier check --out wrote";
    /// A file or directory in the target has the name of one of the Mount's top-level entries
    /// but is not the writer's link. Remove it, or pick another `objectAlias`.
    Part fn entry_foreign(name_q: &str, link: &str) =
        "entry {name_q} was not created by the writer; refusing to replace it with the link {link}";
    /// The Mount hit `--mount-timeout` or was cancelled while writing; the new generation was
    /// removed and the pod keeps the previous files. Kubelet retries.
    Part fn write_stopped(path: impl std::fmt::Debug) =
        "writing into {path:?} stopped before the switch (deadline or cancellation); the previous files stay";
    /// A file-system call failed (ACTION is `create`, `link`, `list`, `remove`, `lock`,
    /// `switch`, `read` or `inspect`; the reason is the kernel's): usually the tmpfs is full
    /// (the volume's size limit) or the pod's volume is being torn down.
    Part fn io_failed(action: &str, path: impl std::fmt::Debug, source: impl Display) =
        "{action} {path:?}: {source}";
    /// The SOURCE of a `remove` failure: a directory of an old generation kept gaining entries
    /// while the writer removed it (another process writes into the pod's volume).
    Part fn still_not_empty(passes: usize) = "still not empty after {passes} passes";
    /// The writer's thread ended without an answer (the provider is shutting down); kubelet
    /// retries.
    Precondition fn write_incomplete(reason: impl Display) = "writing files did not complete: {reason}";
}
