"""Target paths like the ones kubelet hands the driver.

The driver mounts a tmpfs at each pod volume's target path before calling the
provider, so the suite does the same: a real `mount -t tmpfs` (tests run as
root). Where mounting is not permitted, a plain temporary directory is used
instead and that is said out loud.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


def is_tmpfs(path: str | os.PathLike[str]) -> bool:
    """Whether path is itself a tmpfs mount point (per /proc/self/mountinfo)."""
    want = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mount_point = left.split()[4].replace("\\040", " ")
            if mount_point == want and right.split()[0] == "tmpfs":
                return True
    return False


@contextlib.contextmanager
def target_path(parent: str | os.PathLike[str] | None = None, size: str = "16m") -> Iterator[Path]:
    """A fresh, empty target directory, tmpfs-mounted when allowed; removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="keywarden-target-", dir=parent))
    target = base / "mount"
    target.mkdir(mode=0o750)
    mounted = False
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        mounted = True
    else:
        print(
            f"[target] tmpfs mount not permitted ({proc.stderr.strip() or proc.returncode}); "
            f"using a plain directory {target}",
            file=sys.stderr,
        )
    try:
        yield target
    finally:
        if mounted:
            umount = subprocess.run(["umount", str(target)], capture_output=True, text=True)
            if umount.returncode != 0:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def clear(target: Path) -> Path:
    """Empty a target path between Mounts, as the driver's unpublish does (RemoveAll of its entries)."""
    for entry in list(target.iterdir()):
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        else:
            shutil.rmtree(entry)
    return target
