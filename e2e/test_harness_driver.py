"""Self-test of the driver-like client: attributes, response handling, target mounts.

Pins the parts of harness/driver.py and harness/mounts.py that do not need a
provider: the attributes JSON the driver builds (docs/reference.md §8.1), how it treats
a response without object versions or with a bad path (docs/reference.md §8.3), and
that target paths are real tmpfs mounts that go away afterwards.
"""

from __future__ import annotations

import json
import os

import pytest

from harness import mounts, protos
from harness.driver import MountFailed, Pod, apply_response, build_attributes, volume_context


def test_attributes_merge_like_the_driver() -> None:
    pod = Pod(name="web-1", namespace="team-a", uid="u-1", service_account="web")
    params = {
        "objects": "- objectName: s3://b/k\n",
        "identity": "node",
        "secretProviderClass": "from-parameters",  # overridden by the volume context
    }
    attrs = json.loads(build_attributes(params, volume_context(pod, "spc-1"), tokens='{"aud":{"token":"t"}}'))
    assert attrs == {
        "objects": "- objectName: s3://b/k\n",
        "identity": "node",
        "secretProviderClass": "spc-1",
        "csi.storage.k8s.io/pod.name": "web-1",
        "csi.storage.k8s.io/pod.namespace": "team-a",
        "csi.storage.k8s.io/pod.uid": "u-1",
        "csi.storage.k8s.io/serviceAccount.name": "web",
        "csi.storage.k8s.io/ephemeral": "true",
        "csi.storage.k8s.io/serviceAccount.tokens": '{"aud":{"token":"t"}}',
    }
    assert all(isinstance(v, str) for v in attrs.values())


def test_attributes_are_strings_only() -> None:
    with pytest.raises(TypeError):
        build_attributes({"objects": ["not", "a", "string"]}, {})  # type: ignore[dict-item]


def _response(files, versions):
    pb2, _ = protos.v1alpha1()
    return pb2.MountResponse(
        files=[pb2.File(path=p, mode=m, contents=c) for p, m, c in files],
        object_version=[pb2.ObjectVersion(id=i, version=v) for i, v in versions],
    )


def test_response_without_versions_fails(tmp_path) -> None:
    with pytest.raises(MountFailed, match="missing object versions"):
        apply_response(_response([("a", 0o644, b"x")], []), tmp_path)
    assert os.listdir(tmp_path) == []


def test_response_with_bad_path_fails_whole_write(tmp_path) -> None:
    with pytest.raises(MountFailed) as e:
        apply_response(_response([("a", 0o644, b"x"), ("..data", 0o644, b"y")], [("s3://b/a", "1")]), tmp_path)
    assert e.value.reason == "FileWriteError"
    assert os.listdir(tmp_path) == []


def test_response_error_code_fails(tmp_path) -> None:
    pb2, _ = protos.v1alpha1()
    resp = _response([("a", 0o644, b"x")], [("s3://b/a", "1")])
    resp.error.code = "AuthenticationFailed"
    with pytest.raises(MountFailed) as e:
        apply_response(resp, tmp_path)
    assert e.value.reason == "AuthenticationFailed"


def test_good_response_lands_as_files(tmp_path) -> None:
    result = apply_response(
        _response([("db/password", 0o400, b"pw"), ("user", 0o644, b"u")], [("s3://b/db", "v1"), ("s3://b/u", "v2")]),
        tmp_path,
    )
    assert {p: (f.contents, f.mode) for p, f in result.files.items()} == {
        "db/password": (b"pw", 0o400),
        "user": (b"u", 0o644),
    }
    assert result.versions == {"s3://b/db": "v1", "s3://b/u": "v2"}


def test_target_path_is_a_tmpfs_that_goes_away(say) -> None:
    with mounts.target_path() as target:
        assert os.listdir(target) == []
        mounted = mounts.is_tmpfs(target)
        say(f"target {target} tmpfs={mounted}")
        if os.geteuid() == 0:
            assert mounted, "running as root, the target must be a real tmpfs mount"
    assert not target.exists()
    assert not mounts.is_tmpfs(target)
