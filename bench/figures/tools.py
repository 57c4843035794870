"""The binaries a run uses and how they are run.

The release builds of keywarden-provider and keywarden-kms run as the e2e
harness runs its servers (harness/provider.py, harness/kms_plugin.py, with
their `binary=` override); the bench binary's commands print one JSON document
each. Memory is read from /proc/<pid>/status.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Binaries:
    """Paths of the release binaries."""

    release_dir: Path

    @property
    def provider(self) -> Path:
        return self.release_dir / "keywarden-provider"

    @property
    def kms(self) -> Path:
        return self.release_dir / "keywarden-kms"

    @property
    def bench(self) -> Path:
        return self.release_dir / "keywarden-bench"

    def check(self) -> None:
        for path in (self.provider, self.kms, self.bench):
            if not path.is_file():
                raise SystemExit(f"{path} is missing: run `make bench` (it builds the release binaries)")

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600.0) -> dict[str, Any]:
        """Runs a bench command to completion and returns its JSON output."""
        done = subprocess.run(
            [str(self.bench), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"keywarden-bench {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return json.loads(done.stdout)


@contextmanager
def server(bins: Binaries, socket: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A bench server (`noop-kms`, `noop-provider`) until its socket exists; terminated after."""
    from harness.process import terminate

    proc = subprocess.Popen([str(bins.bench), *args, "--socket", str(socket)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"keywarden-bench {args[0]} did not create {socket}")
            time.sleep(0.02)
        yield proc
    finally:
        terminate(proc)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A short work dir under /tmp (socket paths stay under the 108-byte limit), removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values
