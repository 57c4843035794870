"""Failover of S3, `kms` and `sealed` objects to `failoverRegion` (docs/reference.md §2.3,
"Failover regions"), with the fault proxy (harness/fault_proxy.py) failing one region only.

An S3 object reads its replica (`failoverObject: s3://replica/key`, a bucket in the failover
region); a `kms` blob or a sealed data key is decrypted by the multi-Region key's replica in the
failover region. The oracles are outside the provider: the endpoint's own request log says which
region each request was signed for and which KeyId it named, the replica holds other bytes than
the primary so the files say which one was read, and moto's KMS decrypts only under a key that
exists in the region asked.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import grpc

from harness import mounts
from harness.aws import MotoEndpoint, Request, Seeder, client
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401  (fixtures)
from harness.fault_proxy import Fault, FaultProxy
from harness.iam import TenantWorld
from harness.iam_fixtures import iam_aws, kube_api, pod_agent, start_iam_provider, tenant_pod, tenants, tokens_for  # noqa: F401
from harness.sealer import seal
from harness.spc import parameters

PRIMARY, FAILOVER = "us-east-1", "us-west-2"


def _client(aws: MotoEndpoint, service: str, region: str) -> Any:
    return client(aws.url, service, region)


def _requests(aws: MotoEndpoint, mark: int, service: str, operation: str) -> list[Request]:
    return [r for r in aws.requests.since(mark) if r.service == service and r.operation == operation]


def _replica_bucket(aws: MotoEndpoint) -> str:
    name = f"kw-replica-{uuid.uuid4().hex[:10]}"
    s3 = _client(aws, "s3", FAILOVER)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": FAILOVER})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _multi_region_key(aws: MotoEndpoint) -> str:
    """A multi-Region key in the primary region with its replica in the failover region; its ARN."""
    east = _client(aws, "kms", PRIMARY)
    key = east.create_key(Description="keywarden failover", MultiRegion=True)["KeyMetadata"]
    assert key["KeyId"].startswith("mrk-"), key
    east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=FAILOVER)
    return key["Arn"]


def test_s3_object_reads_its_replica_on_a_regional_failure(
    start_proxied, proxy: FaultProxy, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say
) -> None:
    replica = _replica_bucket(aws)
    seed.put(bucket, "app/db", b"east")
    _client(aws, "s3", FAILOVER).put_object(Bucket=replica, Key="app/db", Body=b"west")
    params = parameters([{"objectName": f"s3://{bucket}/app/db", "failoverObject": f"s3://{replica}/app/db"}],
                        failoverRegion=FAILOVER)
    provider = start_proxied()
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        healthy = driver.mount(params, target)
        assert healthy.files["db"].contents == b"east"
        assert [r.region for r in _requests(aws, mark, "s3", "GetObject")] == [PRIMARY]

        proxy.inject(Fault(kind="error", status=503, service="s3", region=PRIMARY))
        mark, pmark = aws.requests.mark(), proxy.mark()
        failed_over = driver.mount(params, target)
        reads = _requests(aws, mark, "s3", "GetObject")
        say(f"versions {failed_over.versions}; endpoint saw {[(r.region, r.path) for r in reads]}; "
            f"proxy {proxy.summary(pmark)}")
        assert failed_over.files["db"].contents == b"west", "the replica was read"
        assert [(r.region, r.path) for r in reads] == [(FAILOVER, f"/{replica}/app/db")]
        assert proxy.count("s3", "GetObject", outcome="error", mark=pmark) >= 1
        (version,) = failed_over.versions.values()
        assert version.endswith(f"@{FAILOVER}"), "the response says which region served"

        # The region is back: the next read asks it in full (the replica's ETag proves nothing
        # there), then revalidates as usual.
        proxy.clear()
        mark = aws.requests.mark()
        back = driver.mount(params, target)
        again = driver.mount(params, target)
        reads = _requests(aws, mark, "s3", "GetObject")
        assert back.files["db"].contents == b"east" and again.files["db"].contents == b"east"
        assert [(r.region, r.conditional, r.status) for r in reads] == [(PRIMARY, False, 200), (PRIMARY, True, 304)]
        assert "@" not in next(iter(back.versions.values()))

        # A missing object is not a regional failure: it never fails over.
        mounts.clear(target)
        _client(aws, "s3", FAILOVER).put_object(Bucket=replica, Key="app/only-west", Body=b"west")
        mark = aws.requests.mark()
        assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/app/only-west",
                                                "failoverObject": f"s3://{replica}/app/only-west"}],
                                              failoverRegion=FAILOVER),
                           target, grpc.StatusCode.NOT_FOUND, ["not found"], say=say)
        assert [r.region for r in _requests(aws, mark, "s3", "GetObject")] == [PRIMARY]


def test_kms_and_sealed_objects_decrypt_with_the_multi_region_replica(
    start_proxied, proxy: FaultProxy, aws: MotoEndpoint, target, say
) -> None:
    key_arn = _multi_region_key(aws)
    east_kms = _client(aws, "kms", PRIMARY)
    blob = east_kms.encrypt(KeyId=key_arn, Plaintext=b"kms-secret")["CiphertextBlob"]
    sealed = seal(east_kms, key_arn, b"sealed-secret")
    objects = [
        {"ciphertext": base64.b64encode(blob).decode(), "objectType": "kms", "objectAlias": "kms"},
        {"ciphertext": base64.b64encode(sealed).decode(), "objectType": "sealed", "objectAlias": "sealed"},
    ]
    params = parameters(objects, failoverRegion=FAILOVER)
    provider = start_proxied(["--cache-ttl", "0s"])
    proxy.inject(Fault(kind="error", status=503, service="kms", region=PRIMARY))
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        result = driver.mount(params, target)
    decrypts = _requests(aws, mark, "kms", "Decrypt")
    say(f"versions {result.versions}; Decrypt at the endpoint {[(r.region, r.fields.get('KeyId')) for r in decrypts]}")
    assert {p: f.contents for p, f in result.files.items()} == {"kms": b"kms-secret", "sealed": b"sealed-secret"}
    replica_arn = key_arn.replace(f":{PRIMARY}:", f":{FAILOVER}:")
    # Only the failover region answered; the blob names its key itself, the sealed data key is
    # decrypted under the replica's ARN (an ARN of the primary region is not a key there).
    assert sorted((r.region, r.fields.get("KeyId", "")) for r in decrypts) == [(FAILOVER, ""), (FAILOVER, replica_arn)]
    assert all(v.endswith(f"@{FAILOVER}") for v in result.versions.values()), result.versions


def test_an_s3_kms_object_fails_over_in_both_services(
    start_proxied, proxy: FaultProxy, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say
) -> None:
    key_arn = _multi_region_key(aws)
    replica = _replica_bucket(aws)
    east_kms = _client(aws, "kms", PRIMARY)
    seed.put(bucket, "blob", east_kms.encrypt(KeyId=key_arn, Plaintext=b"east")["CiphertextBlob"])
    _client(aws, "s3", FAILOVER).put_object(
        Bucket=replica, Key="blob", Body=east_kms.encrypt(KeyId=key_arn, Plaintext=b"west")["CiphertextBlob"])
    params = parameters([{"objectName": f"s3://{bucket}/blob", "objectType": "kms",
                          "failoverObject": {"objectName": f"s3://{replica}/blob"}}], failoverRegion=FAILOVER)
    provider = start_proxied()
    proxy.inject(Fault(kind="throttle", region=PRIMARY))  # every service of the region
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        result = driver.mount(params, target)
    seen = [(r.service, r.operation, r.region) for r in aws.requests.since(mark)]
    say(f"endpoint saw {seen}")
    assert result.files["blob"].contents == b"west"
    assert sorted(seen) == [("kms", "Decrypt", FAILOVER), ("s3", "GetObject", FAILOVER)]


def test_refusals_and_single_region_keys_never_fail_over(
    start_proxied, proxy: FaultProxy, aws: MotoEndpoint, seed: Seeder, target, say
) -> None:
    """A disabled key is a refusal, not an outage: its replica is never asked (revocation holds).
    A key of one region has no replica, so its outage stands."""
    key_arn = _multi_region_key(aws)
    east_kms = _client(aws, "kms", PRIMARY)
    single = seed.kms_key("single-region")["Arn"]
    sealed_mrk = seal(east_kms, key_arn, b"mrk")
    sealed_single = seal(east_kms, single, b"single")

    def params(blob: bytes) -> dict[str, str]:
        return parameters([{"ciphertext": base64.b64encode(blob).decode(), "objectType": "sealed",
                            "objectAlias": "s"}], failoverRegion=FAILOVER)

    provider = start_proxied(["--cache-ttl", "0s"])
    with Driver(provider.socket_path) as driver:
        east_kms.disable_key(KeyId=key_arn.rsplit("/", 1)[-1])
        try:
            mark = aws.requests.mark()
            assert_mount_fails(driver, params(sealed_mrk), target, grpc.StatusCode.FAILED_PRECONDITION,
                               ["disabled"], say=say)
            assert [r.region for r in _requests(aws, mark, "kms", "Decrypt")] == [PRIMARY]
        finally:
            east_kms.enable_key(KeyId=key_arn.rsplit("/", 1)[-1])

        proxy.inject(Fault(kind="error", status=503, service="kms", region=PRIMARY))
        mark = aws.requests.mark()
        assert_mount_fails(driver, params(sealed_single), target, grpc.StatusCode.UNAVAILABLE, ["503", "unavailable"], say=say)
        assert _requests(aws, mark, "kms", "Decrypt") == [], "no Decrypt reached the endpoint in any region"
        # The same outage with a multi-Region key is served by its replica.
        assert driver.mount(params(sealed_mrk), target).files["s"].contents == b"mrk"


def test_failover_reads_run_as_the_pods_identity(
    start_iam_provider, tenants: TenantWorld, proxy_to, target, say
) -> None:
    """Under IAM enforcement, the reads in the failover region are signed by the pod's role
    session (never the node's keys), and IAM still decides what the replica may be."""
    proxy = proxy_to(tenants.endpoint)
    key, secret = f"fo/{uuid.uuid4().hex[:8]}/db", f"tenant-a/fo-{uuid.uuid4().hex[:8]}"
    own, other = tenants["tenant-a"].bucket, tenants["tenant-b"].bucket
    tenants.put("tenant-a", key, b"east")
    tenants.put("tenant-a", f"{key}-replica", b"west")
    tenants.put("tenant-b", key, b"tenant-b")
    for region, value in ((PRIMARY, "east-secret"), (FAILOVER, "west-secret")):
        client(tenants.endpoint.url, "secretsmanager", region, tenants.admin_key, tenants.admin_secret,
               ).create_secret(Name=secret, SecretString=value)
    provider = start_iam_provider(env={"AWS_ENDPOINT_URL": proxy.url})
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)

    def params(replica_bucket: str) -> dict[str, str]:
        return parameters([{"objectName": f"s3://{own}/{key}", "failoverObject": f"s3://{replica_bucket}/{key}"
                            + ("-replica" if replica_bucket == own else "")},
                           {"objectName": secret, "objectType": "secretsmanager", "objectAlias": "secret"}],
                          identity="irsa", roleArn=tenants["tenant-a"].role_arn, failoverRegion=FAILOVER)

    log = tenants.endpoint.requests
    proxy.inject(Fault(kind="error", status=503, region=PRIMARY))  # STS web identity is unsigned: it passes
    with Driver(provider.socket_path) as driver:
        mark = log.mark()
        result = driver.mount(params(own), target, pod=pod, tokens=attr)
        reads = [r for r in log.since(mark) if r.service in ("s3", "secretsmanager")]
        say(f"files {({p: f.contents for p, f in result.files.items()})}; "
            f"reads {[(r.operation, r.region, r.access_key[:4], r.status) for r in reads]}")
        assert {p: f.contents for p, f in result.files.items()} == {"db": b"west", "secret": b"west-secret"}
        assert sorted((r.operation, r.region, r.status) for r in reads) == [
            ("GetObject", FAILOVER, 200), ("GetSecretValue", FAILOVER, 200)]
        assert all(r.access_key.startswith("ASIA") and r.access_key != tenants.admin_key for r in reads), (
            "the failover region is read with the pod's role session, not the node's keys")

        mounts.clear(target)
        mark = log.mark()
        failure = assert_mount_fails(driver, params(other), target, grpc.StatusCode.PERMISSION_DENIED, say=say,
                                     pod=pod, tokens=attr)
        assert f"in failoverRegion {FAILOVER})" in failure.details, "the error says the failover read was refused"
        denied = [(r.operation, r.region, r.status) for r in log.since(mark) if r.service == "s3"]
        assert denied == [("GetObject", FAILOVER, 403)], "IAM refused the other tenant's replica"
