"""Failures past validation: missing objects and size limits (docs/reference.md §2.8).

NOT_FOUND for a missing key, version or bucket; RESOURCE_EXHAUSTED for an
object over --max-object-bytes or a response over --max-response-bytes. Every
message names the object, nothing is written, and a Mount that fails on one
object returns no file at all (never a partial set).
"""

from __future__ import annotations

import grpc

from harness import mounts
from harness.aws import Seeder
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.spc import parameters


def test_missing_key_is_not_found(driver: Driver, bucket: str, target, say) -> None:
    name = f"s3://{bucket}/no/such/key"
    say(f"tried {name}")
    assert_mount_fails(driver, parameters([{"objectName": name}]), target, grpc.StatusCode.NOT_FOUND,
                       mentions=[name], say=say)


def test_missing_bucket_is_not_found(driver: Driver, target, say) -> None:
    name = "s3://kw-e2e-no-such-bucket/key"
    say(f"tried {name}")
    assert_mount_fails(driver, parameters([{"objectName": name}]), target, grpc.StatusCode.NOT_FOUND,
                       mentions=[name, "kw-e2e-no-such-bucket"], say=say)


def test_missing_version_is_not_found(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "k", b"v")
    name = f"s3://{bucket}/k"
    # A well-formed VersionId that does not exist.
    missing = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    say(f"tried {name} pinned to {missing}")
    assert_mount_fails(
        driver,
        parameters([{"objectName": name, "objectVersion": missing}]),
        target,
        grpc.StatusCode.NOT_FOUND,
        mentions=[name],
        say=say,
    )


def test_one_missing_object_fails_the_whole_mount(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "present", b"here")
    objects = [{"objectName": f"s3://{bucket}/present"}, {"objectName": f"s3://{bucket}/absent"}]
    say("one present and one absent object")
    assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.NOT_FOUND,
                       mentions=[f"s3://{bucket}/absent"], say=say)


def test_object_over_max_object_bytes(start_provider, seed: Seeder, bucket: str, target, say) -> None:
    provider = start_provider(["--max-object-bytes", "1024"])
    seed.put(bucket, "exact", b"e" * 1024)
    seed.put(bucket, "big", b"b" * 1025)
    with Driver(provider.socket_path) as d:
        ok = d.mount(parameters([{"objectName": f"s3://{bucket}/exact"}]), target)
        assert len(ok.files["exact"].contents) == 1024
        say("1024-byte object mounted under --max-object-bytes 1024")
        mounts.clear(target)
        assert_mount_fails(d, parameters([{"objectName": f"s3://{bucket}/big"}]), target,
                           grpc.StatusCode.RESOURCE_EXHAUSTED, mentions=[f"s3://{bucket}/big"], say=say)


def test_response_over_max_response_bytes(start_provider, seed: Seeder, bucket: str, target, say) -> None:
    provider = start_provider(["--max-response-bytes", "4096"])
    objects = []
    for i in range(3):
        seed.put(bucket, f"part-{i}", bytes([65 + i]) * 2000)
        objects.append({"objectName": f"s3://{bucket}/part-{i}"})
    with Driver(provider.socket_path) as d:
        ok = d.mount(parameters(objects[:1]), target)
        assert len(ok.files["part-0"].contents) == 2000
        mounts.clear(target)
        say("3 objects of 2000 bytes against --max-response-bytes 4096")
        assert_mount_fails(d, parameters(objects), target, grpc.StatusCode.RESOURCE_EXHAUSTED,
                           mentions=["response", "4096", "limit", "max"], say=say)
