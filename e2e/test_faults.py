"""The provider when AWS misbehaves (docs/reference.md §6 faults, §2.8).

Every provider here reaches AWS only through a fault proxy
(harness/fault_proxy.py), which a test switches to throttling, 5xx, slow
answers, dropped connections or no endpoint at all, and which counts each
attempt that reached it. What must hold: transient faults are retried (the
attempts are counted at the proxy, the Mount calls behind them on the wire
between the driver and the provider: harness/grpc_tap.py) and then fail the Mount with UNAVAILABLE
naming the object; a partial fault rate is absorbed by the retries; a Mount
cut off by the endpoint going away fails with no files, and the next Mount
after it comes back succeeds; a slow endpoint is cut by --mount-timeout with
DEADLINE_EXCEEDED; an STS outage on the IRSA path is retried and fails with
UNAVAILABLE without a single read under the provider's own credentials. A
failed Mount never leaves a file behind, and the same provider goes on serving.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from harness import mounts
from harness.aws import Seeder
from harness.checks import assert_empty, assert_mount_fails, wait_until
from harness.driver import Driver, MountFailed
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401
from harness.fault_proxy import FORWARDED, Fault, FaultProxy
from harness.grpc_tap import GrpcTap
from harness.iam import TenantWorld
from harness.iam_fixtures import (  # noqa: F401  (fixtures)
    iam_aws,
    kube_api,
    pod_agent,
    start_iam_provider,
    tenant_pod,
    tenants,
    tokens_for,
)
from harness.provider import ProviderProcess
from harness.spc import parameters

# The SDK's standard retry mode: three attempts in all.
SDK_ATTEMPTS = 3
# The driver's service config retries UNAVAILABLE: three Mount calls in all (harness/driver.py).
DRIVER_ATTEMPTS = 3


def seed_objects(seed: Seeder, bucket: str, kms_key: dict) -> tuple[list[dict], dict[str, bytes]]:
    """A plain S3 object and a KMS blob in S3: (objects, alias -> plaintext)."""
    plain, sealed = f"plain-{uuid.uuid4().hex}".encode(), f"kms-{uuid.uuid4().hex}".encode()
    seed.put(bucket, "plain", plain)
    seed.put(bucket, "blob.bin", seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=sealed)["CiphertextBlob"])
    objects = [
        {"objectName": f"s3://{bucket}/plain"},
        {"objectName": f"s3://{bucket}/blob.bin", "objectType": "kms", "objectAlias": "from-kms"},
    ]
    return objects, {"plain": plain, "from-kms": sealed}


def tapped(provider: ProviderProcess) -> GrpcTap:
    """A tap in front of the provider's socket: the driver dials `tap.path`."""
    return GrpcTap(provider.socket_path, provider.workdir / "tap.sock")


def mount_calls_failed(tap: GrpcTap, provider: ProviderProcess, code: str, before: float) -> int:
    """Mount calls on the wire (the driver's retries included), after checking that the provider's
    counter of Mounts answered with `code` grew by exactly as many since `before`."""
    calls = tap.calls("Mount")
    counted = provider.metric("keywarden_provider_mounts_total", code=code) - before
    assert counted == calls, f"keywarden_provider_mounts_total{{code={code}}} grew by {counted:g}, the wire saw {calls}"
    return calls


def assert_mounts(driver: Driver, objects: list[dict], expected: dict[str, bytes], target) -> None:
    """The Mount succeeds with exactly the expected files; the target is emptied afterwards."""
    result = driver.mount(parameters(objects), target)
    assert {p: f.contents for p, f in result.files.items()} == expected
    mounts.clear(target)


@pytest.mark.parametrize(
    "fault, service, operation",
    [
        pytest.param(Fault("throttle"), "s3", "GetObject", id="s3-throttled"),
        pytest.param(Fault("error", status=500), "kms", "Decrypt", id="kms-500"),
    ],
)
def test_persistent_fault_is_retried_then_unavailable(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, kms_key: dict, target, say,
    fault: Fault, service: str, operation: str,
) -> None:
    objects, expected = seed_objects(seed, bucket, kms_key)
    faulty = objects[0] if service == "s3" else objects[1]
    provider = start_proxied()
    before = provider.metric("keywarden_provider_mounts_total", code="Unavailable")
    with tapped(provider) as tap, Driver(tap.path) as driver:
        proxy.inject(Fault(fault.kind, status=fault.status, service=service, operation=operation))
        say(f"every {service} {operation} answered with {fault.kind} {fault.status if fault.kind == 'error' else ''}")
        mark = proxy.mark()
        assert_mount_fails(driver, parameters([faulty]), target, grpc.StatusCode.UNAVAILABLE,
                           mentions=[faulty["objectName"]], say=say)
        attempts = proxy.count(service, operation, fault.kind, mark)
        mount_calls = mount_calls_failed(tap, provider, "Unavailable", before)
        say(f"{mount_calls} Mount calls on the wire (the driver retries UNAVAILABLE); at the proxy: {proxy.summary(mark)}")
        assert mount_calls == DRIVER_ATTEMPTS, "UNAVAILABLE is what the driver retries"
        assert attempts == SDK_ATTEMPTS * mount_calls, f"each Mount retried the fault: {proxy.summary(mark)}"
        proxy.clear()
        assert_mounts(driver, objects, expected, target)
    say(f"held: {SDK_ATTEMPTS} AWS attempts per Mount, then UNAVAILABLE naming the object, no files; "
        f"fault cleared -> Mount OK")


def test_partial_fault_is_absorbed_by_retries(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, kms_key: dict, target, say
) -> None:
    objects, expected = seed_objects(seed, bucket, kms_key)
    blob_only = objects[1:]
    with Driver(start_proxied().socket_path) as driver:
        proxy.inject(Fault("throttle", share=0.5))
        mark = proxy.mark()
        say("1 in 2 of all AWS requests throttled; Mount of one kms object (GetObject, then Decrypt)")
        result = driver.mount(parameters(blob_only), target)
        assert result.files["from-kms"].contents == expected["from-kms"]
        mounts.clear(target)
        seen = proxy.summary(mark)
        say(f"Mount OK; at the proxy: {seen}")
        for operation in ("GetObject", "Decrypt"):
            assert proxy.count(operation=operation, outcome="throttle", mark=mark) == 1, seen
            assert proxy.count(operation=operation, outcome=FORWARDED, mark=mark) == 1, seen
        proxy.inject(Fault("throttle", share=0.5, service="s3"))
        mark = proxy.mark()
        assert_mounts(driver, objects, expected, target)
        seen = proxy.summary(mark)
        say(f"1 in 2 S3 requests throttled, 2 objects fetched at once: Mount OK; at the proxy: {seen}")
        assert proxy.count("s3", outcome="throttle", mark=mark) >= 1, seen
    say("held: the throttled attempts were retried and the Mounts returned every file")


def test_endpoint_gone_mid_mount_then_back(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, kms_key: dict, target, say
) -> None:
    objects, expected = seed_objects(seed, bucket, kms_key)
    provider = start_proxied()
    with Driver(provider.socket_path) as driver, ThreadPoolExecutor(1) as pool:
        proxy.inject(Fault("delay", seconds=30, service="kms", operation="Decrypt"))
        mark = proxy.mark()
        started = time.monotonic()
        mounting = pool.submit(driver.mount, parameters(objects), target)
        wait_until(lambda: proxy.count("kms", "Decrypt", "delay", mark), 10, "the Decrypt reached the proxy")
        fetched = proxy.count("s3", "GetObject", FORWARDED, mark)
        say(f"both S3 objects fetched ({fetched} GetObject answered); Decrypt held; endpoint goes away now")
        assert fetched == 2, proxy.summary(mark)
        proxy.down()
        with pytest.raises(MountFailed) as failed:
            mounting.result(timeout=30)
        elapsed = time.monotonic() - started
        say(f"-> {failed.value.code.name if failed.value.code else failed.value.reason} after {elapsed:.1f}s: "
            f"{failed.value.details!r}; at the proxy: {proxy.summary(mark)}")
        assert failed.value.code == grpc.StatusCode.UNAVAILABLE
        # The driver retries UNAVAILABLE; the last attempt's message names the object it failed on.
        assert any(o["objectName"] in failed.value.details for o in objects), "the message names the object"
        assert_empty(target)
        assert provider.metric("keywarden_provider_mounts_in_flight") == 0, "the gauge forgot no failed Mount"
        proxy.up()
        proxy.clear()
        mark = proxy.mark()
        assert_mounts(driver, objects, expected, target)
        say(f"endpoint back on port {proxy.port}: Mount OK with the right content; at the proxy: {proxy.summary(mark)}")
    say("held: UNAVAILABLE and no file (the fetched plain object was not written); next Mount after recovery OK")


def test_slow_endpoint_is_cut_by_the_mount_timeout(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, kms_key: dict, target, say
) -> None:
    timeout = 2.0
    objects, expected = seed_objects(seed, bucket, kms_key)
    provider = start_proxied(["--mount-timeout", f"{timeout:g}s"])
    with Driver(provider.socket_path) as driver:
        proxy.inject(Fault("delay", seconds=30, service="s3"))
        say(f"--mount-timeout {timeout:g}s; every S3 answer held for 30s")
        started = time.monotonic()
        failure = assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.DEADLINE_EXCEEDED,
                                     mentions=[f"{timeout:g}s"], say=say)
        elapsed = time.monotonic() - started
        say(f"failed after {elapsed:.2f}s")
        assert timeout - 0.1 <= elapsed < timeout + 3, f"cut at the mount timeout, not {elapsed:.2f}s"
        assert "did not finish" in failure.details
        assert provider.metric("keywarden_provider_mounts_in_flight") == 0
        proxy.clear()
        assert_mounts(driver, objects, expected, target)
    say(f"held: DEADLINE_EXCEEDED after {elapsed:.2f}s, no files, and the provider served the next Mount")


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_dropped_connections_are_retried_then_unavailable(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, kms_key: dict, target, say, reset: bool
) -> None:
    objects, expected = seed_objects(seed, bucket, kms_key)
    provider = start_proxied()
    before = provider.metric("keywarden_provider_mounts_total", code="Unavailable")
    with tapped(provider) as tap, Driver(tap.path) as driver:
        proxy.inject(Fault("drop", service="s3", operation="GetObject", reset=reset))
        say(f"every S3 GetObject: connection accepted, request read, then {'RST' if reset else 'closed'} unanswered")
        mark = proxy.mark()
        assert_mount_fails(driver, parameters(objects[:1]), target, grpc.StatusCode.UNAVAILABLE,
                           mentions=[objects[0]["objectName"]], say=say)
        attempts = proxy.count("s3", "GetObject", "drop", mark)
        mount_calls = mount_calls_failed(tap, provider, "Unavailable", before)
        say(f"{mount_calls} Mount calls on the wire; at the proxy: {proxy.summary(mark)}")
        assert mount_calls == DRIVER_ATTEMPTS, "UNAVAILABLE is what the driver retries"
        assert attempts == SDK_ATTEMPTS * mount_calls, f"dropped requests were retried: {proxy.summary(mark)}"
        proxy.clear()
        assert_mounts(driver, objects, expected, target)
    say(f"held: {SDK_ATTEMPTS} attempts per Mount, UNAVAILABLE naming the object, no files; then Mount OK")


@pytest.mark.parametrize("kind", ["throttle", "error"])
def test_sts_fault_is_retried_then_unavailable_without_fallback(
    start_iam_provider, tenants: TenantWorld, iam_aws, proxy_to, target, say, kind: str
) -> None:
    """IRSA under an STS outage: the token exchange is retried, the Mount fails UNAVAILABLE,
    and nothing is read with the provider's own (node) credentials meanwhile."""
    key = f"sts-fault/{uuid.uuid4().hex[:8]}"
    value = f"tenant-a-{uuid.uuid4().hex}".encode()
    tenants.put("tenant-a", key, value)
    proxy = proxy_to(iam_aws)
    provider = start_iam_provider(node_identity=True, env={"AWS_ENDPOINT_URL": proxy.url})
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    name = f"s3://{tenants['tenant-a'].bucket}/{key}"
    params = parameters([{"objectName": name}], identity="irsa", roleArn=tenants["tenant-a"].role_arn)
    before = provider.metric("keywarden_provider_mounts_total", code="Unavailable")
    with tapped(provider) as tap, Driver(tap.path) as driver:
        proxy.inject(Fault(kind, service="sts"))
        mark = proxy.mark()
        say(f"every STS request answered with {kind}; IRSA Mount of {name} (node identity allowed)")
        assert_mount_fails(driver, params, target, grpc.StatusCode.UNAVAILABLE, say=say, pod=pod, tokens=attr)
        attempts = proxy.count("sts", "AssumeRoleWithWebIdentity", kind, mark)
        mount_calls = mount_calls_failed(tap, provider, "Unavailable", before)
        say(f"{mount_calls} Mount calls on the wire; at the proxy: {proxy.summary(mark)}")
        assert mount_calls == DRIVER_ATTEMPTS, "UNAVAILABLE is what the driver retries"
        assert attempts == SDK_ATTEMPTS * mount_calls, proxy.summary(mark)
        assert proxy.count("s3", mark=mark) == 0 and proxy.count("kms", mark=mark) == 0, "no fallback read"
        proxy.clear()
        result = driver.mount(params, target, pod=pod, tokens=attr)
        assert result.files[key.rsplit("/", 1)[1]].contents == value
    say("held: STS retried, UNAVAILABLE, no S3 or KMS call meanwhile; STS back -> Mount OK")


FAN_OUT = 32  # objects of one Mount fetched at once (provider/src/mount.rs, docs/decisions.md "Fan-out")


def test_a_mount_fetches_its_objects_concurrently_up_to_the_bound(
    start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str, target, say
) -> None:
    """Counted at the proxy, which holds every GetObject 0.3 s: a Mount of more objects than the
    bound has exactly the bound in flight at once (not one at a time, not all of them)."""
    run = uuid.uuid4().hex[:8]
    count = FAN_OUT + 8
    for i in range(count):
        seed.put(bucket, f"fan/{run}/{i:02d}", f"value-{i}".encode())
    objects = [{"objectName": f"s3://{bucket}/fan/{run}/{i:02d}"} for i in range(count)]
    with Driver(start_proxied().socket_path) as driver:
        proxy.inject(Fault("delay", seconds=0.3, service="s3", operation="GetObject"))
        proxy.reset_peak()
        result = driver.mount(parameters(objects), target)
    say(f"{count} objects, every GetObject held 0.3 s: most GetObjects in flight at once {proxy.peak('s3')}")
    assert {p: f.contents for p, f in result.files.items()} == {f"{i:02d}": f"value-{i}".encode() for i in range(count)}
    assert proxy.peak("s3") == FAN_OUT
