"""What the Secrets Store CSI driver does with MountResponse.files.

A faithful Python rendering of the driver's file writer (reference
docs/reference.md §8.2: pkg/util/fileutil/writer.go and the Kubernetes
AtomicWriter it vendors), so that a provider passing this suite produces files
the real driver accepts and lays out the same way:

- every path is validated first (validate_path), and one bad path fails the
  whole write before anything touches the disk;
- paths whose first component exists as a non-symlink (legacy provider-written
  files) are removed;
- the payload goes into a fresh hidden `..YYYY_MM_DD_HH_MM_SS.<rand>` directory,
  each file written with its mode and then chmod-ed to it (umask-independent);
- `..data_tmp -> <tsdir>` is created and renamed over `..data`, top-level
  `<first component> -> ..data/<first component>` symlinks are created, paths
  that left the payload are removed, the old timestamped dir is deleted;
- nothing is rewritten when every file's content is unchanged and nothing was
  removed (mode-only changes are not applied, as in the driver).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_PATH_LENGTH = 4096
MAX_FILE_NAME_LENGTH = 255
DATA_DIR_NAME = "..data"
NEW_DATA_DIR_NAME = "..data_tmp"


class InvalidPath(ValueError):
    """A payload path the driver would refuse (the Mount fails with FileWriteError)."""


@dataclass(frozen=True)
class Payload:
    """One file as the provider returned it."""

    path: str
    mode: int
    contents: bytes


def go_clean(p: str) -> str:
    """Go's filepath.Clean for the relative, non-empty paths that reach it.

    posixpath.normpath differs from Go only for inputs rejected earlier
    (empty, or absolute with a leading '//').
    """
    return posixpath.normpath(p)


def validate_path(p: str) -> None:
    """Raise InvalidPath exactly where the driver's validatePath/Validate would."""
    if p == "":
        raise InvalidPath(f"invalid path: must not be empty: {p!r}")
    if posixpath.isabs(p):
        raise InvalidPath(f"invalid path: must be relative path: {p}")
    if len(p.encode()) > MAX_PATH_LENGTH:
        raise InvalidPath(f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = p.split("/")
    for item in items:
        if item == "..":
            raise InvalidPath(f"invalid path: must not contain '..': {p}")
        if len(item.encode()) > MAX_FILE_NAME_LENGTH:
            raise InvalidPath(
                f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise InvalidPath(f"invalid path: must not start with '..': {p}")
    if go_clean(p) != p:
        raise InvalidPath(f"invalid path: must be clean, {p!r} != {go_clean(p)!r}")


def validate(payloads: list[Payload]) -> None:
    for payload in payloads:
        validate_path(payload.path)


def write_payloads(target_dir: str | os.PathLike[str], payloads: list[Payload]) -> bool:
    """Write the payload as the driver does. Returns False when nothing needed writing.

    An empty payload is a no-op, as in the driver (legacy "provider writes its own files").
    """
    target = Path(target_dir)
    validate(payloads)
    if not payloads:
        return False
    # Legacy cleanup: a non-symlink at the first component is removed.
    for payload in payloads:
        first = target / payload.path.split("/")[0]
        try:
            st = os.lstat(first)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(first)
        else:
            first.unlink()
    # Duplicate paths collapse into a map: the last one wins.
    files: dict[str, Payload] = {}
    for payload in payloads:
        files[go_clean(payload.path)] = payload
    return _atomic_write(target, files)


def _atomic_write(target: Path, payload: dict[str, Payload]) -> bool:
    data_dir = target / DATA_DIR_NAME
    try:
        old_ts_dir = os.readlink(data_dir)
    except FileNotFoundError:
        old_ts_dir = ""
    old_ts_path = target / old_ts_dir
    to_remove: set[str] = set()
    if old_ts_dir:
        to_remove = _paths_to_remove(payload, old_ts_path)
        if not _should_write_payload(payload, old_ts_path) and not to_remove:
            return False

    ts_dir = Path(
        tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()), dir=target)
    )
    os.chmod(ts_dir, 0o755)
    _write_payload_to_dir(payload, ts_dir)

    new_data_dir = target / NEW_DATA_DIR_NAME
    try:
        os.symlink(ts_dir.name, new_data_dir)
    except OSError:
        shutil.rmtree(ts_dir, ignore_errors=True)
        raise
    os.rename(new_data_dir, data_dir)

    _create_user_visible_files(target, payload)
    for p in to_remove:
        # Only top-level entries are user-visible symlinks.
        if "/" in p:
            continue
        try:
            os.remove(target / p)
        except FileNotFoundError:
            pass
    if old_ts_dir:
        shutil.rmtree(old_ts_path, ignore_errors=True)
    return True


def _paths_to_remove(payload: dict[str, Payload], old_ts_path: Path) -> set[str]:
    old: set[str] = set()
    for root, dirs, names in os.walk(old_ts_path):
        for name in dirs + names:
            old.add(os.path.relpath(os.path.join(root, name), old_ts_path))
    new: set[str] = set()
    for p in payload:
        sub = p
        while sub:
            new.add(sub)
            sub = posixpath.dirname(sub)
    return old - new


def _should_write_payload(payload: dict[str, Payload], old_ts_path: Path) -> bool:
    for p, item in payload.items():
        existing = old_ts_path / p
        if not os.path.lexists(existing):
            return True
        if existing.read_bytes() != item.contents:
            return True
    return False


def _write_payload_to_dir(payload: dict[str, Payload], ts_dir: Path) -> None:
    for p, item in payload.items():
        full = ts_dir / p
        full.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, item.mode)
        with os.fdopen(fd, "wb") as f:
            f.write(item.contents)
        os.chmod(full, item.mode)


def _create_user_visible_files(target: Path, payload: dict[str, Payload]) -> None:
    for p in payload:
        link = p.split("/")[0]
        visible = target / link
        if not os.path.lexists(visible):
            os.symlink(posixpath.join(DATA_DIR_NAME, link), visible)


def read_visible_files(target_dir: str | os.PathLike[str]) -> dict[str, tuple[bytes, int]]:
    """Every regular file a pod would see under target_dir: relative path -> (bytes, mode).

    Follows the `<name> -> ..data/<name>` symlinks and skips the hidden `..*` entries,
    like the driver's GetMountedFiles.
    """
    target = Path(target_dir)
    out: dict[str, tuple[bytes, int]] = {}
    for entry in sorted(os.listdir(target)):
        if entry.startswith(".."):
            continue
        top = target / entry
        if top.is_dir():
            for root, _dirs, names in os.walk(top, followlinks=True):
                for name in names:
                    full = Path(root) / name
                    rel = str(full.relative_to(target))
                    out[rel] = (full.read_bytes(), stat.S_IMODE(full.stat().st_mode))
        else:
            out[entry] = (top.read_bytes(), stat.S_IMODE(top.stat().st_mode))
    return out


def tree(target_dir: str | os.PathLike[str]) -> list[str]:
    """A listing of everything under target_dir (hidden entries included), for people."""
    target = Path(target_dir)
    lines: list[str] = []

    def walk(d: Path, depth: int) -> None:
        for entry in sorted(os.listdir(d)):
            full = d / entry
            st = os.lstat(full)
            indent = "  " * depth
            if stat.S_ISLNK(st.st_mode):
                lines.append(f"{indent}{entry} -> {os.readlink(full)}")
            elif stat.S_ISDIR(st.st_mode):
                lines.append(f"{indent}{entry}/  ({stat.S_IMODE(st.st_mode):04o})")
                walk(full, depth + 1)
            else:
                lines.append(f"{indent}{entry}  ({stat.S_IMODE(st.st_mode):04o}, {st.st_size} bytes)")

    walk(target, 0)
    return lines


# --- oracles for the provider's own writer (`--write-mode provider`, `check --out`) ---------


def generations(target_dir: str | os.PathLike[str]) -> list[str]:
    """The hidden entries of a target other than `..data`: timestamped generations (and any
    temporary link a writer left), read straight from the directory."""
    return sorted(e for e in os.listdir(target_dir) if e.startswith("..") and e != DATA_DIR_NAME)


def files_containing(root: str | os.PathLike[str], needle: bytes) -> list[str]:
    """Every regular file under root, symlinks never followed, whose bytes contain needle
    (paths relative to root): where a secret value ended up, whatever the layout."""
    hits: list[str] = []
    for dirpath, _dirs, names in os.walk(root, followlinks=False):
        for name in names:
            full = os.path.join(dirpath, name)
            try:
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue  # a symlink (ELOOP) or gone
            with os.fdopen(fd, "rb") as f:
                if stat.S_ISREG(os.fstat(f.fileno()).st_mode) and needle in f.read():
                    hits.append(os.path.relpath(full, root))
    return sorted(hits)


def tree_paths(root: str | os.PathLike[str]) -> list[str]:
    """Every entry under root (root itself as "."), symlinks not followed, relative and sorted."""
    paths = ["."]
    for dirpath, dirs, names in os.walk(root, followlinks=False):
        paths += [os.path.relpath(os.path.join(dirpath, n), root) for n in [*dirs, *names]]
    return sorted(paths)


AGED_ATIME_NS = 1_000_000_000 * 10**9  # 2001-09-09: older than any mtime, and than relatime's day


def age(root: str | os.PathLike[str], paths: list[str]) -> None:
    """Set the access time of each path (symlinks themselves) far into the past, mtime kept.

    Reading a file or listing a directory afterwards moves its atime forward (relatime updates
    an atime older than the mtime), so `atimes` then tells whether anyone read or listed it.
    """
    for rel in paths:
        full = os.path.join(root, rel)
        st = os.lstat(full)
        os.utime(full, ns=(AGED_ATIME_NS, st.st_mtime_ns), follow_symlinks=False)


def atimes(root: str | os.PathLike[str], paths: list[str]) -> dict[str, int]:
    """The access time of each path, read with lstat only (no listing, no read)."""
    return {rel: os.lstat(os.path.join(root, rel)).st_atime_ns for rel in paths}
