"""Identities against an endpoint that enforces IAM (docs/reference.md §2.5, §6 identity row).

Two tenants, each a role that may read only its own bucket (harness/iam.py).
A pod proves who it is with the token the driver forwards; the provider turns
that into the tenant's credentials (IRSA: STS AssumeRoleWithWebIdentity, role
from the SPC's `roleArn` or the ServiceAccount annotation read from the
Kubernetes API; Pod Identity: the node agent) and IAM decides what it may
read. The provider's own (node) credentials are an admin's, so a silent
fallback to node identity would show up as a read IAM should have refused.
Calls are counted where they land: the IAM endpoint, the fake Kubernetes API
and the fake Pod Identity agent.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import grpc
import pytest

from harness import mounts
from harness.checks import assert_mount_fails
from harness.driver import Driver, Pod
from harness.iam import CUSTOM_AUDIENCE, TenantWorld
from harness.iam_fixtures import (  # noqa: F401  (fixtures)
    iam_aws,
    kube_api,
    pod_agent,
    start_iam_provider,
    tenant_pod,
    tenants,
    tokens_for,
)
from harness.kube_api import ROLE_ANNOTATION, FakeKubeApi
from harness.pod_identity import FakePodIdentityAgent, HangingEndpoint, down_url
from harness.spc import parameters
from harness.tokens import IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE

SA_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seed_both(tenants: TenantWorld, key: str) -> dict[str, bytes]:
    values = {}
    for name in ("tenant-a", "tenant-b"):
        values[name] = _secret(f"{name}-db-password")
        tenants.put(name, key, values[name])
    return values


@pytest.mark.parametrize("role_from", ["roleArn", "annotation"])
def test_irsa_tenant_reads_own_object_and_is_denied_the_other(
    start_iam_provider, tenants: TenantWorld, kube_api: FakeKubeApi, target, say, role_from: str
) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    values = _seed_both(tenants, key)
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, raw = tokens_for(pod)
    extra = {"roleArn": tenants["tenant-a"].role_arn} if role_from == "roleArn" else {}
    own = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity=None, **extra)
    other = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="irsa", **extra)
    say(f"pod {pod.namespace}/{pod.name} (SA {pod.service_account}), role from {role_from}")
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        mark = log.mark()
        result = d.mount(own, target, pod=pod, tokens=attr)
        reqs = log.since(mark)
        say(f"own bucket: files {sorted(result.files)}; calls {[(r.service, r.operation, r.status) for r in reqs]}")
        assert result.files["password"].contents == values["tenant-a"]
        sts = [r for r in reqs if r.service == "sts"]
        assert [(r.operation, r.status) for r in sts] == [("AssumeRoleWithWebIdentity", 200)], sts
        assert sts[0].params["RoleArn"] == tenants["tenant-a"].role_arn
        assert sts[0].params["token_sha256"] == _sha(raw[IRSA_AUDIENCE]), "the sts.amazonaws.com token is the one sent"
        assert sts[0].params["RoleSessionName"] == f"keywarden-{pod.namespace}-{pod.name}"
        gets = [r for r in reqs if (r.service, r.operation) == ("s3", "GetObject")]
        assert gets and all(r.access_key.startswith("ASIA") and r.access_key != tenants.admin_key for r in gets), (
            f"S3 must be read with the pod's role session, not the node's keys: {[r.access_key for r in gets]}"
        )
        if role_from == "annotation":
            say(f"kube API requests: {[(r.method, r.path) for r in kube_api.requests]}")
            assert kube_api.gets(pod.namespace, pod.service_account) >= 1, "the SA annotation was read from the API"
            auth = {r.headers.get("authorization") for r in kube_api.requests}
            if os.path.exists(SA_TOKEN_PATH):
                expected = {f"Bearer {open(SA_TOKEN_PATH).read().strip()}"}
            else:
                expected = {None}
            say(f"{SA_TOKEN_PATH} exists: {os.path.exists(SA_TOKEN_PATH)}; Authorization sent: "
                f"{['Bearer <...>' if a else a for a in auth]}")
            assert auth == expected, "Bearer <the provider's own SA token> only when that file exists"
        mounts.clear(target)

        mark = log.mark()
        failure = assert_mount_fails(d, other, target, grpc.StatusCode.PERMISSION_DENIED, say=say, pod=pod, tokens=attr)
        reqs = log.since(mark)
        say(f"tenant-b's bucket: calls {[(r.service, r.operation, r.status) for r in reqs]}")
        denied = [r for r in reqs if (r.service, r.operation) == ("s3", "GetObject")]
        assert denied and all(r.status == 403 for r in denied), "IAM (the endpoint) refused the read"
        assert not any(r.status == 200 and r.service == "s3" for r in reqs), "nothing of tenant-b was served"
        assert values["tenant-b"].decode() not in failure.details
    log_text = provider.log_text()
    assert all(t not in log_text for t in raw.values()), "a pod token appears in the provider log"
    say("held: own object read with the role session; the other tenant's object refused by IAM, no file written")


def test_irsa_role_session_name_is_truncated_to_64(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/name"
    tenants.put("tenant-a", key, b"v")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a", name="batch-" + "x" * 70)
    attr, _ = tokens_for(pod)
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="irsa",
                        roleArn=tenants["tenant-a"].role_arn)
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        d.mount(params, target, pod=pod, tokens=attr)
    name = [r.params["RoleSessionName"] for r in log.since(mark) if r.operation == "AssumeRoleWithWebIdentity"]
    say(f"pod name of {len(pod.name)} chars -> RoleSessionName {name}")
    assert name == [f"keywarden-{pod.namespace}-{pod.name}"[:64]]
    assert len(name[0]) == 64


def test_irsa_role_of_another_tenant_is_refused_by_sts(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    _seed_both(tenants, key)
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    params = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="irsa",
                        roleArn=tenants["tenant-b"].role_arn)
    say("pod of tenant-a names tenant-b's role in its SPC; tenant-b's trust policy admits only tenant-b:app")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        assert_mount_fails(d, params, target, grpc.StatusCode.PERMISSION_DENIED, say=say, pod=pod, tokens=attr)
    reqs = log.since(mark)
    say(f"calls {[(r.service, r.operation, r.status) for r in reqs]}")
    assert [(r.operation, r.status) for r in reqs if r.service == "sts"] == [("AssumeRoleWithWebIdentity", 403)]
    assert not any(r.service == "s3" for r in reqs), "no S3 call after STS refused (no fallback to node keys)"
    say("held: STS AccessDenied -> PERMISSION_DENIED, and no S3 call at all")


def test_irsa_missing_token_is_failed_precondition(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-a", key, b"v")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="irsa",
                        roleArn=tenants["tenant-a"].role_arn)
    only_pod_identity, _ = tokens_for(pod, audiences=(POD_IDENTITY_AUDIENCE,))
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        for label, tokens in (("no serviceAccount.tokens attribute", None),
                              (f"tokens only for {POD_IDENTITY_AUDIENCE}", only_pod_identity)):
            say(label)
            assert_mount_fails(d, params, target, grpc.StatusCode.FAILED_PRECONDITION, mentions=["tokenRequests"],
                               say=say, pod=pod, tokens=tokens)
    calls = log.counts(mark)
    say(f"AWS calls: {dict(calls)}")
    assert sum(calls.values()) == 0, "no AWS call without a token (no fallback to node credentials)"


def test_irsa_expired_token_is_failed_precondition(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-a", key, b"v")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod, expired=(IRSA_AUDIENCE,))
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="irsa",
                        roleArn=tenants["tenant-a"].role_arn)
    say("sts.amazonaws.com token whose expirationTimestamp passed a minute ago")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        assert_mount_fails(d, params, target, grpc.StatusCode.FAILED_PRECONDITION, mentions=["expired"],
                           say=say, pod=pod, tokens=attr)
    calls = log.counts(mark)
    say(f"AWS calls: {dict(calls)}")
    assert calls[("sts", "AssumeRoleWithWebIdentity")] == 0 and sum(calls.values()) == 0


def test_irsa_without_role_is_failed_precondition(start_iam_provider, tenants: TenantWorld, kube_api: FakeKubeApi,
                                                  target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-a", key, b"v")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a", service_account="plain")
    attr, _ = tokens_for(pod)
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity=None)
    say("no roleArn; ServiceAccount tenant-a/plain exists without the role annotation")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        failure = assert_mount_fails(d, params, target, grpc.StatusCode.FAILED_PRECONDITION,
                                     mentions=[ROLE_ANNOTATION], say=say, pod=pod, tokens=attr)
        assert "plain" in failure.details, "the message names the ServiceAccount"
        assert kube_api.gets("tenant-a", "plain") >= 1, "the ServiceAccount was looked up"
        say(f"kube API requests: {[(r.method, r.path) for r in kube_api.requests]}")
        ghost = tenant_pod("tenant-a", service_account="ghost")
        ghost_attr, _ = tokens_for(ghost)
        say("ServiceAccount tenant-a/ghost does not exist (API answers 404)")
        try:
            d.mount(params, target, pod=ghost, tokens=ghost_attr)
        except Exception as e:  # MountFailed
            say(f"-> {e}")
            assert getattr(e, "code", None) in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND), e
            assert "ghost" in getattr(e, "details", ""), "the message names the ServiceAccount"
        else:
            raise AssertionError("a Mount for a ServiceAccount the API does not know succeeded")
    calls = log.counts(mark)
    say(f"AWS calls: {dict(calls)}")
    assert sum(calls.values()) == 0, "no role, no AWS call (no fallback to node credentials)"


def test_irsa_token_audience_flag(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"irsa/{uuid.uuid4().hex[:8]}/password"
    value = _secret("aud")
    tenants.put("tenant-a", key, value)
    provider = start_iam_provider(["--token-audience", CUSTOM_AUDIENCE])
    pod = tenant_pod("tenant-a")
    attr, raw = tokens_for(pod, audiences=(IRSA_AUDIENCE, CUSTOM_AUDIENCE))
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="irsa",
                        roleArn=tenants["tenant-a"].role_arn)
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        result = d.mount(params, target, pod=pod, tokens=attr)
    sent = [r.params.get("token_sha256") for r in log.since(mark) if r.operation == "AssumeRoleWithWebIdentity"]
    say(f"--token-audience {CUSTOM_AUDIENCE}; STS got the token of audience "
        f"{[a for a, t in raw.items() if _sha(t) in sent]}")
    assert sent == [_sha(raw[CUSTOM_AUDIENCE])], "the token of the configured audience, not sts.amazonaws.com's"
    assert result.files["password"].contents == value


def test_node_identity_refused_by_default_under_iam(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    key = f"node/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-b", key, b"v")
    provider = start_iam_provider(node_identity=False)
    params = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="node")
    say("provider holds admin keys as node credentials, started without --allow-node-identity")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        assert_mount_fails(d, params, target, grpc.StatusCode.PERMISSION_DENIED, mentions=["node"], say=say,
                           pod=tenant_pod("tenant-a"))
    calls = log.counts(mark)
    say(f"AWS calls: {dict(calls)}")
    assert sum(calls.values()) == 0


def test_node_identity_only_for_listed_namespaces_under_iam(start_iam_provider, tenants: TenantWorld, target,
                                                            say) -> None:
    key = f"node/{uuid.uuid4().hex[:8]}/password"
    value = _secret("node")
    tenants.put("tenant-b", key, value)
    provider = start_iam_provider(["--node-identity-namespaces", "kube-system,infra"], node_identity=True)
    params = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="node")
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        mark = log.mark()
        say("pod in tenant-a (not listed) asks for node identity")
        assert_mount_fails(d, params, target, grpc.StatusCode.PERMISSION_DENIED, mentions=["tenant-a"], say=say,
                           pod=tenant_pod("tenant-a"))
        assert sum(log.counts(mark).values()) == 0, "refused before any AWS call"
        mark = log.mark()
        result = d.mount(params, target, pod=Pod(namespace="infra", name="agent-0"))
        reqs = log.since(mark)
        say(f"pod in infra: files {sorted(result.files)}; calls {[(r.operation, r.status, r.access_key) for r in reqs]}")
        assert result.files["password"].contents == value
        assert all(r.access_key == tenants.admin_key for r in reqs if r.service == "s3"), "read with the node keys"
        assert not any(r.service == "sts" for r in reqs), "node identity assumes no role"
    say("held: node identity refused outside the list, served with the node's keys inside it")


def test_pod_identity_reads_own_object_via_second_endpoint_and_is_denied_the_other(
    start_iam_provider, tenants: TenantWorld, pod_agent: FakePodIdentityAgent, target, say
) -> None:
    key = f"podid/{uuid.uuid4().hex[:8]}/password"
    values = _seed_both(tenants, key)
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, raw = tokens_for(pod, agent=pod_agent)
    own = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="podIdentity")
    other = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="podIdentity")
    say("KEYWARDEN_POD_IDENTITY_ENDPOINTS = <loopback port with nothing listening>,<fake agent>")
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        mark = log.mark()
        result = d.mount(own, target, pod=pod, tokens=attr)
        reqs = log.since(mark)
        say(f"own: files {sorted(result.files)}; agent requests {len(pod_agent.requests)}; "
            f"calls {[(r.service, r.operation, r.status) for r in reqs]}")
        assert result.files["password"].contents == values["tenant-a"]
        assert pod_agent.requests, "the second endpoint (the agent) was asked after the first refused"
        assert all(r.authorization == raw[POD_IDENTITY_AUDIENCE] for r in pod_agent.requests), (
            "Authorization carries the pods.eks.amazonaws.com token, as is"
        )
        assert not any(r.operation == "AssumeRoleWithWebIdentity" for r in reqs), "podIdentity does not use IRSA"
        gets = [r for r in reqs if (r.service, r.operation) == ("s3", "GetObject")]
        assert gets and all(r.access_key != tenants.admin_key for r in gets), "read with the agent's credentials"
        mounts.clear(target)
        mark = log.mark()
        assert_mount_fails(d, other, target, grpc.StatusCode.PERMISSION_DENIED, say=say, pod=pod, tokens=attr)
        reqs = log.since(mark)
        say(f"tenant-b's bucket: calls {[(r.service, r.operation, r.status) for r in reqs]}")
        assert any((r.operation, r.status) == ("GetObject", 403) for r in reqs)
        assert not any(r.service == "s3" and r.status == 200 for r in reqs)
    log_text = provider.log_text()
    leaked = [s for c in pod_agent.issued for s in (c["SecretAccessKey"], c["Token"]) if s in log_text]
    assert pod_agent.issued and not leaked, "credentials from the agent appear in the provider log"
    assert all(t not in log_text for t in raw.values()), "a pod token appears in the provider log"
    say("held: second endpoint used, own object read, other tenant's refused by IAM")


def test_pod_identity_agent_unreachable_does_not_fall_back(
    start_iam_provider, tenants: TenantWorld, pod_agent: FakePodIdentityAgent, target, say
) -> None:
    key = f"podid/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-b", key, b"v")
    provider = start_iam_provider(env={"KEYWARDEN_POD_IDENTITY_ENDPOINTS": f"{down_url()},{down_url()}"})
    pod = tenant_pod("tenant-b")
    attr, _ = tokens_for(pod, agent=pod_agent)
    params = parameters([{"objectName": f"s3://{tenants['tenant-b'].bucket}/{key}"}], identity="podIdentity")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        try:
            d.mount(params, target, pod=pod, tokens=attr)
        except Exception as e:  # MountFailed
            say(f"both agent endpoints down -> {e}")
            assert getattr(e, "code", None) in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION,
                                                grpc.StatusCode.DEADLINE_EXCEEDED), e
        else:
            raise AssertionError("Mount succeeded with no Pod Identity agent reachable: a fallback identity was used")
    calls = log.counts(mark)
    say(f"AWS calls: {dict(calls)}")
    assert sum(calls.values()) == 0, "no AWS call with any other identity"


def test_pod_identity_timeout_moves_on_to_the_next_endpoint(
    start_iam_provider, tenants: TenantWorld, pod_agent: FakePodIdentityAgent, target, say
) -> None:
    key = f"podid/{uuid.uuid4().hex[:8]}/password"
    value = _secret("podid-timeout")
    tenants.put("tenant-a", key, value)
    hanging = HangingEndpoint()
    try:
        provider = start_iam_provider(["--pod-identity-timeout", "1s"],
                                      env={"KEYWARDEN_POD_IDENTITY_ENDPOINTS": f"{hanging.url},{pod_agent.url}"})
        pod = tenant_pod("tenant-a")
        attr, _ = tokens_for(pod, agent=pod_agent)
        params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="podIdentity")
        say("first endpoint accepts the connection and never answers; --pod-identity-timeout 1s")
        with Driver(provider.socket_path) as d:
            start = time.monotonic()
            result = d.mount(params, target, pod=pod, tokens=attr)
            took = time.monotonic() - start
    finally:
        hanging.close()
    say(f"Mount served via the second endpoint in {took:.2f}s; agent requests {len(pod_agent.requests)}")
    assert result.files["password"].contents == value
    assert len(pod_agent.requests) >= 1
    assert took < 8.0, f"the 1s timeout bounds the wait on a silent endpoint, took {took:.1f}s"


def test_pod_identity_missing_token_is_failed_precondition(
    start_iam_provider, tenants: TenantWorld, pod_agent: FakePodIdentityAgent, target, say
) -> None:
    key = f"podid/{uuid.uuid4().hex[:8]}/password"
    tenants.put("tenant-a", key, b"v")
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod, audiences=(IRSA_AUDIENCE,))
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/{key}"}], identity="podIdentity")
    say(f"identity podIdentity, tokens only for {IRSA_AUDIENCE}")
    log = tenants.endpoint.requests
    mark = log.mark()
    with Driver(provider.socket_path) as d:
        assert_mount_fails(d, params, target, grpc.StatusCode.FAILED_PRECONDITION,
                           mentions=["tokenRequests", POD_IDENTITY_AUDIENCE], say=say, pod=pod, tokens=attr)
    assert pod_agent.requests == [], "the agent is not asked without a token"
    assert sum(log.counts(mark).values()) == 0
