"""Parameter Store objects (`objectType: ssmparameter`, docs/reference.md §2.3) against moto.

The parameters of one Mount are read with `GetParameters`, at most ten names per call, and the
calls are counted at the endpoint (its own request log, with the names each call carried):
String, StringList and SecureString values, names and ARNs, versions and labels, and a re-Mount
within the cache TTL that makes no call.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest

from harness.aws import MotoEndpoint, client
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.spc import parameters


@pytest.fixture
def ssm(aws: MotoEndpoint) -> Any:
    return client(aws.url, "ssm")


def _prefix() -> str:
    return f"/e2e/{uuid.uuid4().hex[:8]}"


def _calls(aws: MotoEndpoint, mark: int) -> list[tuple[str, str]]:
    return [(r.service, r.operation) for r in aws.requests.since(mark) if r.service != "moto-api"]


def test_twenty_three_parameters_take_three_calls(driver: Driver, ssm: Any, aws: MotoEndpoint, target, say) -> None:
    prefix = _prefix()
    values = {}
    for i in range(23):
        kind = ["String", "SecureString", "StringList"][i % 3]
        value = f"v{i}-{uuid.uuid4().hex[:6]}" + (",second" if kind == "StringList" else "")
        ssm.put_parameter(Name=f"{prefix}/p{i:02d}", Value=value, Type=kind)
        values[f"{prefix}/p{i:02d}"] = value
    objects = [{"objectName": n, "objectType": "ssmparameter"} for n in values]
    mark = aws.requests.mark()
    result = driver.mount(parameters(objects), target)
    calls = _calls(aws, mark)
    say(f"{len(result.files)} files from {calls}")
    assert {p: f.contents for p, f in result.files.items()} == {
        n.replace("/", "_"): v.encode() for n, v in values.items()
    }, "SecureString values are decrypted; file names translate /"
    assert calls == [("ssm", "GetParameters")] * 3, "23 parameters are 3 calls of at most 10"
    assert set(result.versions.values()) == {"1"}
    mark = aws.requests.mark()
    driver.mount(parameters(objects), target)
    assert _calls(aws, mark) == [], "a re-Mount within the TTL makes no call"


def test_versions_labels_and_arns(driver: Driver, ssm: Any, aws: MotoEndpoint, target, say) -> None:
    name = f"{_prefix()}/db"
    ssm.put_parameter(Name=name, Value="one", Type="SecureString")
    ssm.put_parameter(Name=name, Value="two", Type="SecureString", Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["stable"])
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    objects = [
        {"objectName": name, "objectType": "ssmparameter", "objectAlias": "latest"},
        {"objectName": name, "objectType": "ssmparameter", "objectAlias": "v1", "objectVersion": "1"},
        {"objectName": name, "objectType": "ssmparameter", "objectAlias": "stable", "objectVersionLabel": "stable"},
        {"objectName": arn, "objectAlias": "by-arn", "filePermission": "0400"},
    ]
    mark = aws.requests.mark()
    result = driver.mount(parameters(objects), target)
    calls = _calls(aws, mark)
    say(f"files {sorted(result.files)}, calls {calls}")
    assert result.files["latest"].contents == b"two"
    assert result.files["v1"].contents == b"one"
    assert result.files["stable"].contents == b"one"
    assert result.files["by-arn"].contents == b"two"
    assert result.files["by-arn"].mode == 0o400
    assert result.versions[f"ssmparameter:{name}"] in {"1", "2"}
    # One selector per name per call: name, name:1, name:stable and the ARN are four calls.
    assert calls == [("ssm", "GetParameters")] * 4


def test_jmespath_on_a_parameter(driver: Driver, ssm: Any, target) -> None:
    name = f"{_prefix()}/json"
    ssm.put_parameter(Name=name, Value=json.dumps({"user": "app", "port": "5432"}), Type="SecureString")
    objects = [{"objectName": name, "objectType": "ssmparameter", "objectAlias": "cfg.json",
                "jmesPath": [{"path": "user", "objectAlias": "user"}]}]
    result = driver.mount(parameters(objects), target)
    assert result.files["user"].contents == b"app"


def test_missing_parameter_is_not_found_and_nothing_is_written(
    driver: Driver, ssm: Any, target, say
) -> None:
    name = f"{_prefix()}/present"
    ssm.put_parameter(Name=name, Value="here", Type="String")
    objects = [
        {"objectName": name, "objectType": "ssmparameter"},
        {"objectName": f"{_prefix()}/absent", "objectType": "ssmparameter"},
    ]
    assert_mount_fails(driver, parameters(objects), target, grpc.StatusCode.NOT_FOUND, ["parameter not found"], say=say)


@pytest.mark.parametrize(
    ("spec", "mention"),
    [
        ({"objectName": "/a", "objectType": "ssmparameter", "objectVersion": "1", "objectVersionLabel": "x"},
         "cannot both be set"),
        ({"objectName": "/a", "objectType": "ssmparameter", "objectVersion": "one"}, "not a parameter version number"),
        ({"objectName": "/a b", "objectType": "ssmparameter"}, "is not a parameter name"),
        ({"objectName": "arn:aws:ssm:us-east-1:123456789012:parameter/a", "objectType": "secretsmanager"},
         "does not match"),
        ({"objectName": "s3://bucket/key", "objectVersionLabel": "AWSCURRENT"}, "objectVersionLabel applies only"),
    ],
)
def test_refusals(driver: Driver, aws: MotoEndpoint, target, say, spec, mention) -> None:
    mark = aws.requests.mark()
    assert_mount_fails(driver, parameters([spec]), target, grpc.StatusCode.INVALID_ARGUMENT, [mention], say=say)
    assert _calls(aws, mark) == []
