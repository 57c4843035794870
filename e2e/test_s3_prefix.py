"""Mounting an S3 prefix (`objectName: s3://bucket/prefix/`, docs/reference.md §2.3), against moto.

The oracles are outside the provider: the bytes boto3 uploaded (and, for `kms` and `sealed`
members, the plaintext boto3 encrypted), the files the driver-like client or the provider
wrote on disk, and the endpoint's own request log, which counts ListObjectsV2 and GetObject
requests and shows which GetObjects were conditional and answered 304. Under IAM enforcement
(harness/iam_server.py evaluates `s3:ListBucket` with the `s3:prefix` condition key), a role
without a ListBucket statement, or one scoped to another prefix, or another tenant's bucket,
is refused by the endpoint and the Mount fails with PERMISSION_DENIED.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError

from harness import commands, mounts, sealer
from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_mount_fails, assert_still_serves, assert_written_by
from harness.docs import REPO, named_json
from harness.driver import Driver
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
from harness.spc import manifest, parameters

PREFIX_VERSION = re.compile(r"^prefix-[0-9a-f]{32}$")


def value(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode() + os.urandom(8)


def calls(aws: Any, mark: int, operation: str) -> list[Any]:
    return [r for r in aws.requests.since(mark) if (r.service, r.operation) == ("s3", operation)]


def test_prefixes_of_plain_kms_and_sealed_objects_mount_at_their_relative_keys(
    mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder, kms_key: dict, bucket: str,
    target, say,
) -> None:
    plain = {"a": value("a"), "dir/b": value("b"), "dir/sub/c": value("c")}
    for rel, body in plain.items():
        seed.put(bucket, f"app/plain/{rel}", body)
    seed.put(bucket, "app/plain/", b"")  # directory markers: skipped
    seed.put(bucket, "app/plain/dir/", b"")
    seed.put(bucket, "app/plainer", b"not under app/plain/")
    kms = {"token": value("kms-token"), "nested/key": value("kms-nested")}
    for rel, body in kms.items():
        blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=body, EncryptionContext={"app": "web"})
        seed.put(bucket, f"app/kms/{rel}", blob["CiphertextBlob"])
    sealed = {"db/password": value("sealed")}
    for rel, body in sealed.items():
        seed.put(bucket, f"app/sealed/{rel}", sealer.seal(seed.kms, kms_key["KeyId"], body))
    objects = [
        {"objectName": f"s3://{bucket}/app/plain/"},
        {"objectName": f"s3://{bucket}/app/kms/", "objectType": "kms", "objectAlias": "k",
         "encryptionContext": {"app": "web"}, "filePermission": "0440"},
        {"objectName": f"s3://{bucket}/app/sealed/", "objectType": "sealed", "objectAlias": "s/x"},
    ]
    mark = aws.requests.mark()
    result = mode_driver.mount(parameters(objects), target)
    counts = aws.requests.counts(mark)
    say(f"[{write_mode}] files {sorted(result.files)}; versions {result.versions}; calls {dict(counts)}")
    want = {f"plain/{k}": v for k, v in plain.items()}
    want.update({f"k/{k}": v for k, v in kms.items()})
    want.update({f"s/x/{k}": v for k, v in sealed.items()})
    assert {p: f.contents for p, f in result.files.items()} == want
    assert {p: f.mode for p, f in result.files.items()} == {
        p: 0o440 if p.startswith("k/") else 0o644 for p in want
    }
    assert sorted(result.versions) == sorted(f"s3://{bucket}/app/{p}/" for p in ("plain", "kms", "sealed"))
    assert all(PREFIX_VERSION.match(v) for v in result.versions.values()), result.versions
    assert counts[("s3", "ListObjectsV2")] == 3, "one listing per prefix (each under 1,000 keys)"
    assert counts[("s3", "GetObject")] == len(want), "one GetObject per member, none for markers"
    assert counts[("kms", "Decrypt")] == len(kms) + len(sealed)
    assert_written_by(write_mode, result)
    say("held: members at their relative keys (nested dirs), markers skipped, shared type and mode")


def test_more_than_1000_keys_are_listed_page_by_page_and_revalidated(
    start_provider: Callable[..., ProviderProcess], aws: MotoEndpoint, seed: Seeder, bucket: str, target, say,
) -> None:
    n = 1001
    bodies = {f"k{i:04d}": f"v{i}-{uuid.uuid4().hex[:6]}".encode() for i in range(n)}
    for rel, body in bodies.items():
        seed.put(bucket, f"many/{rel}", body)
    listed = seed.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="many/")
    assert sum(len(p.get("Contents", [])) for p in listed) == n, "the world holds the keys"
    provider = start_provider(["--max-prefix-objects", str(n)])
    params = parameters([{"objectName": f"s3://{bucket}/many/"}])
    with Driver(provider.socket_path) as d:
        mark = aws.requests.mark()
        first = d.mount(params, target)
        lists, gets = calls(aws, mark, "ListObjectsV2"), calls(aws, mark, "GetObject")
        say(f"cold: {len(first.files)} files, {len(lists)} ListObjectsV2, {len(gets)} GetObject")
        assert {p: f.contents for p, f in first.files.items()} == {f"many/{k}": v for k, v in bodies.items()}
        assert len(lists) == 2, "1,001 keys take two pages of 1,000"
        assert len(gets) == n and all(r.status == 200 for r in gets)

        mark = aws.requests.mark()
        second = d.mount(params, target)
        lists, gets = calls(aws, mark, "ListObjectsV2"), calls(aws, mark, "GetObject")
        statuses = Counter(r.status for r in gets)
        say(f"re-Mount: {len(lists)} ListObjectsV2, GetObject statuses {dict(statuses)}")
        assert len(lists) == 2, "a re-Mount lists again, one request per 1,000 keys"
        assert len(gets) == n and statuses == {304: n}, "every unchanged member revalidated with 304"
        assert all("if-none-match" in r.headers for r in gets)
        assert second.versions == first.versions
    say("held: two pages for 1,001 keys; re-Mount = 2 listings + 1,001 conditional GETs, all 304")


def test_rotation_sees_added_changed_and_removed_members(
    mode_driver: Driver, write_mode: str, start_provider: Callable[..., ProviderProcess], aws: MotoEndpoint,
    seed: Seeder, unversioned_bucket: str, target, say,
) -> None:
    bucket = unversioned_bucket  # member versions are `modified-<time>-<size>`: same on every node
    v1 = {"a": value("a1"), "b": value("b1"), "gone/c": value("c1")}
    for rel, body in v1.items():
        seed.put(bucket, f"rot/{rel}", body)
    name = f"s3://{bucket}/rot/"
    params = parameters([{"objectName": name, "objectAlias": "secrets"}])
    first = mode_driver.mount(params, target)
    assert {p: f.contents for p, f in first.files.items()} == {f"secrets/{k}": v for k, v in v1.items()}
    version1 = first.versions[name]
    with Driver(start_provider().socket_path) as other_node:
        elsewhere = other_node.mount(params, mounts.clear(target))
    assert elsewhere.versions[name] == version1, "another provider reports the same version"
    mounts.clear(target)
    first = mode_driver.mount(params, target)

    changed = value("b2-longer")
    seed.put(bucket, "rot/b", changed)
    seed.s3.delete_object(Bucket=bucket, Key="rot/gone/c")
    added = value("d1")
    seed.put(bucket, "rot/new/d", added)
    mark = aws.requests.mark()
    second = mode_driver.mount(params, target)
    gets = {r.path.split("/rot/", 1)[1]: r.status for r in calls(aws, mark, "GetObject")}
    lists = calls(aws, mark, "ListObjectsV2")
    say(f"[{write_mode}] after b changed, gone/c removed, new/d added: GETs {gets}; "
        f"versions {version1} -> {second.versions[name]}")
    assert {p: f.contents for p, f in second.files.items()} == {
        "secrets/a": v1["a"], "secrets/b": changed, "secrets/new/d": added,
    }, "the removed member's file is gone from the volume"
    assert not (target / "secrets" / "gone").exists()
    assert gets == {"a": 304, "b": 200, "new/d": 200}, "unchanged a revalidated; nothing asked of gone/c"
    assert len(lists) == 1
    assert second.versions[name] != version1

    mark = aws.requests.mark()
    third = mode_driver.mount(params, target)
    statuses = sorted(r.status for r in calls(aws, mark, "GetObject"))
    assert third.versions == second.versions, "unchanged prefix, unchanged version"
    assert statuses == [304, 304, 304]
    assert_written_by(write_mode, third)
    say("held: changes, removals and additions seen; version moved once, then stable; 304s for the rest")


def test_the_cap_on_prefix_objects_fails_before_any_fetch(
    start_provider: Callable[..., ProviderProcess], aws: MotoEndpoint, seed: Seeder, bucket: str, target, say,
) -> None:
    for i in range(4):
        seed.put(bucket, f"capped/{i}", value(str(i)))
    provider = start_provider(["--max-prefix-objects", "3"])
    with Driver(provider.socket_path) as d:
        mark = aws.requests.mark()
        assert_mount_fails(d, parameters([{"objectName": f"s3://{bucket}/capped/"}]), target,
                           grpc.StatusCode.RESOURCE_EXHAUSTED, ["limit of 3 per mount (--max-prefix-objects)"],
                           say=say)
        assert calls(aws, mark, "GetObject") == [], "nothing fetched once the listing is over the cap"
        seed.s3.delete_object(Bucket=bucket, Key="capped/3")
        result = d.mount(parameters([{"objectName": f"s3://{bucket}/capped/"}]), target)
        assert len(result.files) == 3
    say("held: 4 keys over a cap of 3 refused naming the flag, no GetObject; 3 keys mount")


def test_listed_sizes_meet_the_byte_limits_before_any_fetch(
    start_provider: Callable[..., ProviderProcess], aws: MotoEndpoint, seed: Seeder, bucket: str, target, say,
) -> None:
    for i in range(3):
        seed.put(bucket, f"sized/{i}", os.urandom(1500))
    provider = start_provider(["--max-response-bytes", "4096", "--max-object-bytes", "2048"])
    with Driver(provider.socket_path) as d:
        mark = aws.requests.mark()
        assert_mount_fails(d, parameters([{"objectName": f"s3://{bucket}/sized/"}]), target,
                           grpc.StatusCode.RESOURCE_EXHAUSTED,
                           ["reach 4500 bytes, over the limit of 4096 (--max-response-bytes)"], say=say)
        assert calls(aws, mark, "GetObject") == []
        seed.put(bucket, "sized/0", os.urandom(3000))
        seed.s3.delete_object(Bucket=bucket, Key="sized/2")
        mark = aws.requests.mark()
        assert_mount_fails(d, parameters([{"objectName": f"s3://{bucket}/sized/"}]), target,
                           grpc.StatusCode.RESOURCE_EXHAUSTED,
                           ['key "0" is 3000 bytes, over the limit of 2048 (--max-object-bytes)'], say=say)
        assert calls(aws, mark, "GetObject") == []
    say("held: sizes from the listing refused against both byte limits, before any GetObject")


HOSTILE = [
    ("../x", "contains a '..' element"),
    ("a/../../x", "contains a '..' element"),
    ("..data/x", "element starting with '..'"),
    ("..2024_01_01_00_00_00.1/x", "element starting with '..'"),
    ("/etc/passwd", "not clean"),
    ("a//b", "not clean"),
    ("./x", "not clean"),
    ("e" * 300, "longer than 255 bytes"),
    ("/".join(["d"] * 40), "more than 32"),
]


@pytest.mark.parametrize("key,why", HOSTILE, ids=[f"key{i}" for i in range(len(HOSTILE))])
def test_a_hostile_key_fails_the_mount_naming_it_and_writes_nothing(
    mode_driver: Driver, write_mode: str, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say,
    key: str, why: str,
) -> None:
    seed.put(bucket, "hostile/fine", value("fine"))
    seed.put(bucket, f"hostile/{key}", value("hostile"))
    stored = [o["Key"] for o in seed.s3.list_objects_v2(Bucket=bucket, Prefix="hostile/")["Contents"]]
    assert f"hostile/{key}" in stored, f"the endpoint stores the key as written: {stored}"
    mark = aws.requests.mark()
    failure = assert_mount_fails(mode_driver, parameters([{"objectName": f"s3://{bucket}/hostile/"}]), target,
                                 grpc.StatusCode.INVALID_ARGUMENT, [why], say=say)
    assert json.dumps(key[:20])[:-1] in failure.details, "the message quotes the key"
    assert len(failure.details) < 400, "the quote is bounded"
    assert calls(aws, mark, "GetObject") == [], "refused at the listing, before any fetch"
    assert_still_serves(mode_driver, seed, bucket, target, say=say)


def test_prefix_only_options_are_refused_before_any_aws_call(
    driver: Driver, aws: MotoEndpoint, bucket: str, target, say,
) -> None:
    for spec, why in [
        ({"jmesPath": [{"path": "a", "objectAlias": "a"}]}, "jmesPath does not apply to a prefix"),
        ({"objectVersion": "v1"}, "objectVersion does not apply to a prefix"),
    ]:
        mark = aws.requests.mark()
        assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/p/", **spec}]), target,
                           grpc.StatusCode.INVALID_ARGUMENT, [why], say=say)
        assert aws.requests.since(mark) == []


def test_check_validates_a_prefix_offline_and_fetches_it_with_out(
    aws: MotoEndpoint, seed: Seeder, bucket: str, tmp_path, say,
) -> None:
    refused = tmp_path / "refused.yaml"
    refused.write_text(manifest([{"objectName": f"s3://{bucket}/cfg/", "jmesPath": [
        {"path": "a", "objectAlias": "a"}]}]))
    mark = aws.requests.mark()
    run = commands.check(aws.env(), refused)
    say(f"check with jmesPath on a prefix: exit {run.returncode}, stderr {run.stderr.strip()!r}")
    assert run.returncode == 1 and "jmesPath does not apply to a prefix" in run.stderr, run.describe()
    assert aws.requests.since(mark) == [], "refused without an AWS call"

    bodies = {"a": value("a"), "nested/b": value("b")}
    for rel, body in bodies.items():
        seed.put(bucket, f"cfg/{rel}", body)
    good = tmp_path / "good.yaml"
    good.write_text(manifest([{"objectName": f"s3://{bucket}/cfg/", "objectAlias": "conf"}]))
    valid = commands.check(aws.env(), good)
    assert valid.returncode == 0 and "-> conf/<each key under the prefix>" in valid.stdout, valid.describe()
    out = tmp_path / "out"
    fetched = commands.check(aws.env(), good, out=out)
    say(f"check --out: {fetched.stdout.strip()!r}")
    assert fetched.returncode == 0, fetched.describe()
    for rel, body in bodies.items():
        assert (out / "conf" / rel).read_bytes() == body
    assert re.search(rf"s3://{bucket}/cfg/ version prefix-[0-9a-f]{{32}}", fetched.stdout), fetched.stdout


def test_member_paths_clash_with_other_objects_and_an_empty_prefix_is_not_found(
    driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say,
) -> None:
    seed.put(bucket, "clash/db/password", value("p"))
    seed.put(bucket, "single", value("s"))
    clash = parameters([{"objectName": f"s3://{bucket}/clash/"},
                        {"objectName": f"s3://{bucket}/single", "objectAlias": "clash/db/password"}])
    mark = aws.requests.mark()
    assert_mount_fails(driver, clash, target, grpc.StatusCode.INVALID_ARGUMENT,
                       ['path "clash/db/password" is already used'], say=say)
    assert calls(aws, mark, "GetObject") == []
    assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/nothing-here/"}]), target,
                       grpc.StatusCode.NOT_FOUND, ["object under the prefix not found"], say=say)


# --- under IAM enforcement -------------------------------------------------------------------------


def _list_policy(bucket: str, prefix: str) -> str:
    """docs/install.md's `read-prefix.json`, for this bucket and prefix."""
    doc = named_json(REPO / "docs/install.md")["read-prefix.json"]
    assert "acme-secrets-eu-west-1" in doc and "payments/checkout/" in doc
    return doc.replace("acme-secrets-eu-west-1", bucket).replace("payments/checkout/", prefix)


class _ListGrant:
    """An inline ListBucket policy on a tenant's role for the block (the world is session-wide)."""

    def __init__(self, tenants: TenantWorld, tenant: str, bucket: str, prefix: str) -> None:
        self.iam = tenants.endpoint.client("iam", tenants.admin_key, tenants.admin_secret)
        self.role, self.doc = tenant, _list_policy(bucket, prefix)

    def __enter__(self) -> None:
        self.iam.put_role_policy(RoleName=self.role, PolicyName="list-prefix", PolicyDocument=self.doc)

    def __exit__(self, *exc: object) -> None:
        self.iam.delete_role_policy(RoleName=self.role, PolicyName="list-prefix")


def test_harness_iam_evaluates_the_s3_prefix_condition(tenants: TenantWorld, say) -> None:
    bucket = tenants["tenant-a"].bucket
    tenants.put("tenant-a", "team/x", b"x")
    creds = tenants.role_credentials("tenant-a", "harness-check")
    s3 = tenants.endpoint.client("s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def lists(**kw: str) -> str:
        try:
            s3.list_objects_v2(Bucket=bucket, **kw)
            return "allowed"
        except ClientError as e:
            return e.response["Error"]["Code"]

    before = {"team/": lists(Prefix="team/")}
    with _ListGrant(tenants, "tenant-a", bucket, "team/"):
        during = {"team/": lists(Prefix="team/"), "other/": lists(Prefix="other/"), "none": lists()}
    say(f"without the grant {before}; with a grant for team/*: {during}")
    assert before == {"team/": "AccessDenied"}
    assert during == {"team/": "allowed", "other/": "AccessDenied", "none": "AccessDenied"}


def test_prefix_listing_runs_as_the_pod_and_iam_decides(start_iam_provider, tenants: TenantWorld, target,
                                                       say) -> None:
    a, b = tenants["tenant-a"], tenants["tenant-b"]
    run = uuid.uuid4().hex[:8]
    secret = value("tenant-a-prefix")
    tenants.put("tenant-a", f"{run}/team/key", secret)
    tenants.put("tenant-b", f"{run}/team/key", value("tenant-b-prefix"))
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)

    def spc(bucket: str, prefix: str) -> dict[str, str]:
        return parameters([{"objectName": f"s3://{bucket}/{prefix}"}], identity=None, roleArn=a.role_arn)

    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        mark = log.mark()
        assert_mount_fails(d, spc(a.bucket, f"{run}/team/"), target, grpc.StatusCode.PERMISSION_DENIED,
                           ["access denied"], say=say, pod=pod, tokens=attr)
        lists = [r for r in log.since(mark) if r.operation == "ListObjectsV2"]
        assert lists and all(r.status == 403 for r in lists), "without s3:ListBucket the endpoint refused"
        assert not any(r.operation == "GetObject" for r in log.since(mark))
        with _ListGrant(tenants, "tenant-a", a.bucket, f"{run}/team/"):
            mark = log.mark()
            result = d.mount(spc(a.bucket, f"{run}/team/"), target, pod=pod, tokens=attr)
            reqs = log.since(mark)
            assert result.files["team/key"].contents == secret
            lists = [r for r in reqs if r.operation == "ListObjectsV2"]
            assert lists and all(r.access_key.startswith("ASIA") and r.access_key != tenants.admin_key
                                 for r in lists), "listed with the pod's role session, not the node's keys"
            mounts.clear(target)
            assert_mount_fails(d, spc(a.bucket, f"{run}/"), target, grpc.StatusCode.PERMISSION_DENIED,
                               ["access denied"], say=say, pod=pod, tokens=attr)
            mark = log.mark()
            assert_mount_fails(d, spc(b.bucket, f"{run}/team/"), target, grpc.StatusCode.PERMISSION_DENIED,
                               ["access denied"], say=say, pod=pod, tokens=attr)
            refused = [(r.operation, r.status) for r in log.since(mark) if r.service == "s3"]
            assert refused and all(s == 403 for _, s in refused), refused
    say("held: no ListBucket -> PERMISSION_DENIED; granted prefix mounts as the pod's role; "
        "a wider prefix and another tenant's bucket are refused by the endpoint")
