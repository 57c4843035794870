"""Assertions shared by the scenario tests.

A failed Mount must carry the expected gRPC code and a message that names the
problem and that docs/troubleshooting.md documents with that code, must leave the target path empty (never a partial set of files), and
the provider must go on serving.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

from .driver import Driver, MountFailed
from .troubleshooting import assert_documented


def assert_mount_fails(
    driver: Driver,
    params: dict[str, str],
    target: Path,
    code: grpc.StatusCode,
    mentions: Iterable[str] = (),
    say: Callable[[str], None] = print,
    **kw: Any,
) -> MountFailed:
    """Mount must fail with `code`; the message must contain one of `mentions` (case-insensitive)."""
    try:
        result = driver.mount(params, target, **kw)
    except MountFailed as e:
        failure = e
    else:
        raise AssertionError(f"Mount succeeded, expected {code.name}; files: {sorted(result.files)}")
    say(f"-> {failure.code.name if failure.code else failure.reason}: {failure.details!r}")
    assert failure.reason == "GRPCProviderError", f"expected a gRPC error status, got {failure}"
    assert failure.code == code, f"expected {code.name}, got {failure.code.name if failure.code else None}: {failure.details}"
    assert_documented(code.name, failure.details)
    wanted = [m for m in mentions]
    if wanted:
        low = failure.details.lower()
        assert any(m.lower() in low for m in wanted), (
            f"message {failure.details!r} names none of {wanted}"
        )
    assert_empty(target)
    return failure


def assert_empty(target: Path) -> None:
    entries = os.listdir(target)
    assert entries == [], f"target path must stay empty after a failed Mount, found {entries}"


def assert_atomic_layout(target: Path) -> str:
    """The Kubernetes atomic-writer layout (docs/reference.md §2.6); returns the `..data` link target.

    `..data` is a symlink to the one timestamped `..<ts>` directory inside the target, every
    visible top-level entry is a symlink `<name> -> ..data/<name>`, and nothing else is there.
    """
    data = target / "..data"
    assert data.is_symlink(), f"{data} must be a symlink, found {sorted(os.listdir(target))}"
    ts = os.readlink(data)
    assert "/" not in ts and ts.startswith(".."), f"..data must point to a sibling ..<ts> dir, not {ts!r}"
    assert (target / ts).is_dir() and not (target / ts).is_symlink(), f"{ts} is not a directory"
    hidden = sorted(e for e in os.listdir(target) if e.startswith(".."))
    assert hidden == sorted(["..data", ts]), f"exactly ..data and one timestamped dir, found {hidden}"
    for entry in os.listdir(target):
        if entry.startswith(".."):
            continue
        link = target / entry
        assert link.is_symlink(), f"top-level {entry} must be a symlink into ..data"
        assert os.readlink(link) == f"..data/{entry}", f"{entry} -> {os.readlink(link)}"
    return ts


def assert_written_by(write_mode: str, result: Any) -> None:
    """Who wrote the files: the driver from MountResponse.files, or the provider itself.

    In provider mode the response carries no files but still one version per object (the
    driver refuses a response without object versions, docs/reference.md §8.3), and the target
    holds the atomic-writer layout.
    """
    versions = list(result.response.object_version)
    assert versions, "the driver refuses a response without object versions"
    if write_mode == "provider":
        assert len(result.response.files) == 0, (
            f"--write-mode provider must return no files, got {[f.path for f in result.response.files]}"
        )
        assert not result.written, "the driver-like client wrote nothing itself"
    else:
        assert len(result.response.files) > 0, "--write-mode driver returns the files"
    assert_atomic_layout(result.target)


def assert_still_serves(driver: Driver, seed: Any, bucket: str, target: Path, say: Callable[[str], None] = print) -> None:
    """After a failure, the same provider serves a good Mount (then the target is emptied again)."""
    from . import mounts
    from .spc import parameters

    value = f"still-serving-{os.urandom(8).hex()}".encode()
    seed.put(bucket, "still-serving", value)
    result = driver.mount(parameters([{"objectName": f"s3://{bucket}/still-serving"}]), target)
    assert result.files["still-serving"].contents == value, "the provider must keep serving after a failure"
    mounts.clear(target)
    say("held: the provider went on serving a good Mount")


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(interval)
