"""The socket protocol and the HTTP side (SPEC §2.2, §2.9).

Version over both `:authority` forms (drivers before and since v1.6.0), the
socket's mode, /healthz and /readyz, and a mount counter in /metrics that
moves when a Mount happens.
"""

from __future__ import annotations

import os
import re
import stat

import pytest

from harness.aws import Seeder
from harness.driver import LOCALHOST, SOCKET_PATH, Driver
from harness.spc import parameters

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@pytest.mark.parametrize("authority", [LOCALHOST, SOCKET_PATH])
def test_version(provider, authority: str, say) -> None:
    with Driver(provider.socket_path, authority=authority) as d:
        resp = d.version()
    say(f"{authority}: version={resp.version!r} runtime_name={resp.runtime_name!r} "
        f"runtime_version={resp.runtime_version!r}")
    assert resp.version == "v1alpha1"
    assert resp.runtime_name == "keywarden"
    assert SEMVER.match(resp.runtime_version), f"runtime_version {resp.runtime_version!r} is not semver"


def test_socket_is_owner_only(provider, say) -> None:
    mode = stat.S_IMODE(os.stat(provider.socket_path).st_mode)
    say(f"socket mode {mode:04o}")
    assert stat.S_ISSOCK(os.stat(provider.socket_path).st_mode)
    assert mode == 0o600


def test_health_endpoints(provider, say) -> None:
    for path in ("/healthz", "/readyz"):
        status, body = provider.http_get(path)
        say(f"GET {path} -> {status} {body.strip()[:60]!r}")
        assert status == 200


def _mount_total(metrics: str) -> float:
    """Sum of every sample of counter families whose name mentions mount (not durations)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)", line)
        if m and "mount" in m.group(1) and m.group(1).endswith("_total"):
            total += float(m.group(3))
    return total


def test_metrics_count_mounts(provider, driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    status, before = provider.http_get("/metrics")
    assert status == 200
    seed.put(bucket, "k", b"v")
    driver.mount(parameters([{"objectName": f"s3://{bucket}/k"}]), target)
    status, after = provider.http_get("/metrics")
    assert status == 200
    families = sorted({ln.split()[2] for ln in after.splitlines() if ln.startswith("# TYPE") and "mount" in ln})
    say(f"mount metric families: {families}; counter sum {_mount_total(before)} -> {_mount_total(after)}")
    assert _mount_total(after) >= _mount_total(before) + 1, "no *mount*_total counter moved after a Mount"
