"""The provider under load (docs/reference.md §6 protocol row, issue of reliability): 200 Mounts in flight,
load shedding past `--max-concurrent-mounts`, and the rotation pattern of many volumes.

Every Mount's files are checked against what was seeded (harness/load.py), so a
torn or mixed-up response fails at once. After each run the process is
checked for leaks: a second identical run must not leave more descriptors,
tasks or memory behind than the first did (the first one fills connection
pools and caches; what a leak adds grows with every run). Descriptors and
memory come from /proc, concurrency from the wire: the Mount calls open at
once between the client and the provider (harness/grpc_tap.py) and the S3
requests the fault proxy held at once. The provider's own gauges are checked
against those figures, not used in their place.

`make test` runs short versions; `make soak` runs the same tests longer
(KEYWARDEN_LOAD_ROUNDS rounds of KEYWARDEN_LOAD_VOLUMES volumes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.aws import MotoEndpoint, Seeder
from harness.checks import wait_until
from harness.driver import Driver
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401  (fixtures)
from harness.fault_proxy import Fault, FaultProxy
from harness.grpc_tap import GrpcTap
from harness.load import KINDS, GaugePeak, ProcessWatch, SecretWorld, Snapshot, mount_all, volumes
from harness.provider import ProviderProcess

ROUNDS = int(os.environ.get("KEYWARDEN_LOAD_ROUNDS", "3"))
VOLUMES = int(os.environ.get("KEYWARDEN_LOAD_VOLUMES", "300"))
IN_FLIGHT = "keywarden_provider_mounts_in_flight"
# What a run may leave behind beyond the previous one: the SDK keeps idle connections (and
# their tasks) pooled for 90 s, as many as were open at the busiest moment, and that peak
# varies from run to run. A leak of one per Mount would add a whole run's worth.
RSS_SLACK_MIB = 16.0
# The e2e suite runs the debug build; `make bench` measures the release build's RSS.
PEAK_RSS_MIB = 128.0


@pytest.fixture
def world(seed: Seeder, kms_key: dict, bucket: str) -> SecretWorld:
    return SecretWorld(seed, bucket, kms_key["KeyId"]).populate(20)


def settled(provider: ProviderProcess, watch: ProcessWatch, say: Callable[[str], None]) -> Snapshot:
    """A snapshot once no Mount is in flight (every call was answered: the client has returned),
    after checking that the provider's gauges say so too and agree with /proc."""
    wait_until(lambda: provider.metric(IN_FLIGHT) == 0, 10.0, f"{IN_FLIGHT} back to 0 after every Mount returned")
    time.sleep(0.2)
    say(watch.check_metrics())
    return watch.snapshot()


def assert_no_growth(first: Snapshot, last: Snapshot, mounts_per_run: int, say: Callable[[str], None]) -> None:
    slack = max(8, mounts_per_run // 10)
    say(f"after the first run: {first}; after the last: {last} (slack {slack} fds/tasks)")
    assert last.open_fds <= first.open_fds + slack, "file descriptors leak"
    assert last.tasks <= first.tasks + slack, "tasks leak"
    assert last.rss_mib <= first.rss_mib + RSS_SLACK_MIB, "memory grows run after run"
    assert last.peak_rss_mib < PEAK_RSS_MIB, f"peak RSS {last.peak_rss_mib:.1f} MiB"


def test_200_mounts_in_flight_all_complete(start_proxied: Callable[..., ProviderProcess], proxy: FaultProxy,
                                           world: SecretWorld, say) -> None:
    provider = start_proxied()
    watch = ProcessWatch(provider)
    say(f"idle: {watch.snapshot()}")
    # S3 answers after two seconds, so all 200 Mounts are in flight at once.
    proxy.inject(Fault(kind="delay", seconds=2.0, service="s3", operation="GetObject"))
    # Distinct S3 objects a run fetches (every kind but the inline ciphertext lives in S3).
    s3_objects = (len(KINDS) - 1) * len(world.classes)
    after: list[Snapshot] = []
    with GrpcTap(provider.socket_path, provider.workdir / "tap.sock") as tap, Driver(tap.path) as driver:
        # Three runs: the SDK keeps a bounded pool of idle connections that may still grow from
        # the first run to the second; a leak keeps growing, so the third is held to the second.
        for run in range(3):
            for cls in world.classes:  # every run fetches new versions, not the cache
                world.rotate(cls)
            tap.reset()
            proxy.reset_peak()
            with GaugePeak(provider, IN_FLIGHT) as gauge:
                started = time.monotonic()
                outcomes = mount_all(driver, volumes(world, 200), workers=200)
                elapsed = time.monotonic() - started
            say(f"run {run + 1}: 200 concurrent Mounts of {len(world.classes)} classes x 4 objects: "
                f"{dict(outcomes)} in {elapsed:.1f}s; on the wire {tap.calls('Mount')} Mount calls, at most "
                f"{tap.peak('Mount')} open at once; S3 requests held at once {proxy.peak('s3')}; "
                f"peak {IN_FLIGHT} {gauge.peak:.0f}")
            assert outcomes == {"OK": 200}
            assert tap.calls("Mount") == 200, "one Mount call per volume reached the provider"
            assert tap.peak("Mount") == 200, "the Mounts were not all open at once"
            # Every class's objects at once when the machine keeps up; at least half of them
            # (far more than one Mount's own objects) proves the Mounts were worked on together.
            assert proxy.peak('s3') >= s3_objects // 2, (
                f"the provider fetched for at most {proxy.peak('s3')} objects at once, fewer than half of every class's {s3_objects}"
            )
            assert gauge.peak == tap.peak("Mount"), f"{IN_FLIGHT} peaked at {gauge.peak:g}, the wire at 200"
            after.append(settled(provider, watch, say))
    assert_no_growth(after[1], after[2], 200, say)


def test_load_past_the_limit_is_shed_cleanly(start_proxied: Callable[..., ProviderProcess], proxy: FaultProxy,
                                            world: SecretWorld, say) -> None:
    limit = 50
    provider = start_proxied(["--max-concurrent-mounts", str(limit)])
    proxy.inject(Fault(kind="delay", seconds=1.0, service="s3", operation="GetObject"))
    with GrpcTap(provider.socket_path, provider.workdir / "tap.sock") as tap, Driver(tap.path) as driver:
        outcomes = mount_all(driver, volumes(world, 200), workers=200)
        say(f"200 concurrent Mounts against --max-concurrent-mounts {limit}: {dict(outcomes)}; "
            f"{tap.calls('Mount')} Mount calls on the wire")
        assert tap.calls("Mount") == 200, "RESOURCE_EXHAUSTED is not retried by the driver"
        assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED"}, "only shedding, no other error"
        assert outcomes["OK"] >= limit and outcomes["RESOURCE_EXHAUSTED"] > 0
        shed = provider.metric("keywarden_provider_mounts_total", code="ResourceExhausted")
        assert shed == outcomes["RESOURCE_EXHAUSTED"], f"metrics count {shed} shed Mounts"
        proxy.clear()
        again = mount_all(driver, volumes(world, 50), workers=50)
        say(f"then 50 at once, within the limit: {dict(again)}")
        assert again == {"OK": 50}


def test_sustained_rotation_load(start_provider: Callable[..., ProviderProcess], aws: MotoEndpoint,
                                 world: SecretWorld, say) -> None:
    """The driver's rotation pattern (one Mount per volume per interval) for VOLUMES volumes,
    compressed: each round re-Mounts every volume while two classes change in S3."""
    provider = start_provider()
    watch = ProcessWatch(provider)
    vols = volumes(world, VOLUMES)
    after: list[Snapshot] = []
    with Driver(provider.socket_path) as driver:
        for round_no in range(1, ROUNDS + 1):
            rotated = world.classes[(2 * round_no) % len(world.classes):][:2] if round_no > 1 else []
            for cls in rotated:
                world.rotate(cls)
            mark = aws.requests.mark()
            started = time.monotonic()
            outcomes = mount_all(driver, vols, workers=16)
            elapsed = time.monotonic() - started
            calls = aws.requests.counts(mark)
            snap = settled(provider, watch, say)
            after.append(snap)
            say(f"round {round_no}: {len(vols)} Mounts {dict(outcomes)} in {elapsed:.1f}s "
                f"({len(vols) / elapsed:.0f}/s); {len(rotated)} classes changed; "
                f"at the endpoint {_summary(calls)}; {snap}")
            assert outcomes == {"OK": len(vols)}
            assert calls[("sts", "AssumeRoleWithWebIdentity")] == 0
            if round_no > 1:
                # Only the changed objects are decrypted again: one KMS blob and one sealed data
                # key per changed class; every other object is a 304 or the cache.
                assert calls[("kms", "Decrypt")] == 2 * len(rotated), calls
    assert_no_growth(after[min(1, len(after) - 1)], after[-1], len(vols), say)


def _summary(calls: Any) -> str:
    return ", ".join(f"{op} {n}" for (_, op), n in sorted(calls.items()))
