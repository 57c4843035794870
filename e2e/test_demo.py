"""Smoke test: `make demo`, the README's first command, run as a user runs it.

The demo is started through make from the root of the clone (so the Makefile's
wiring, the build, the venv and etcd are part of what is proven) with its
temporary files in a directory of this test's own. It must exit 0, and what it
printed must show every file with the contents that were seeded into S3 and
the requested mode. The demo checks the mounted files itself before printing
them (e2e/demo.py `check_pod_view`); this test checks the printout against the
same seeded inputs, so a demo that mounts wrong files and one that prints
something else both fail. Afterwards nothing it started or created may remain:
no temp files, no mount, no process, and nothing new in the clone. Every
Python module the demo imports from the clone must be tracked by git, so the
demo works from a fresh clone and not only from this working tree.
"""

from __future__ import annotations

import modulefinder
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import demo

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "e2e" / "demo.py"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.fixture
def demo_tmp() -> Iterator[Path]:
    """A short temp dir for the demo (its unix socket paths must fit in sun_path)."""
    with tempfile.TemporaryDirectory(prefix="kw-demo-") as d:
        yield Path(d)


def test_make_demo_shows_the_seeded_files_and_cleans_up(demo_tmp: Path, say) -> None:
    before = git("status", "--porcelain", "--untracked-files=all")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYWARDEN_")}  # make sets them
    env["TMPDIR"] = str(demo_tmp)
    run = subprocess.run(["make", "--no-print-directory", "demo"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    say(f"make demo -> exit {run.returncode}, {len(run.stdout.splitlines())} lines printed")
    assert run.returncode == 0, f"make demo failed\n--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}"

    printed = run.stdout.splitlines()
    for path, (contents, mode) in sorted(demo.expected_files().items()):
        line = f"    {path}  mode {mode:04o}: {contents.decode().rstrip()}"
        assert line in printed, f"the demo did not print {line.strip()!r}\n--- stdout ---\n{run.stdout}"
    assert "Cleaned up" in printed[-1], printed[-1]
    say(f"printed every seeded file with its mode: {sorted(demo.expected_files())}")

    assert os.listdir(demo_tmp) == [], f"the demo left {os.listdir(demo_tmp)} in its temp dir"
    with open("/proc/self/mounts") as mounts:
        left = [line for line in mounts if str(demo_tmp) in line]
    assert left == [], f"the demo left mounts behind: {left}"
    assert processes_mentioning(str(demo_tmp)) == [], "the demo left processes behind"
    assert git("status", "--porcelain", "--untracked-files=all") == before, "the demo wrote into the clone"
    say("held: temp dir empty, no mount and no process left, the clone unchanged")


def test_demo_imports_only_tracked_files(say) -> None:
    # Only the clone's own modules are looked for; third-party and standard ones are skipped.
    finder = modulefinder.ModuleFinder(path=[str(DEMO.parent)])
    finder.run_script(str(DEMO))
    local = sorted(
        os.path.relpath(m.__file__, REPO)
        for m in finder.modules.values()
        if m.__file__ and Path(m.__file__).resolve().is_relative_to(REPO)
    )
    tracked = set(git("ls-files", "e2e").splitlines())
    say(f"the demo imports {len(local)} files of the clone")
    assert "e2e/harness/driver.py" in local, f"the import scan found too little: {local}"
    untracked = [p for p in local if p not in tracked]
    assert untracked == [], f"the demo imports files a fresh clone lacks: {untracked}"
    proto_files = sorted(str(p.relative_to(REPO)) for p in (REPO / "e2e" / "proto").rglob("*.proto"))
    assert proto_files and not [p for p in proto_files if p not in tracked], "untracked protocol copies"
