"""The provider's JSON log lines say which Mount they belong to.

Every line logged while a Mount is served carries the Mount's span: the pod, its namespace,
the SecretProviderClass and a request id. A failed GetObject is logged where it happens, and
that line must name the pod and namespace it was fetched for, and share its request id with the
Mount's own line; a second Mount gets another id.
"""

from __future__ import annotations

import json
import uuid

import grpc

from harness.checks import assert_mount_fails
from harness.driver import Driver, Pod
from harness.spc import parameters


def _lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def _mount_span(line: dict) -> dict:
    spans = [s for s in line.get("spans", []) if s.get("name") == "mount"]
    assert len(spans) == 1, f"not logged inside exactly one mount span: {line}"
    return spans[0]


def test_a_getobject_failure_names_the_pod_namespace_and_request(provider, driver: Driver, bucket: str, target,
                                                                  say) -> None:
    pods = [Pod(name=f"web-{uuid.uuid4().hex[:6]}", namespace=f"ns-{uuid.uuid4().hex[:6]}") for _ in range(2)]
    for pod in pods:
        name = f"s3://{bucket}/missing-{pod.name}"
        assert_mount_fails(driver, parameters([{"objectName": name}]), target, grpc.StatusCode.NOT_FOUND,
                           mentions=[name], say=say, pod=pod, spc_name="logged-class")

    lines = _lines(provider.log_text())
    ids = []
    for pod in pods:
        failures = [line for line in lines if line.get("message") == "GetObject failed" and pod.name in json.dumps(line)]
        assert len(failures) == 1, f"one GetObject failure line for {pod.name}: {failures}"
        span = _mount_span(failures[0])
        say(f"GetObject failure line: level {failures[0].get('level')}, span {span}")
        assert span.get("pod") == pod.name and span.get("namespace") == pod.namespace, span
        assert span.get("spc") == "logged-class" and span.get("objects") == 1, span
        request_id = span.get("request_id")
        assert isinstance(request_id, str) and len(request_id) >= 8, span
        mount_lines = [line for line in lines if line.get("message") == "mount" and line.get("pod") == pod.name]
        assert len(mount_lines) == 1, mount_lines
        assert _mount_span(mount_lines[0]).get("request_id") == request_id, "the Mount line shares the request id"
        ids.append(request_id)
    assert ids[0] != ids[1], "each Mount has its own request id"
    assert not any("token" in json.dumps(_mount_span(line)) for line in lines if line.get("spans")), \
        "no token in a span"
    say(f"held: both failures carry their pod, namespace, class and request id ({ids})")
