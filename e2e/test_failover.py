"""Failover of `secretsmanager` and `ssmparameter` objects to `failoverRegion` (docs/reference.md
§2.3), with the fault proxy (harness/fault_proxy.py) failing one region only.

moto serves both regions on one endpoint; the region of each request is read from its SigV4
credential scope, both by the proxy (which fails only the primary region's reads) and by the
tests, which count at the endpoint's own request log which region answered. A regional failure
(5xx or throttling through the SDK's retries) reads the `failoverObject`, or the same name, in
`failoverRegion`; a missing secret or parameter, a refusal or a validation error never fails over.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from harness.aws import MotoEndpoint, client
from harness import mounts
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401  (fixtures)
from harness.fault_proxy import Fault, FaultProxy
from harness.spc import parameters

PRIMARY, FAILOVER = "us-east-1", "us-west-2"


def _client(aws: MotoEndpoint, service: str, region: str) -> Any:
    return client(aws.url, service, region)


def _reads(aws: MotoEndpoint, mark: int, service: str) -> list[str]:
    """The region of each request of `service` that reached the endpoint since `mark`."""
    return [r.region for r in aws.requests.since(mark) if r.service == service]


def test_secret_fails_over_on_a_regional_failure_only(
    start_proxied, proxy: FaultProxy, aws: MotoEndpoint, target, say
) -> None:
    name, other = f"fo/{uuid.uuid4().hex[:8]}", f"fo/{uuid.uuid4().hex[:8]}-replica"
    _client(aws, "secretsmanager", PRIMARY).create_secret(Name=name, SecretString="east")
    west = _client(aws, "secretsmanager", FAILOVER)
    west.create_secret(Name=name, SecretString="west")
    west.create_secret(Name=other, SecretString="west-replica")
    objects = [
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "same-name"},
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "other-name",
         "objectVersionLabel": "AWSCURRENT",
         "failoverObject": {"objectName": other, "objectVersionLabel": "AWSCURRENT"}},
    ]
    params = parameters(objects, failoverRegion=FAILOVER)
    provider = start_proxied(["--cache-ttl", "0s"])
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        healthy = driver.mount(params, target)
        assert {p: f.contents for p, f in healthy.files.items()} == {"same-name": b"east", "other-name": b"east"}
        assert _reads(aws, mark, "secretsmanager") == [PRIMARY, PRIMARY], "no failover while the region works"
        assert not any("@" in v for v in healthy.versions.values()), healthy.versions

        proxy.inject(Fault(kind="error", status=503, service="secretsmanager", region=PRIMARY))
        mark, pmark = aws.requests.mark(), proxy.mark()
        failed_over = driver.mount(params, target)
        say(f"files {({p: f.contents for p, f in failed_over.files.items()})}; endpoint saw {_reads(aws, mark, 'secretsmanager')}; "
            f"proxy {proxy.summary(pmark)}")
        assert {p: f.contents for p, f in failed_over.files.items()} == {
            "same-name": b"west", "other-name": b"west-replica"}
        assert _reads(aws, mark, "secretsmanager") == [FAILOVER, FAILOVER], "only the failover region answered"
        # The response says which region served: the driver records it in the pod's status.
        assert all(v.endswith(f"@{FAILOVER}") for v in failed_over.versions.values()), failed_over.versions
        assert proxy.count("secretsmanager", "GetSecretValue", outcome="error", mark=pmark) >= 2

        proxy.clear()
        mounts.clear(target)
        missing = f"fo/{uuid.uuid4().hex[:8]}-only-west"
        west.create_secret(Name=missing, SecretString="west-only")
        mark = aws.requests.mark()
        assert_mount_fails(driver, parameters([{"objectName": missing, "objectType": "secretsmanager"}],
                                              failoverRegion=FAILOVER),
                           target, grpc.StatusCode.NOT_FOUND, ["secret not found"], say=say)
        assert _reads(aws, mark, "secretsmanager") == [PRIMARY], "a missing secret never fails over"


def test_parameters_fail_over_as_a_batch(start_proxied, proxy: FaultProxy, aws: MotoEndpoint, target, say) -> None:
    prefix = f"/fo/{uuid.uuid4().hex[:8]}"
    east, west = _client(aws, "ssm", PRIMARY), _client(aws, "ssm", FAILOVER)
    for i in range(3):
        east.put_parameter(Name=f"{prefix}/p{i}", Value=f"east-{i}", Type="SecureString")
        west.put_parameter(Name=f"{prefix}/p{i}", Value=f"west-{i}", Type="SecureString")
    west.put_parameter(Name=f"{prefix}/replica", Value="west-replica", Type="String")
    objects = [{"objectName": f"{prefix}/p{i}", "objectType": "ssmparameter"} for i in range(2)]
    objects.append({"objectName": f"{prefix}/p2", "objectType": "ssmparameter", "objectAlias": "p2",
                    "failoverObject": {"objectName": f"{prefix}/replica"}})
    params = parameters(objects, failoverRegion=FAILOVER)
    provider = start_proxied(["--cache-ttl", "0s"])
    proxy.inject(Fault(kind="throttle", service="ssm", region=PRIMARY))
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        result = driver.mount(params, target)
    files = {p: f.contents for p, f in result.files.items()}
    say(f"files {files}; endpoint saw {_reads(aws, mark, 'ssm')}")
    tr = prefix.replace("/", "_")
    assert files == {f"{tr}_p0": b"west-0", f"{tr}_p1": b"west-1", "p2": b"west-replica"}
    assert _reads(aws, mark, "ssm") == [FAILOVER], "one GetParameters in the failover region"
    assert sorted(result.versions.values()) == [f"1@{FAILOVER}"] * 3, result.versions


@pytest.mark.parametrize(
    ("objects", "extra", "mention"),
    [
        ([{"objectName": "s3://bucket/key"}], {"failoverRegion": FAILOVER}, "an S3 bucket is in one region"),
        ([{"objectName": "s3://bucket/prefix/"}], {"failoverRegion": FAILOVER}, "a prefix entry does not fail over"),
        ([{"objectName": "s3://bucket/key", "failoverObject": "s3://replica/key"}], {}, "needs the class parameter"),
        ([{"ciphertext": "AQID", "objectType": "kms", "objectAlias": "k", "failoverObject": "s3://replica/k"}],
         {"failoverRegion": FAILOVER}, "failoverObject applies only"),
        ([{"objectName": "x", "objectType": "secretsmanager", "objectAlias": "x",
           "failoverObject": {"objectName": "y"}}], {}, "needs the class parameter failoverRegion"),
        ([{"objectName": "x", "objectType": "secretsmanager", "failoverObject": {"objectName": "y"}}],
         {"failoverRegion": FAILOVER}, "needs objectAlias"),
        ([{"objectName": "x", "objectType": "secretsmanager"}], {"failoverRegion": PRIMARY}, "the Mount's own region"),
        ([{"objectName": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}], {"failoverRegion": FAILOVER},
         "needs a failoverObject"),
        ([{"objectName": "x", "objectType": "ssmparameter", "objectAlias": "x", "objectVersion": "1",
           "failoverObject": {"objectName": "y", "objectVersion": "2"}}], {"failoverRegion": FAILOVER},
         "same type and objectVersion"),
    ],
)
def test_failover_refusals(start_proxied, aws: MotoEndpoint, target, say, objects, extra, mention) -> None:
    provider = start_proxied()
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        assert_mount_fails(driver, parameters(objects, **extra), target, grpc.StatusCode.INVALID_ARGUMENT,
                           [mention], say=say)
        assert _reads(aws, mark, "secretsmanager") == [] and _reads(aws, mark, "ssm") == []
