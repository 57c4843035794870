"""Secrets Manager objects (`objectType: secretsmanager`, docs/reference.md §2.3) against moto.

Each test seeds secrets with boto3, mounts with `identity: node` through the driver's own file
writer, and checks the files on disk against what boto3 reads back, and the calls against the
endpoint's own request log: names and ARNs, version ids and staging labels, jmesPath on a JSON
secret, binary secrets, the file names `pathTranslation` makes, the cache (no call on a re-Mount
within the TTL) and rotation (a new `AWSCURRENT` is served once the TTL has passed).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import grpc
import pytest

from harness.aws import MotoEndpoint, client
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.spc import parameters


@pytest.fixture
def sm(aws: MotoEndpoint) -> Any:
    return client(aws.url, "secretsmanager")


def _name(label: str) -> str:
    return f"e2e/{label}-{uuid.uuid4().hex[:8]}"


def _calls(aws: MotoEndpoint, mark: int) -> list[tuple[str, str]]:
    return [(r.service, r.operation) for r in aws.requests.since(mark) if r.service != "moto-api"]


def test_name_and_arn_with_default_file_names(driver: Driver, sm: Any, aws: MotoEndpoint, target, say) -> None:
    name = _name("db")
    value = f"pw-{uuid.uuid4().hex}"
    created = sm.create_secret(Name=name, SecretString=value)
    other = _name("api")
    other_arn = sm.create_secret(Name=other, SecretString="k-" + value)["ARN"]
    objects = [
        {"objectName": name, "objectType": "secretsmanager"},
        {"objectName": other_arn, "objectAlias": "api-key", "filePermission": "0400"},
    ]
    mark = aws.requests.mark()
    result = driver.mount(parameters(objects), target)
    say(f"files {sorted(result.files)}, versions {result.versions}")
    translated = name.replace("/", "_")
    assert result.files[translated].contents == value.encode(), "the name's / becomes _ (pathTranslation default)"
    assert result.files["api-key"].contents == ("k-" + value).encode()
    assert result.files["api-key"].mode == 0o400
    assert result.versions[f"secretsmanager:{name}"] == created["VersionId"]
    assert _calls(aws, mark) == [("secretsmanager", "GetSecretValue")] * 2


def test_versions_labels_and_path_translation(driver: Driver, sm: Any, target, say) -> None:
    name = _name("rotating")
    v1 = sm.create_secret(Name=name, SecretString="one")["VersionId"]
    v2 = sm.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
    objects = [
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "current"},
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "previous",
         "objectVersionLabel": "AWSPREVIOUS"},
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "pinned", "objectVersion": v1},
        {"objectName": name, "objectType": "secretsmanager"},
    ]
    result = driver.mount(parameters(objects, pathTranslation="False"), target)
    say(f"files {sorted(result.files)}")
    assert result.files["current"].contents == b"two"
    assert result.files["previous"].contents == b"one"
    assert result.files["pinned"].contents == b"one"
    assert result.files[name].contents == b"two", "pathTranslation False keeps / as directories"
    assert (target / name.split("/")[0]).is_symlink()
    assert v2 != v1


def test_jmespath_on_a_json_secret_and_binary_secrets(driver: Driver, sm: Any, target, say) -> None:
    name = _name("json")
    doc = {"username": "app", "password": f"p-{uuid.uuid4().hex}", "read-replica": {"host": "db-2"}}
    sm.create_secret(Name=name, SecretString=json.dumps(doc))
    binary = bytes(range(256))
    bin_name = _name("bin")
    sm.create_secret(Name=bin_name, SecretBinary=binary)
    objects = [
        {"objectName": name, "objectType": "secretsmanager", "objectAlias": "db.json",
         "jmesPath": [{"path": "username", "objectAlias": "db-user"},
                      {"path": "password", "objectAlias": "db-password", "filePermission": "0400"},
                      {"path": '"read-replica".host', "objectAlias": "replica"}]},
        {"objectName": bin_name, "objectType": "secretsmanager", "objectAlias": "cert.der"},
    ]
    result = driver.mount(parameters(objects), target)
    say(f"files {sorted(result.files)}")
    assert json.loads(result.files["db.json"].contents) == doc
    assert result.files["db-user"].contents == b"app"
    assert result.files["db-password"].contents == doc["password"].encode()
    assert result.files["db-password"].mode == 0o400
    assert result.files["replica"].contents == b"db-2"
    assert result.files["cert.der"].contents == binary, "SecretBinary is written as bytes"


def test_rotation_is_seen_after_the_cache_ttl(start_provider, sm: Any, aws: MotoEndpoint, target, say) -> None:
    provider = start_provider(extra_args=["--cache-ttl", "1s"])
    name = _name("rotate")
    sm.create_secret(Name=name, SecretString="before")
    params = parameters([{"objectName": name, "objectType": "secretsmanager", "objectAlias": "s"}])
    with Driver(provider.socket_path) as driver:
        assert driver.mount(params, target).files["s"].contents == b"before"
        mark = aws.requests.mark()
        assert driver.mount(params, target).files["s"].contents == b"before"
        assert _calls(aws, mark) == [], "a re-Mount within the TTL makes no call"
        new = sm.put_secret_value(SecretId=name, SecretString="after")["VersionId"]
        assert sm.describe_secret(SecretId=name)["VersionIdsToStages"][new] == ["AWSCURRENT"]
        time.sleep(1.5)
        mark = aws.requests.mark()
        result = driver.mount(params, target)
        say(f"after the TTL: {result.files['s'].contents!r}, calls {_calls(aws, mark)}")
        assert result.files["s"].contents == b"after"
        assert result.versions[f"secretsmanager:{name}"] == new
        assert _calls(aws, mark) == [("secretsmanager", "GetSecretValue")]


def test_identical_reads_in_flight_are_coalesced(start_provider, sm: Any, aws: MotoEndpoint, target, say) -> None:
    """Four objects naming one secret version in one Mount are fetched at the same time: with the
    cache off (`--cache-ttl 0s` keeps entries only for reads in flight), one read serves all four
    only because the others waited on it."""
    provider = start_provider(extra_args=["--cache-ttl", "0s"])
    name = _name("shared")
    sm.create_secret(Name=name, SecretString="same")
    objects = [{"objectName": name, "objectType": "secretsmanager", "objectAlias": f"copy-{i}"} for i in range(4)]
    with Driver(provider.socket_path) as driver:
        mark = aws.requests.mark()
        result = driver.mount(parameters(objects), target)
        assert {result.files[f"copy-{i}"].contents for i in range(4)} == {b"same"}
        assert _calls(aws, mark) == [("secretsmanager", "GetSecretValue")]
        mark = aws.requests.mark()
        driver.mount(parameters(objects), target)
        say(f"re-Mount with the cache off: {_calls(aws, mark)}")
        assert _calls(aws, mark) == [("secretsmanager", "GetSecretValue")], "no cache beyond the flight"


@pytest.mark.parametrize(
    ("spec", "extra", "code", "mention"),
    [
        ({"objectName": "missing-secret-x", "objectType": "secretsmanager"}, {},
         grpc.StatusCode.NOT_FOUND, "secret not found"),
        ({"objectName": "arn:aws:secretsmanager:eu-west-3:123456789012:secret:x"}, {},
         grpc.StatusCode.INVALID_ARGUMENT, "is in region"),
        ({"objectName": "arn:aws:ssm:us-east-1:123456789012:document/x"}, {},
         grpc.StatusCode.INVALID_ARGUMENT, "is not a Secrets Manager secret or SSM parameter ARN"),
        ({"objectName": "a b", "objectType": "secretsmanager"}, {},
         grpc.StatusCode.INVALID_ARGUMENT, "is not a secret name"),
        ({"objectName": "x", "objectType": "secretsmanager", "objectAlias": "../x"}, {},
         grpc.StatusCode.INVALID_ARGUMENT, "objectAlias"),
        ({"objectName": "x", "objectType": "secretsmanager", "failoverObject": {"objectName": "y"}}, {},
         grpc.StatusCode.INVALID_ARGUMENT, "failoverObject"),
        ({"objectName": "x", "objectType": "secretsmanager"}, {"pathTranslation": "ab"},
         grpc.StatusCode.INVALID_ARGUMENT, "pathTranslation"),
        ({"objectName": "x", "objectType": "secretsmanager"}, {"failoverRegion": "Us-West"},
         grpc.StatusCode.INVALID_ARGUMENT, "failoverRegion"),
    ],
)
def test_refusals(driver: Driver, aws: MotoEndpoint, target, say, spec, extra, code, mention) -> None:
    mark = aws.requests.mark()
    assert_mount_fails(driver, parameters([spec], **extra), target, code, [mention], say=say)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert _calls(aws, mark) == [], "refused before any AWS call"


def test_oversized_value_is_refused_by_max_object_bytes(start_provider, sm: Any, target, say) -> None:
    provider = start_provider(extra_args=["--max-object-bytes", "64"])
    name = _name("big")
    sm.create_secret(Name=name, SecretString="x" * 65)
    with Driver(provider.socket_path) as driver:
        assert_mount_fails(
            driver, parameters([{"objectName": name, "objectType": "secretsmanager", "objectAlias": "b"}]),
            target, grpc.StatusCode.RESOURCE_EXHAUSTED, ["--max-object-bytes"], say=say,
        )
