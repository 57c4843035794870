"""Self-test of the gRPC tap (harness/grpc_tap.py), the wire-side counter of Mount calls.

The test makes a known number of calls through the tap to a real provider,
one after the other and then several at once (their S3 answers held by the
fault proxy, so they are really open together), and the tap must count
exactly those, see them open at once, and see every one of them end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness.aws import Seeder
from harness.checks import wait_until
from harness.driver import Driver, Pod
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401  (fixtures)
from harness.fault_proxy import Fault, FaultProxy
from harness.grpc_tap import GrpcTap
from harness.provider import ProviderProcess
from harness.spc import parameters


def test_tap_counts_calls_and_sees_them_overlap(start_proxied: Callable[..., ProviderProcess], proxy: FaultProxy,
                                                seed: Seeder, bucket: str, say) -> None:
    provider = start_proxied()
    value = f"tap-{uuid.uuid4().hex}".encode()
    seed.put(bucket, "tapped", value)
    params = parameters([{"objectName": f"s3://{bucket}/tapped"}])
    count = 5
    with GrpcTap(provider.socket_path, provider.workdir / "tap.sock") as tap, Driver(tap.path) as driver:
        for _ in range(3):
            driver.version()
        say(f"3 Version calls one after the other: tap counts {tap.calls('Version')}, peak {tap.peak('Version')}")
        assert (tap.calls("Version"), tap.peak("Version"), tap.in_flight("Version")) == (3, 1, 0)
        assert tap.calls("Mount") == 0

        proxy.inject(Fault("delay", seconds=1.0, service="s3", operation="GetObject"))
        with ThreadPoolExecutor(count) as pool:
            futures = [
                pool.submit(driver.mount_raw, driver.mount_request(params, f"/tap/{i}", pod=Pod(name=f"tap-{i}")))
                for i in range(count)
            ]
            wait_until(lambda: tap.in_flight("Mount") == count, 10, f"{count} Mounts open on the wire")
            responses = [f.result(timeout=30) for f in futures]
        assert all([f.contents for f in r.files] == [value] for r in responses)
        say(f"{count} Mounts at once: tap counts {tap.calls('Mount')}, peak {tap.peak('Mount')}, "
            f"open now {tap.in_flight('Mount')}")
        assert (tap.calls("Mount"), tap.peak("Mount"), tap.in_flight("Mount")) == (count, count, 0)
        tap.reset()
        assert (tap.calls("Mount"), tap.peak("Mount")) == (0, 0)
    say("held: the tap counted exactly the calls made, saw them overlap and saw each one end")
