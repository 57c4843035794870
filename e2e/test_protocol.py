"""The socket protocol and the HTTP side (docs/reference.md §2.2, §2.9).

Version over both `:authority` forms (drivers before and since v1.6.0), the
socket's mode, /healthz and /readyz, and a mount counter in /metrics that
moves by outcome and code when a Mount happens.
"""

from __future__ import annotations

import os
import re
import stat

import grpc
import pytest

from harness import mounts
from harness.aws import Seeder
from harness.driver import LOCALHOST, SOCKET_PATH, Driver, MountFailed
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


def _mount_counters(metrics: str) -> dict[tuple[str, str], float]:
    """(family sample name, labels) -> value for counters whose name mentions mount."""
    out: dict[tuple[str, str], float] = {}
    for line in metrics.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)", line)
        if m and "mount" in m.group(1) and m.group(1).endswith("_total"):
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def _moved(before: dict, after: dict) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def test_metrics_count_mounts_by_outcome_and_code(
    provider, driver: Driver, seed: Seeder, bucket: str, target, say
) -> None:
    """docs/reference.md §2.9: mount count by outcome and code; one Mount moves exactly one sample by 1."""
    seed.put(bucket, "k", b"v")
    status, m0 = provider.http_get("/metrics")
    assert status == 200
    ok = driver.mount(parameters([{"objectName": f"s3://{bucket}/k"}]), target)
    assert ok.files["k"].contents == b"v"
    _, m1 = provider.http_get("/metrics")
    with pytest.raises(MountFailed) as failed:
        driver.mount(parameters([{"objectName": f"s3://{bucket}/absent"}]), mounts.clear(target))
    assert failed.value.code == grpc.StatusCode.NOT_FOUND, "the client saw NOT_FOUND"
    _, m2 = provider.http_get("/metrics")
    ok_moved = _moved(_mount_counters(m0), _mount_counters(m1))
    nf_moved = _moved(_mount_counters(m1), _mount_counters(m2))
    say(f"after an OK Mount: {ok_moved}; after a NOT_FOUND Mount: {nf_moved}")
    assert len(ok_moved) == 1 and list(ok_moved.values()) == [1.0], ok_moved
    assert len(nf_moved) == 1 and list(nf_moved.values()) == [1.0], nf_moved
    (ok_name, ok_labels), (nf_name, nf_labels) = next(iter(ok_moved)), next(iter(nf_moved))
    assert ok_name == nf_name, "both outcomes count in one family"
    for labels in (ok_labels, nf_labels):
        assert "outcome=" in labels and "code=" in labels, f"labels {labels} lack outcome/code"
    # The code label is the code the client received, in the provider's spelling (NotFound, Ok).
    assert 'code="NotFound"' in nf_labels, f"a Mount the client saw fail NOT_FOUND counted as {nf_labels}"
    assert 'code="Ok"' in ok_labels, f"a Mount the client saw succeed counted as {ok_labels}"
