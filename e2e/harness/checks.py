"""Assertions shared by the scenario tests.

A failed Mount must carry the expected gRPC code and a message that names the
problem, must leave the target path empty (never a partial set of files), and
the provider must go on serving.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

from .driver import Driver, MountFailed


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
