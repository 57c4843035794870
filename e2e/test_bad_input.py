"""Bad input: every validation rule of docs/reference.md §2.3 answered with INVALID_ARGUMENT.

Each case sends one malformed Mount and checks that the answer is
INVALID_ARGUMENT with a message naming the problem, that no AWS call was made
(validation comes before any AWS call), that the target path stays empty, and
that the same provider then serves a good Mount.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import grpc
import pytest

from harness.aws import MotoEndpoint, Seeder
from harness.checks import assert_mount_fails
from harness.driver import Driver, Pod, apply_response, build_attributes, volume_context
from harness.spc import objects_yaml, parameters

BUCKET = "{bucket}"


@dataclass
class Case:
    id: str
    objects: list | str | None = None  # None: leave `objects` out
    mentions: list[str] = field(default_factory=list)
    identity: str | None = "node"
    raw_attributes: str | None = None  # sent as-is instead of built attributes


def obj(key: str = "good", **kw) -> dict:
    return {"objectName": f"s3://{BUCKET}/{key}", **kw}


LONG_ELEMENT = "e" * 256
LONG_PATH = "/".join(["d" * 200] * 21)  # 4220 bytes, every element <= 255

CASES = [
    Case("attributes-not-json", raw_attributes="{not json", mentions=["attributes", "json"]),
    Case("attributes-not-object", raw_attributes='["objects"]', mentions=["attributes", "json", "object", "map"]),
    Case("attributes-non-string-value", raw_attributes='{"objects": 5, "identity": "node"}',
         mentions=["attributes", "objects", "string"]),
    Case("objects-missing", objects=None, mentions=["objects"]),
    Case("objects-malformed-yaml", objects="- objectName: [unclosed\n  objectAlias: {", mentions=["objects", "yaml"]),
    Case("objects-not-a-list", objects="objectName: s3://b/k\n", mentions=["objects", "list", "sequence"]),
    Case("objects-empty-list", objects="[]\n", mentions=["objects", "at least one", "empty"]),
    Case("unknown-key", objects=[obj(objectNmae="typo")], mentions=["objectNmae"]),
    Case("key-wrong-case", objects=[obj(objectalias="x")], mentions=["objectalias"]),
    Case("alias-parent", objects=[obj(objectAlias="../x")], mentions=["../x"]),
    Case("alias-inner-parent", objects=[obj(objectAlias="a/../../x")], mentions=["a/../../x"]),
    Case("alias-dotdot-data", objects=[obj(objectAlias="..data")], mentions=["..data"]),
    Case("alias-dotdot-prefix", objects=[obj(objectAlias="..hidden/x")], mentions=["..hidden/x"]),
    Case("alias-absolute", objects=[obj(objectAlias="/abs")], mentions=["/abs"]),
    Case("alias-double-slash", objects=[obj(objectAlias="a//b")], mentions=["a//b"]),
    Case("alias-dot-prefix", objects=[obj(objectAlias="./a")], mentions=["./a"]),
    Case("alias-trailing-slash", objects=[obj(objectAlias="a/")], mentions=["a/"]),
    Case("alias-element-over-255", objects=[obj(objectAlias=f"dir/{LONG_ELEMENT}")],
         mentions=["255", "s3://{bucket}/good"]),
    Case("alias-total-over-4096", objects=[obj(objectAlias=LONG_PATH)], mentions=["4096", "s3://{bucket}/good"]),
    Case("duplicate-aliases", objects=[obj("a", objectAlias="same"), obj("b", objectAlias="same")],
         mentions=["same"]),
    Case("duplicate-default-aliases", objects=[obj("x/name"), obj("y/name")], mentions=["name"]),
    Case("permission-not-octal-digit", objects=[obj(filePermission="0999")], mentions=["0999"]),
    Case("permission-not-a-number", objects=[obj(filePermission="abc")], mentions=["abc"]),
    Case("permission-too-large", objects=[obj(filePermission="01777")], mentions=["01777"]),
    Case("name-not-s3", objects=[{"objectName": "https://example.com/k"}], mentions=["https://example.com/k"]),
    Case("name-no-key", objects=[{"objectName": f"s3://{BUCKET}"}], mentions=["s3://{bucket}"]),
    Case("name-empty-key", objects=[{"objectName": f"s3://{BUCKET}/"}], mentions=["s3://{bucket}/"]),
    Case("name-no-bucket", objects=[{"objectName": "s3:///key"}], mentions=["s3:///key"]),
    Case("name-missing", objects=[{"objectAlias": "x"}], mentions=["objectName"]),
    Case("ciphertext-without-alias", objects=[{"ciphertext": "AQIDBA==", "objectType": "kms"}],
         mentions=["objectAlias"]),
    Case("unknown-object-type", objects=[obj(objectType="vault")], mentions=["vault"]),
    Case("unknown-identity", objects=[obj()], identity="magic", mentions=["magic", "identity"]),
]


def _fill(value, bucket: str):
    if isinstance(value, str):
        return value.replace(BUCKET, bucket)
    if isinstance(value, list):
        return [_fill(v, bucket) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, bucket) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_invalid_argument(
    case: Case, driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say
) -> None:
    seed.put(bucket, "good", b"good-value")
    objects = _fill(case.objects, bucket)
    if case.raw_attributes is not None:
        attributes = case.raw_attributes
    else:
        params = {} if objects is None else {"objects": objects if isinstance(objects, str) else objects_yaml(objects)}
        if case.identity is not None:
            params["identity"] = case.identity
        attributes = build_attributes(params, volume_context(Pod(), "bad-input"))
    say(f"tried: attributes {attributes[:160]!r}{'…' if len(attributes) > 160 else ''}")
    mark = aws.requests.mark()
    assert_mount_fails(
        driver,
        {},
        target,
        grpc.StatusCode.INVALID_ARGUMENT,
        mentions=[m.replace(BUCKET, bucket) for m in case.mentions],
        say=say,
        attributes=attributes,
    )
    calls = [(r.service, r.operation) for r in aws.requests.since(mark) if r.service in ("s3", "kms", "sts")]
    assert calls == [], f"validation must come before any AWS call, saw {calls}"

    good = driver.mount(parameters([{"objectName": f"s3://{bucket}/good"}]), target)
    assert good.files["good"].contents == b"good-value"
    say("held: INVALID_ARGUMENT naming the problem, no AWS call, no files; next good Mount served")


@pytest.mark.parametrize("secrets", [None, {"username": "u", "password": "p"}, {}], ids=["null", "map", "empty-map"])
def test_secrets_field_variants_are_accepted(driver: Driver, seed: Seeder, bucket: str, target, say,
                                             secrets: dict[str, str] | None) -> None:
    """`secrets` is "null" without nodePublishSecretRef, a JSON map with one: each is sent and
    each Mount must return the seeded object."""
    value = f"secrets-{uuid.uuid4().hex}".encode()
    seed.put(bucket, "k", value)
    request = driver.mount_request(parameters([{"objectName": f"s3://{bucket}/k"}]), target, secrets=secrets)
    result = apply_response(driver.mount_raw(request), target)
    say(f"secrets={request.secrets!r}: Mount returned {sorted(result.files)}")
    assert {p: f.contents for p, f in result.files.items()} == {"k": value}


def test_rotation_call_without_spc_name_or_ephemeral(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    """Drivers before v1.6.0 send rotation Mounts without secretProviderClass and ephemeral."""
    seed.put(bucket, "k", b"v")
    pod = Pod()
    context = {
        k: v
        for k, v in volume_context(pod, "unused").items()
        if k not in ("secretProviderClass", "csi.storage.k8s.io/ephemeral")
    }
    attributes = build_attributes(parameters([{"objectName": f"s3://{bucket}/k"}]), context)
    assert "secretProviderClass" not in json.loads(attributes)
    result = driver.mount({}, target, attributes=attributes)
    assert result.files["k"].contents == b"v"
    say("a v1.5-style rotation Mount was served")


@pytest.mark.parametrize("key,suggestion", [("roleARN", "roleArn"), ("Region", "region"), ("identty", "identity"),
                                            ("failoverRegion", None)])
def test_misspelt_or_unsupported_top_level_parameter_is_refused(
    key: str, suggestion: str | None, driver: Driver, aws: MotoEndpoint, seed: Seeder, bucket: str, target, say
) -> None:
    """A misspelt class parameter must not let the Mount run with another role or region than
    its author meant: it is an error naming the key (the AWS endpoint sees no request)."""
    seed.put(bucket, "good", b"good-value")
    params = parameters([{"objectName": f"s3://{bucket}/good"}], **{key: "eu-west-1"})
    mark = aws.requests.mark()
    failure = assert_mount_fails(driver, params, target, grpc.StatusCode.INVALID_ARGUMENT, mentions=[key], say=say)
    if suggestion:
        assert f'did you mean "{suggestion}"' in failure.details, failure.details
    else:
        # failoverRegion on an S3 object without a replica would silently not fail over: refused.
        assert "so failoverRegion needs a failoverObject s3:// replica" in failure.details, failure.details
    assert aws.requests.since(mark) == [], "refused before any AWS call"
    assert driver.mount(parameters([{"objectName": f"s3://{bucket}/good"}]), target).files["good"].contents == b"good-value"
