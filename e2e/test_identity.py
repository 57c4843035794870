"""Who the AWS calls run as (docs/reference.md §2.5), and what never reaches the logs (§2.9).

`identity: node` is refused unless --allow-node-identity, and only for the
namespaces of --node-identity-namespaces when that is set; the default
identity (irsa) without a pod token is FAILED_PRECONDITION. The provider's log
must never contain secret values, the pod's token or nodePublishSecretRef data.
"""

from __future__ import annotations

import json
import uuid

import grpc

from harness import mounts
from harness.aws import Seeder
from harness.checks import assert_mount_fails
from harness.driver import Driver, Pod
from harness.spc import parameters


def test_default_identity_without_token_is_failed_precondition(driver: Driver, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "k", b"v")
    say("no `identity` parameter (irsa) and no serviceAccount.tokens")
    assert_mount_fails(
        driver,
        parameters([{"objectName": f"s3://{bucket}/k"}], identity=None),
        target,
        grpc.StatusCode.FAILED_PRECONDITION,
        say=say,
    )


def test_node_identity_refused_by_default(start_provider, seed: Seeder, bucket: str, target, say) -> None:
    provider = start_provider(node_identity=False)
    seed.put(bucket, "k", b"v")
    say("provider started without --allow-node-identity")
    with Driver(provider.socket_path) as d:
        assert_mount_fails(d, parameters([{"objectName": f"s3://{bucket}/k"}]), target,
                           grpc.StatusCode.PERMISSION_DENIED, mentions=["node"], say=say)


def test_node_identity_limited_to_listed_namespaces(start_provider, seed: Seeder, bucket: str, target, say) -> None:
    provider = start_provider(["--node-identity-namespaces", "team-a"])
    seed.put(bucket, "k", b"team-a-value")
    params = parameters([{"objectName": f"s3://{bucket}/k"}])
    with Driver(provider.socket_path) as d:
        say("pod in team-b with --node-identity-namespaces team-a")
        assert_mount_fails(d, params, target, grpc.StatusCode.PERMISSION_DENIED,
                           mentions=["team-b", "namespace"], say=say, pod=Pod(namespace="team-b"))
        result = d.mount(params, target, pod=Pod(namespace="team-a"))
        assert result.files["k"].contents == b"team-a-value"
        say("pod in team-a mounted")


def test_logs_never_hold_secrets_or_tokens(driver: Driver, provider, seed: Seeder, bucket: str, target, say) -> None:
    value = f"secret-value-{uuid.uuid4().hex}".encode()
    token = f"eyJhbGciOiJSUzI1NiJ9.fake-token-{uuid.uuid4().hex}.sig"
    ref_secret = f"node-publish-secret-{uuid.uuid4().hex}"
    seed.put(bucket, "k", value)
    tokens = json.dumps({"sts.amazonaws.com": {"token": token, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
    good = parameters([{"objectName": f"s3://{bucket}/k"}])
    pod = Pod(name=f"web-{uuid.uuid4().hex[:6]}", namespace="logs-ns")
    result = driver.mount(good, target, tokens=tokens, secrets={"password": ref_secret}, pod=pod)
    assert result.files["k"].contents == value
    # Failing paths log errors: they must not leak either.
    bad = parameters([{"objectName": f"s3://{bucket}/k", "objectAlias": "../x"}])
    assert_mount_fails(driver, bad, mounts.clear(target),
                       grpc.StatusCode.INVALID_ARGUMENT, say=say, tokens=tokens, secrets={"password": ref_secret})
    assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/k"}], identity=None), mounts.clear(target),
                       grpc.StatusCode.FAILED_PRECONDITION, say=say, tokens=tokens)
    log = provider.log_text()
    say(f"provider log: {len(log.splitlines())} lines")
    assert log.strip(), "the provider logged nothing at all"
    for needle, what in ((value.decode(), "secret value"), (token, "pod token"), (ref_secret, "nodePublishSecretRef data")):
        assert needle not in log, f"{what} appears in the provider log"
    assert "fake-token" not in log
    not_json = [line for line in log.splitlines() if line.strip() and not _is_json(line)]
    assert not_json == [], f"--log-format json, but these lines are not JSON: {not_json[:3]}"
    mount_lines = [json.loads(line) for line in log.splitlines() if pod.name in line]
    say(f"log lines naming the pod: {mount_lines}")
    assert len(mount_lines) == 1, "one log line per Mount (docs/reference.md §2.9)"
    assert pod.namespace in json.dumps(mount_lines[0]), "the Mount line names the namespace"
    say("held: no secret value, token or secret-ref data in the log; every line is JSON; one line per Mount")


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
