"""Self-test of the driver's file writer as rendered in harness/writer.py.

The scenario tests trust this writer to accept and lay out exactly what the
real driver would, so its path rules and atomic-writer layout are pinned here
against the cases of the driver's own writer_test.go and atomic_writer_test.go.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from harness import writer
from harness.writer import InvalidPath, Payload

TS_DIR = re.compile(r"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.")


@pytest.mark.parametrize(
    "path",
    ["foo", "foo/bar", "foo/bar/baz", "a.b", ".a", "a..", ".hidden", "x" * 255, "/".join(["d" * 200] * 20)],
)
def test_valid_paths(path: str) -> None:
    writer.validate_path(path)


@pytest.mark.parametrize(
    "path,why",
    [
        ("", "must not be empty"),
        ("/abs", "must be relative"),
        ("../x", "must not contain '..'"),
        ("a/../../x", "must not contain '..'"),
        ("a/..", "must not contain '..'"),
        ("..data", "must not start with '..'"),
        ("..2006_01_02_15_04_05.123/x", "must not start with '..'"),
        ("a//b", "must be clean"),
        ("./a", "must be clean"),
        ("a/", "must be clean"),
        ("a/./b", "must be clean"),
        ("x" * 256, "filenames must be less than or equal to 255"),
        ("/".join(["d" * 250] * 17), "must be less than or equal to 4096"),
    ],
)
def test_invalid_paths(path: str, why: str) -> None:
    with pytest.raises(InvalidPath, match=re.escape(why)):
        writer.validate_path(path)


def test_length_is_counted_in_bytes() -> None:
    writer.validate_path("é" * 127)  # 254 bytes
    with pytest.raises(InvalidPath, match="255"):
        writer.validate_path("é" * 128)  # 256 bytes


def _layout(target: Path) -> dict[str, str]:
    out = {}
    for e in os.listdir(target):
        p = target / e
        out[e] = "->" + os.readlink(p) if p.is_symlink() else ("dir" if p.is_dir() else "file")
    return out


def test_atomic_layout_modes_and_contents(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)  # the writer must not depend on the umask
    try:
        writer.write_payloads(
            tmp_path,
            [
                Payload("db/password", 0o400, b"s3cret"),
                Payload("db/user", 0o644, b"admin"),
                Payload("token", 0o640, b"tok"),
            ],
        )
    finally:
        os.umask(old_umask)
    layout = _layout(tmp_path)
    assert layout["..data"].startswith("->..")
    ts_name = layout["..data"][2:]
    assert TS_DIR.match(ts_name), ts_name
    assert layout["db"] == "->..data/db" and layout["token"] == "->..data/token"
    assert set(layout) == {"..data", ts_name, "db", "token"}
    assert stat.S_IMODE(os.stat(tmp_path / ts_name).st_mode) == 0o755
    files = writer.read_visible_files(tmp_path)
    assert files == {
        "db/password": (b"s3cret", 0o400),
        "db/user": (b"admin", 0o644),
        "token": (b"tok", 0o640),
    }


def test_rewrite_swaps_data_and_removes_stale_paths(tmp_path: Path) -> None:
    writer.write_payloads(tmp_path, [Payload("a", 0o644, b"1"), Payload("gone/x", 0o644, b"2")])
    first_ts = os.readlink(tmp_path / "..data")
    assert writer.write_payloads(tmp_path, [Payload("a", 0o644, b"1")]) is True
    second_ts = os.readlink(tmp_path / "..data")
    assert second_ts != first_ts
    assert not os.path.lexists(tmp_path / first_ts), "old timestamped dir must be deleted"
    assert not os.path.lexists(tmp_path / "gone"), "user-visible path no longer in payload must go"
    assert writer.read_visible_files(tmp_path) == {"a": (b"1", 0o644)}


def test_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    writer.write_payloads(tmp_path, [Payload("a", 0o644, b"1")])
    ts = os.readlink(tmp_path / "..data")
    assert writer.write_payloads(tmp_path, [Payload("a", 0o600, b"1")]) is False
    assert os.readlink(tmp_path / "..data") == ts
    # As in the driver, a mode-only change is not applied.
    assert writer.read_visible_files(tmp_path)["a"] == (b"1", 0o644)
    assert writer.write_payloads(tmp_path, [Payload("a", 0o644, b"2")]) is True
    assert writer.read_visible_files(tmp_path)["a"] == (b"2", 0o644)


def test_legacy_provider_written_files_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password").write_bytes(b"old")
    writer.write_payloads(tmp_path, [Payload("db/password", 0o644, b"new")])
    assert (tmp_path / "db").is_symlink()
    assert writer.read_visible_files(tmp_path) == {"db/password": (b"new", 0o644)}


def test_one_bad_path_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidPath):
        writer.write_payloads(tmp_path, [Payload("ok", 0o644, b"1"), Payload("../evil", 0o644, b"2")])
    assert os.listdir(tmp_path) == []


def test_empty_payload_writes_nothing(tmp_path: Path) -> None:
    assert writer.write_payloads(tmp_path, []) is False
    assert os.listdir(tmp_path) == []


def test_duplicate_paths_last_wins(tmp_path: Path) -> None:
    writer.write_payloads(tmp_path, [Payload("a", 0o644, b"first"), Payload("a", 0o600, b"last")])
    assert writer.read_visible_files(tmp_path) == {"a": (b"last", 0o600)}
