"""Rotation and caching (docs/reference.md §2.7, §6 rotation row, §7 rows 2–3), counted at the endpoint.

Driver v1.6.0+ re-calls Mount about once a minute per volume. For an unchanged
world a re-Mount must cost, per S3 object, one conditional GetObject
(`If-None-Match` -> 304, sent with the pod's own credentials: that is what
authorizes reuse) and no KMS or STS call; a changed object is served new;
inline ciphertext costs nothing; identical concurrent fetches are coalesced.
Every count here is read from the IAM-enforced endpoint's own request log
(harness/iam.py), not only from the provider's metrics. Tests run as a tenant
pod with IRSA or EKS Pod Identity, so credentials, KMS and S3 are all really
authorized; the `node` variants run the same scenario with node identity (the
provider's own keys). Caches never serve across identities: a pod IAM refuses
gets nothing, however warm the caches are.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from harness import mounts, sealer
from harness.checks import assert_mount_fails
from harness.driver import Driver, Pod
from harness.iam import TenantWorld
from harness.iam_fixtures import (  # noqa: F401  (fixtures)
    iam_aws,
    kube_api,
    metric,
    pod_agent,
    start_iam_provider,
    tenant_pod,
    tenants,
    tokens_for,
)
from harness.spc import parameters

KINDS = ["s3", "kms", "sealed"]
CTX = {"app": "web"}


def _secret(label: str) -> bytes:
    return f"{label}-{uuid.uuid4().hex}".encode()


def _stored(tenants: TenantWorld, kind: str, value: bytes) -> tuple[bytes, dict[str, Any]]:
    """(bytes to put in S3, extra object-spec keys) for an object of `kind` whose plaintext is `value`."""
    if kind == "s3":
        return value, {}
    if kind == "kms":
        return tenants.encrypt(value, CTX), {"objectType": "kms", "encryptionContext": CTX}
    return sealer.seal(tenants.kms, tenants.kms_key_id, value, CTX), {"objectType": "sealed"}


def _put(tenants: TenantWorld, kind: str, key: str, value: bytes) -> tuple[str, dict[str, Any], str]:
    """Store an object of `kind`; returns (s3:// name, object spec, VersionId)."""
    body, extra = _stored(tenants, kind, value)
    put = tenants.put("tenant-a", key, body)
    name = f"s3://{tenants['tenant-a'].bucket}/{key}"
    return name, {"objectName": name, "objectAlias": kind, **extra}, put["VersionId"]


def _irsa(objects: list[dict[str, Any]], tenants: TenantWorld, tenant: str = "tenant-a") -> dict[str, str]:
    return parameters(objects, identity="irsa", roleArn=tenants[tenant].role_arn)


def _calls(reqs: list[Any]) -> list[tuple[str, str, int]]:
    return [(r.service, r.operation, r.status) for r in reqs]


IDENTITIES = ["irsa", "podIdentity", "node"]


def _as(identity: str, start_iam_provider: Any, tenants: TenantWorld, extra_args: list[str] | None = None
        ) -> tuple[Any, Pod, str | None, Any]:
    """(provider, pod, tokens attribute, objects -> SPC parameters) for a tenant-a pod using `identity`:
    irsa with tenant-a's role, podIdentity (the agent hands out tenant-a's role), or node identity
    (the provider's own admin keys, allowed)."""
    pod = tenant_pod("tenant-a")
    if identity == "node":
        provider = start_iam_provider(extra_args, node_identity=True)
        return provider, pod, None, lambda objects: parameters(objects, identity="node")
    if identity == "podIdentity":
        provider = start_iam_provider(extra_args)
        attr, _ = tokens_for(pod, agent=start_iam_provider.agent)
        return provider, pod, attr, lambda objects: parameters(objects, identity="podIdentity")
    provider = start_iam_provider(extra_args)
    attr, _ = tokens_for(pod)
    return provider, pod, attr, lambda objects: _irsa(objects, tenants)


def _counted_mount(d: Driver, log: Any, params: dict[str, str], target: Any, pod: Pod, attr: str) -> tuple[Any, list]:
    """The Mount's result, and the requests the endpoint received while it ran."""
    mark = log.mark()
    result = d.mount(params, target, pod=pod, tokens=attr)
    return result, log.since(mark)


def _assert_own_keys(identity: str, req: Any, tenants: TenantWorld) -> None:
    if identity == "node":
        assert req.access_key == tenants.admin_key, "node identity: the provider's own keys"
    else:
        assert req.access_key.startswith("ASIA") and req.access_key != tenants.admin_key, (
            "the conditional request is made with the pod's own role session"
        )


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_remount_costs_one_conditional_get(start_iam_provider, tenants: TenantWorld, target, say,
                                                     kind: str, identity: str) -> None:
    value = _secret(f"{kind}-unchanged")
    name, spec, version = _put(tenants, kind, f"rot/{uuid.uuid4().hex[:8]}/{kind}", value)
    provider, pod, attr, spc = _as(identity, start_iam_provider, tenants)
    params = spc([spec])
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        first, cold = _counted_mount(d, log, params, target, pod, attr)
        say(f"[{kind}, {identity}] cold Mount: {_calls(cold)}")
        assert first.files[kind].contents == value
        assert first.versions == {name: version}
        second, warm = _counted_mount(d, log, params, target, pod, attr)
    say(f"[{kind}, {identity}] re-Mount of the unchanged volume: {_calls(warm)} "
        f"(If-None-Match {[r.headers.get('if-none-match') for r in warm]})")
    assert second.files[kind].contents == value, "the cached plaintext is served"
    assert second.versions == {name: version}
    counts = Counter((r.service, r.operation) for r in warm)
    assert counts[("s3", "GetObject")] == 1, f"one GetObject per object, got {dict(counts)}"
    get = next(r for r in warm if r.operation == "GetObject")
    assert "if-none-match" in get.headers, "the re-Mount GetObject is conditional (If-None-Match)"
    assert get.status == 304, f"the endpoint answered {get.status}, not 304 Not Modified"
    _assert_own_keys(identity, get, tenants)
    kms, sts = sum(1 for r in warm if r.service == "kms"), sum(1 for r in warm if r.service == "sts")
    assert kms == 0, f"{kms} KMS calls on an unchanged re-Mount"
    assert sts == 0, f"{sts} STS calls on an unchanged re-Mount"
    assert len(warm) == 1, f"nothing but the conditional GetObject: {_calls(warm)}"
    say(f"held: [{kind}, {identity}] re-Mount = 1 conditional GetObject (304), 0 KMS, 0 STS at the endpoint")


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_changed_object_is_served_new(start_iam_provider, tenants: TenantWorld, target, say, kind: str,
                                      identity: str) -> None:
    key = f"rot/{uuid.uuid4().hex[:8]}/{kind}"
    old = _secret(f"{kind}-v1")
    name, spec, v1 = _put(tenants, kind, key, old)
    provider, pod, attr, spc = _as(identity, start_iam_provider, tenants)
    params = spc([spec])
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        first = d.mount(params, target, pod=pod, tokens=attr)
        assert first.files[kind].contents == old and first.versions == {name: v1}
        new = _secret(f"{kind}-v2")
        _, _, v2 = _put(tenants, kind, key, new)
        say(f"[{kind}] object rotated in S3: version {v1} -> {v2}")
        second, reqs = _counted_mount(d, log, params, target, pod, attr)
    say(f"[{kind}] next Mount: versions {second.versions}; calls {_calls(reqs)}")
    assert second.files[kind].contents == new, "the new content is served"
    assert second.versions == {name: v2}, "and the new version"
    counts = Counter((r.service, r.operation) for r in reqs)
    assert counts[("s3", "GetObject")] == 1
    assert all(r.status == 200 for r in reqs if r.operation == "GetObject")
    _assert_own_keys(identity, next(r for r in reqs if r.operation == "GetObject"), tenants)
    assert counts[("kms", "Decrypt")] == (0 if kind == "s3" else 1), dict(counts)
    assert sum(1 for r in reqs if r.service == "sts") == 0, "credentials still cached"
    say(f"held: [{kind}] new content and version on the next Mount")


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("kind", ["kms", "sealed"])
def test_inline_ciphertext_remount_costs_nothing(start_iam_provider, tenants: TenantWorld, target, say,
                                                 kind: str, identity: str) -> None:
    value = _secret(f"inline-{kind}")
    blob, extra = _stored(tenants, kind, value)
    spec = {"ciphertext": base64.b64encode(blob).decode(), "objectAlias": f"inline/{kind}", **extra}
    provider, pod, attr, spc = _as(identity, start_iam_provider, tenants)
    params = spc([spec])
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        first, cold = _counted_mount(d, log, params, target, pod, attr)
        second, warm = _counted_mount(d, log, params, target, pod, attr)
    say(f"[inline {kind}, {identity}] cold: {_calls(cold)}; re-Mount: {_calls(warm)}")
    assert first.files[f"inline/{kind}"].contents == value == second.files[f"inline/{kind}"].contents
    assert first.versions == second.versions
    assert Counter((r.service, r.operation) for r in cold)[("kms", "Decrypt")] == 1
    assert warm == [], f"an inline re-Mount makes no AWS call, got {_calls(warm)}"
    say(f"held: [inline {kind}] re-Mount cost 0 AWS calls")


@pytest.mark.parametrize("identity", IDENTITIES)
def test_concurrent_mounts_are_coalesced(start_iam_provider, tenants: TenantWorld, say, identity: str) -> None:
    objects, values = [], {}
    for kind in KINDS:
        values[kind] = _secret(f"{kind}-coalesced")
        # `slow`: the endpoint answers these GetObjects 2 s late, so all 50 Mounts
        # arrive while the first fetch is still in flight (harness/iam_server.py).
        _, spec, _ = _put(tenants, kind, f"rot/{uuid.uuid4().hex[:8]}/slow/{kind}", values[kind])
        objects.append(spec)
    provider, _, attr, spc = _as(identity, start_iam_provider, tenants)
    params = spc(objects)
    pods = [Pod(name=f"web-{i}", namespace="tenant-a", uid=str(uuid.uuid4()), service_account="app")
            for i in range(50)]
    barrier = threading.Barrier(len(pods))
    log = tenants.endpoint.requests
    with Driver(provider.socket_path, timeout=60.0) as d:
        def mount(pod: Pod) -> dict[str, bytes]:
            request = d.mount_request(params, f"/nonexistent/{pod.uid}", pod=pod, tokens=attr)
            barrier.wait(timeout=30)
            response = d.mount_raw(request)
            return {f.path: f.contents for f in response.files}

        mark = log.mark()
        with ThreadPoolExecutor(max_workers=len(pods)) as pool:
            results = list(pool.map(mount, pods))
        reqs = log.since(mark)
    counts = Counter((r.service, r.operation) for r in reqs)
    say(f"[{identity}] GetObjects: {[(r.path.rsplit('/', 1)[-1], r.status, r.conditional) for r in reqs if r.operation == 'GetObject']}")
    say(f"[{identity}] 50 simultaneous Mounts of one SPC (3 objects: s3, kms, sealed), one identity: "
        f"endpoint saw {dict(counts)}")
    assert all(r == values for r in results), "every Mount got every file"
    assert counts[("s3", "GetObject")] == len(KINDS), "1 GetObject per object in total"
    assert counts[("kms", "Decrypt")] == 2, "1 kms:Decrypt per KMS-backed object (kms, sealed) in total"
    # irsa: the provider's AssumeRoleWithWebIdentity; podIdentity: the agent's AssumeRole for it.
    sts = 0 if identity == "node" else 1
    got_sts = sum(n for (svc, _), n in counts.items() if svc == "sts")
    assert got_sts == sts, f"{sts} STS call(s) for the one identity, got {got_sts}"
    if identity == "podIdentity":
        agent_calls = len(start_iam_provider.agent.requests)
        say(f"[podIdentity] agent requests: {agent_calls}")
        assert agent_calls == 1, "one credentials request to the agent for the one token"
    assert sum(counts.values()) == len(KINDS) + 2 + sts, f"nothing else: {dict(counts)}"
    say(f"held: 3 GetObject, 2 Decrypt, {sts} STS call(s) for 50 Mounts")


def test_credentials_cached_per_token(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    value = _secret("creds")
    _, spec, _ = _put(tenants, "s3", f"rot/{uuid.uuid4().hex[:8]}/s3", value)
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    first, _ = tokens_for(pod)
    renewed, _ = tokens_for(pod)
    params = _irsa([spec], tenants)
    log = tenants.endpoint.requests
    sts_calls = []
    with Driver(provider.socket_path) as d:
        for label, attr in (("token 1", first), ("token 1 again", first), ("token 2 (kubelet renewed it)", renewed),
                            ("token 2 again", renewed)):
            mark = log.mark()
            result = d.mount(params, target, pod=pod, tokens=attr)
            assert result.files["s3"].contents == value
            n = log.count("sts", "AssumeRoleWithWebIdentity", mark=mark)
            sts_calls.append(n)
            say(f"{label}: {n} AssumeRoleWithWebIdentity")
    assert sts_calls == [1, 0, 1, 0], "credentials are cached per (role, token): a new token is a new identity proof"


@pytest.mark.parametrize("identity", IDENTITIES)
def test_cache_ttl_zero_fetches_every_time(start_iam_provider, tenants: TenantWorld, target, say,
                                           identity: str) -> None:
    value = _secret("ttl0")
    _, spec, _ = _put(tenants, "kms", f"rot/{uuid.uuid4().hex[:8]}/kms", value)
    provider, pod, attr, spc = _as(identity, start_iam_provider, tenants, ["--cache-ttl", "0"])
    params = spc([spec])
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        d.mount(params, target, pod=pod, tokens=attr)
        per_mount = []
        for _ in range(2):
            mark = log.mark()
            result = d.mount(params, target, pod=pod, tokens=attr)
            assert result.files["kms"].contents == value
            per_mount.append(log.since(mark))
    for i, reqs in enumerate(per_mount, 2):
        say(f"[{identity}] --cache-ttl 0, Mount {i}: {_calls(reqs)}")
        counts = Counter((r.service, r.operation) for r in reqs)
        assert counts[("s3", "GetObject")] == 1
        assert all(r.status == 200 for r in reqs if r.operation == "GetObject"), "a full fetch, not a 304"
        assert counts[("kms", "Decrypt")] == 1, "decrypted again: no plaintext cache"
    say("held: with --cache-ttl 0 every Mount fetches and decrypts")


def test_cache_metrics_move(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    value = _secret("metrics")
    _, spec, _ = _put(tenants, "kms", f"rot/{uuid.uuid4().hex[:8]}/kms", value)
    provider = start_iam_provider()
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    params = _irsa([spec], tenants)
    log = tenants.endpoint.requests
    family = "keywarden_provider_cache_total"

    def snapshot() -> dict[str, float]:
        status, text = provider.http_get("/metrics")
        assert status == 200
        return {f"{c}/{r}": metric(text, family, cache=c, result=r)
                for c in ("plaintext", "credentials", "plans") for r in ("hit", "miss")} | {
            "s3_get": metric(text, "keywarden_provider_aws_calls_total", service="s3", operation="GetObject"),
            "kms_decrypt": metric(text, "keywarden_provider_aws_calls_total", service="kms", operation="Decrypt"),
        }

    with Driver(provider.socket_path) as d:
        m0 = snapshot()
        mark = log.mark()
        cold_result = d.mount(params, target, pod=pod, tokens=attr)
        m1 = snapshot()
        cold_reqs = log.since(mark)
        mark = log.mark()
        warm_result = d.mount(params, target, pod=pod, tokens=attr)
        m2 = snapshot()
        warm_reqs = log.since(mark)
    assert cold_result.files["kms"].contents == value and warm_result.files["kms"].contents == value
    cold = {k: m1[k] - m0[k] for k in m0}
    warm = {k: m2[k] - m1[k] for k in m0}
    at_cold = Counter((r.service, r.operation) for r in cold_reqs)
    at_warm = Counter((r.service, r.operation) for r in warm_reqs)
    say(f"cold Mount: metric deltas {cold}; at the endpoint {dict(at_cold)}")
    say(f"re-Mount:   metric deltas {warm}; at the endpoint {dict(at_warm)}")
    # What the endpoint saw: the cold Mount exchanged the token and decrypted, the re-Mount neither.
    assert at_cold[("sts", "AssumeRoleWithWebIdentity")] == 1 and at_cold[("kms", "Decrypt")] == 1
    assert at_warm[("sts", "AssumeRoleWithWebIdentity")] == 0 and at_warm[("kms", "Decrypt")] == 0
    # The cache counters tell the same story.
    assert (cold["plaintext/miss"], cold["plaintext/hit"]) == (1, 0), "one object, decrypted: one plaintext miss"
    assert (cold["credentials/miss"], cold["credentials/hit"]) == (1, 0), "one token exchange: one credentials miss"
    assert (warm["plaintext/miss"], warm["plaintext/hit"]) == (0, 1), "no Decrypt: served by the plaintext cache"
    assert (warm["credentials/miss"], warm["credentials/hit"]) == (0, 1), "no STS call: cached credentials"
    # The class's objects were parsed once: the re-Mount took the kept plans.
    assert (cold["plans/miss"], cold["plans/hit"]) == (1, 0) and (warm["plans/miss"], warm["plans/hit"]) == (0, 1)
    for delta, seen in ((cold, at_cold), (warm, at_warm)):
        assert delta["s3_get"] == seen[("s3", "GetObject")], "aws_calls_total agrees with the endpoint"
        assert delta["kms_decrypt"] == seen[("kms", "Decrypt")], "aws_calls_total agrees with the endpoint"


def test_cached_plaintext_is_not_served_to_another_identity(start_iam_provider, tenants: TenantWorld, target,
                                                            say) -> None:
    value = _secret("tenant-a-only")
    name, spec, _ = _put(tenants, "kms", f"rot/{uuid.uuid4().hex[:8]}/kms", value)
    provider = start_iam_provider()
    a, b = tenant_pod("tenant-a"), tenant_pod("tenant-b")
    attr_a, _ = tokens_for(a)
    attr_b, _ = tokens_for(b)
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        d.mount(_irsa([spec], tenants, "tenant-a"), target, pod=a, tokens=attr_a)
        say(f"tenant-a mounted {name}: its plaintext is now cached")
        mounts.clear(target)
        mark = log.mark()
        failure = assert_mount_fails(d, _irsa([spec], tenants, "tenant-b"), target,
                                     grpc.StatusCode.PERMISSION_DENIED, say=say, pod=b, tokens=attr_b)
        reqs = log.since(mark)
    say(f"tenant-b asks for the same object: {_calls(reqs)}")
    assert value.decode() not in failure.details
    gets = [r for r in reqs if r.operation == "GetObject"]
    assert gets and all(r.status == 403 for r in gets), "tenant-b's own request was refused by IAM"
    assert not any(r.service == "kms" for r in reqs)
    say("held: the cache served nothing to an identity IAM refuses")


def test_warm_cache_does_not_bypass_the_role_trust(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    value = _secret("trust")
    name, spec, _ = _put(tenants, "s3", f"rot/{uuid.uuid4().hex[:8]}/s3", value)
    provider = start_iam_provider()
    a, b = tenant_pod("tenant-a"), tenant_pod("tenant-b")
    attr_a, _ = tokens_for(a)
    attr_b, _ = tokens_for(b)
    params = _irsa([spec], tenants, "tenant-a")
    log = tenants.endpoint.requests
    with Driver(provider.socket_path) as d:
        d.mount(params, target, pod=a, tokens=attr_a)
        say(f"tenant-a mounted {name} with its role: plaintext and credentials are cached")
        mounts.clear(target)
        mark = log.mark()
        failure = assert_mount_fails(d, params, target, grpc.StatusCode.PERMISSION_DENIED, say=say, pod=b,
                                     tokens=attr_b)
        reqs = log.since(mark)
    say(f"tenant-b's pod names tenant-a's role: {_calls(reqs)}")
    assert value.decode() not in failure.details
    assert [(r.operation, r.status) for r in reqs] == [("AssumeRoleWithWebIdentity", 403)], (
        "tenant-b's own token went to STS and was refused; nothing was served from the caches"
    )


def test_inline_cache_is_per_identity(start_iam_provider, tenants: TenantWorld, target, say) -> None:
    value = _secret("inline-shared")
    blob, extra = _stored(tenants, "kms", value)
    spec = {"ciphertext": base64.b64encode(blob).decode(), "objectAlias": "shared", **extra}
    provider = start_iam_provider()
    a, b = tenant_pod("tenant-a"), tenant_pod("tenant-b")
    attr_a, _ = tokens_for(a)
    attr_b, _ = tokens_for(b)
    log = tenants.endpoint.requests
    decrypts = []
    with Driver(provider.socket_path) as d:
        for label, pod, attr, tenant in (("tenant-a", a, attr_a, "tenant-a"), ("tenant-b", b, attr_b, "tenant-b"),
                                         ("tenant-a again", a, attr_a, "tenant-a")):
            mark = log.mark()
            result = d.mount(_irsa([spec], tenants, tenant), target, pod=pod, tokens=attr)
            assert result.files["shared"].contents == value
            keys = [r.access_key for r in log.since(mark) if (r.service, r.operation) == ("kms", "Decrypt")]
            decrypts.append(len(keys))
            say(f"{label}: {len(keys)} kms:Decrypt {keys}")
    assert decrypts == [1, 1, 0], "the same inline ciphertext is decrypted once per identity, then cached"
