"""Successful Mounts: the files a pod sees, their modes, and the object versions.

Each test seeds S3 (moto), mounts as the CSI driver would into a tmpfs target
path with `identity: node`, and checks the result through the driver's own
file writer: contents, per-file modes, nested and default aliases, SSE-KMS
objects, version pins, and ObjectVersion ids/versions (docs/reference.md §2.3, §2.6).
"""

from __future__ import annotations

import hashlib

import uuid

import pytest

from harness.aws import MotoEndpoint, Seeder
from harness.driver import LOCALHOST, SOCKET_PATH, Driver
from harness.spc import parameters


def secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def test_single_object(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    value = secret("db-password")
    put = seed.put(bucket, "app/db-password", value)
    name = f"s3://{bucket}/app/db-password"
    say(f"mount one object {name} with no alias and no filePermission")
    result = driver.mount(parameters([{"objectName": name}]), target)
    say(f"files: { {p: (len(f.contents), oct(f.mode)) for p, f in result.files.items()} }, versions: {result.versions}")
    assert set(result.files) == {"db-password"}, "default alias is the last segment of the key"
    assert result.files["db-password"].contents == value
    assert result.files["db-password"].mode == 0o644, "default mode comes from permission \"420\""
    assert result.returned_modes == {"db-password": 420}, "the provider must return an explicit mode"
    assert result.versions == {name: put["VersionId"]}


def test_many_objects(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    values = {f"secret-{i:02d}": secret(f"s{i}") for i in range(20)}
    versions = {}
    objects = []
    for alias, value in values.items():
        key = f"many/{alias}"
        versions[f"s3://{bucket}/{key}"] = seed.put(bucket, key, value)["VersionId"]
        objects.append({"objectName": f"s3://{bucket}/{key}", "objectAlias": f"many/{alias}"})
    say("mount 20 objects under many/")
    result = driver.mount(parameters(objects), target)
    assert {p: f.contents for p, f in result.files.items()} == {f"many/{a}": v for a, v in values.items()}
    assert result.versions == versions
    say("20 files, 20 versions held")


def test_sse_kms_object(driver: Driver, seed: Seeder, bucket: str, kms_key: dict, target, say) -> None:
    value = secret("api-key")
    put = seed.put_sse_kms(bucket, "kms/api-key", value, kms_key["KeyId"])
    assert put["ServerSideEncryption"] == "aws:kms"
    say(f"object stored with SSE-KMS under {kms_key['Arn']}")
    result = driver.mount(parameters([{"objectName": f"s3://{bucket}/kms/api-key", "objectAlias": "api-key"}]), target)
    assert result.files["api-key"].contents == value
    assert result.versions == {f"s3://{bucket}/kms/api-key": put["VersionId"]}


def test_version_pin_returns_old_content(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    old, new = secret("v1"), secret("v2")
    v1 = seed.put(bucket, "rotating", old)["VersionId"]
    v2 = seed.put(bucket, "rotating", new)["VersionId"]
    name = f"s3://{bucket}/rotating"
    say(f"pin objectVersion {v1} while the latest is {v2}")
    pinned = driver.mount(
        parameters([{"objectName": name, "objectAlias": "old", "objectVersion": v1}]), target
    )
    assert pinned.files["old"].contents == old
    assert pinned.versions == {name: v1}


def test_unpinned_object_gets_latest_version(driver: Driver, seed: Seeder, bucket: str, target) -> None:
    seed.put(bucket, "rotating", secret("v1"))
    new = secret("v2")
    v2 = seed.put(bucket, "rotating", new)["VersionId"]
    result = driver.mount(parameters([{"objectName": f"s3://{bucket}/rotating"}]), target)
    assert result.files["rotating"].contents == new
    assert result.versions == {f"s3://{bucket}/rotating": v2}


def test_unversioned_bucket_version_never_exposes_a_plaintext_md5(
    driver: Driver, seed: Seeder, kms_key: dict, unversioned_bucket: str, target, say
) -> None:
    """In an unversioned bucket the ETag of an unencrypted or SSE-S3 single-part object is the
    MD5 of the plaintext, and the version lands in SecretProviderClassPodStatus: the provider
    reports `modified-<LastModified>-<size>` instead (docs/reference.md §2.6). An SSE-KMS
    object's ETag is not an MD5 of its content and is reported as is."""
    value = secret("plain")
    etag = seed.put(unversioned_bucket, "cfg/plain", value)["ETag"].strip('"')
    assert etag == hashlib.md5(value).hexdigest(), "the ETag is the plaintext's MD5 here"
    head = seed.s3.head_object(Bucket=unversioned_bucket, Key="cfg/plain")
    name = f"s3://{unversioned_bucket}/cfg/plain"
    result = driver.mount(parameters([{"objectName": name}]), target)
    got = result.versions.get(name)
    say(f"ETag {etag} (= MD5 of the value), provider version {got!r}")
    assert result.files["plain"].contents == value
    assert etag not in got, "the version exposes the plaintext's MD5"
    assert got == f"modified-{int(head['LastModified'].timestamp())}-{head['ContentLength']}"
    again = driver.mount(parameters([{"objectName": name}]), target).versions.get(name)
    assert again == got, "stable across re-Mounts"

    kms_etag = seed.put_sse_kms(unversioned_bucket, "cfg/kms", secret("kms"), kms_key["KeyId"])["ETag"].strip('"')
    kms_name = f"s3://{unversioned_bucket}/cfg/kms"
    kms_version = driver.mount(parameters([{"objectName": kms_name}]), target).versions.get(kms_name)
    say(f"SSE-KMS object: ETag {kms_etag}, provider version {kms_version!r}")
    assert kms_version == kms_etag


def test_nested_alias_and_file_permission(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    pw, user, cfg = secret("pw"), secret("user"), secret("cfg")
    seed.put(bucket, "app/db-password", pw)
    seed.put(bucket, "app/db-user", user)
    seed.put(bucket, "app/config/settings.json", cfg)
    objects = [
        {"objectName": f"s3://{bucket}/app/db-password", "objectAlias": "db/password", "filePermission": "0400"},
        {"objectName": f"s3://{bucket}/app/db-user", "objectAlias": "db/user", "filePermission": "0640"},
        {"objectName": f"s3://{bucket}/app/config/settings.json"},
    ]
    result = driver.mount(parameters(objects), target)
    modes = {p: oct(f.mode) for p, f in result.files.items()}
    say(f"modes on disk: {modes}; returned: {result.returned_modes}")
    assert {p: (f.contents, f.mode) for p, f in result.files.items()} == {
        "db/password": (pw, 0o400),
        "db/user": (user, 0o640),
        "settings.json": (cfg, 0o644),
    }
    assert result.returned_modes == {"db/password": 256, "db/user": 416, "settings.json": 420}
    assert (target / "db").is_symlink(), "top-level entries are atomic-writer symlinks"


@pytest.mark.parametrize("authority", [LOCALHOST, SOCKET_PATH])
def test_mount_with_both_authority_forms(
    provider, authority: str, seed: Seeder, bucket: str, target, say
) -> None:
    value = secret("auth")
    seed.put(bucket, "k", value)
    say(f":authority mode {authority} ({'localhost' if authority == LOCALHOST else provider.socket_path})")
    with Driver(provider.socket_path, authority=authority) as d:
        version = d.version()
        result = d.mount(parameters([{"objectName": f"s3://{bucket}/k"}]), target)
    assert version.runtime_name == "keywarden"
    assert result.files["k"].contents == value


def test_remount_rewrites_atomically(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    """A second Mount with changed content swaps ..data and keeps the layout clean."""
    seed.put(bucket, "rot", b"first")
    params = parameters([{"objectName": f"s3://{bucket}/rot"}])
    first = driver.mount(params, target)
    v2 = seed.put(bucket, "rot", b"second")["VersionId"]
    second = driver.mount(params, target)
    say(f"versions: {first.versions} -> {second.versions}")
    assert second.files["rot"].contents == b"second"
    assert second.versions == {f"s3://{bucket}/rot": v2}
    hidden = sorted(e for e in target.iterdir() if e.name.startswith(".."))
    assert len(hidden) == 2, f"only ..data and one timestamped dir remain, got {hidden}"


def test_mount_reaches_only_s3(driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say) -> None:
    """A plain S3 object costs S3 reads only: no KMS, no STS with node identity."""
    seed.put(bucket, "cost", b"x")
    mark = aws.requests.mark()
    driver.mount(parameters([{"objectName": f"s3://{bucket}/cost"}]), target)
    counts = aws.requests.counts(mark)
    say(f"requests at the endpoint: {dict(counts)}")
    assert sum(n for (svc, _), n in counts.items() if svc == "s3") >= 1
    assert not any(svc in ("kms", "sts") for svc, _ in counts), counts
