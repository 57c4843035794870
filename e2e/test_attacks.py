"""A hostile tenant against the provider (docs/security-model.md, "Threats from a tenant").

The attacker may create a SecretProviderClass and a pod in its own namespace, and so chooses every
byte of `attributes`, every object it names (and its size), and every jmesPath expression. Each
test is one class of attack with several variants, written as an attacker would try them, and
checks four things after each variant, all against oracles outside the provider:

1. the Mount is refused with the expected gRPC code and a message naming the rule;
2. the same provider process (same pid, never restarted) serves the next good Mount;
3. its peak resident memory, read from `/proc/<pid>/status` (`VmHWM`, harness/load.py), stays under the memory
   limit the chart gives the container (read from charts/keywarden/values.yaml);
4. no other tenant's secret or key material appears in any file, response or log line.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml

from harness import sealer
from harness.aws import MotoEndpoint, Seeder
from harness.fault_fixtures import proxy, proxy_to, start_proxied  # noqa: F401  (fixtures)
from harness.fault_proxy import Fault, FaultProxy
from harness.checks import assert_mount_fails
from harness.driver import Driver, MountFailed, Pod, build_attributes, volume_context
from harness.load import ProcReading
from harness.iam import TenantWorld
from harness.iam_fixtures import (  # noqa: F401  (fixtures)
    iam_aws,
    kube_api,
    pod_agent,
    start_iam_provider,
    tenant_pod,
    tenants,
    tokens_for,
)
from harness.provider import ProviderProcess
from harness.spc import objects_yaml, parameters

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def chart_memory_limit() -> int:
    """The provider container's memory limit, as the chart sets it (e.g. `128Mi`)."""
    values = yaml.safe_load((ROOT / "charts/keywarden/values.yaml").read_text())
    text = values["resources"]["limits"]["memory"]
    match = re.fullmatch(r"(\d+)(Mi|Gi)", text)
    assert match, f"unexpected memory limit {text!r}"
    return int(match[1]) * (MIB if match[2] == "Mi" else 1024 * MIB)


@dataclass
class Victim:
    """Tenant B's secrets, which no attack may reveal."""

    secrets: list[bytes]


@dataclass
class Arena:
    """One provider under attack, tenant B's secrets beside it, and a good Mount to try after."""

    provider: ProviderProcess
    driver: Driver
    seed: Seeder
    aws: MotoEndpoint
    bucket: str
    target: Path
    victim: Victim
    say: Callable[[str], None]

    def attributes(self, params: dict[str, str], pod: Pod | None = None) -> str:
        return build_attributes(params, volume_context(pod or Pod(namespace="tenant-a"), "attack"))

    def refused(self, code: grpc.StatusCode, mentions: list[str], attributes: str) -> MountFailed:
        """Sends the attack; asserts the refusal and everything an attack must leave intact."""
        pid = self.provider.proc.pid
        failure = assert_mount_fails(self.driver, {}, self.target, code, mentions, self.say, attributes=attributes)
        assert len(failure.details) < 600, f"the message quotes a bounded prefix: {len(failure.details)} chars"
        self.intact(pid, failure.details)
        return failure

    def intact(self, pid: int, *seen: str | bytes) -> None:
        assert self.provider.proc.poll() is None, "the provider died"
        assert self.provider.proc.pid == pid, "the provider was restarted"
        # Into a target of its own: the attack's target must stay empty for the next variant.
        with tempfile.TemporaryDirectory(prefix="kw-good-") as scratch:
            good = self.driver.mount(parameters([{"objectName": f"s3://{self.bucket}/good"}]), Path(scratch))
        assert good.files["good"].contents == b"good-value", "the next good Mount is served"
        peak, limit = ProcReading.of(pid).peak_rss, chart_memory_limit()
        self.say(f"   provider alive (pid {pid}), next Mount served, VmHWM {peak / MIB:.1f} MiB "
                 f"(limit {limit / MIB:.0f} MiB)")
        assert peak < limit, f"peak RSS {peak} over the chart's memory limit {limit}"
        self.no_leak(*seen)

    def no_leak(self, *seen: str | bytes) -> None:
        log = self.provider.log_path.read_bytes()
        files = b"".join(p.read_bytes() for p in self.target.rglob("*") if p.is_file() and not p.is_symlink())
        for secret in self.victim.secrets:
            for where, blob in [("log", log), ("files", files)] + [
                ("response", s.encode() if isinstance(s, str) else s) for s in seen
            ]:
                assert secret not in blob, f"tenant B's secret appears in the {where}"
                b64 = base64.b64encode(secret)
                assert b64 not in blob, f"tenant B's secret appears base64-encoded in the {where}"


@pytest.fixture
def arena(start_provider, seed: Seeder, aws: MotoEndpoint, bucket: str, kms_key: dict, target: Path, say) -> Arena:
    provider = start_provider()
    seed.put(bucket, "good", b"good-value")
    victim_value = f"tenant-b-{uuid.uuid4().hex}".encode()
    seed.put(bucket, "tenant-b/password", victim_value)
    with Driver(provider.socket_path) as driver:
        yield Arena(provider, driver, seed, aws, bucket, target, Victim([victim_value]), say)


def objs(arena: Arena, objects: list[dict] | str, **extra: str) -> str:
    text = objects if isinstance(objects, str) else objects_yaml(objects)
    return arena.attributes({"objects": text, "identity": "node", **extra})


# --- 1. recursion: one SecretProviderClass must not crash the node's provider ------------------


JMES_BOMBS = {
    "nested-parentheses": "(" * 20_000 + "a" + ")" * 20_000,
    "negations": "!" * 200 + "a",
    "negations-long": "!" * 100_000 + "a",
    "projections": "[*]" * 80,
    "sub-expressions": ".".join(["a"] * 100),
    "pipes": " | ".join(["a"] * 60),
    "multi-select-hash": "{a:" * 30 + "b" + "}" * 30,
    "or-chain": " || ".join(["a"] * 40),
    "functions": "to_string(" * 20 + "@" + ")" * 20,
    "unbalanced-brackets": "[" * 40,
    "filter-nesting": "a[?" * 12 + "b" + "]" * 12,
}


@pytest.mark.parametrize("name", list(JMES_BOMBS))
def test_jmespath_recursion_is_refused_before_compiling(arena: Arena, name: str) -> None:
    path = JMES_BOMBS[name]
    arena.say(f"jmesPath {name}: {len(path)} bytes, starts {path[:40]!r}")
    attributes = objs(arena, [{"objectName": f"s3://{arena.bucket}/good", "objectAlias": "whole",
                               "jmesPath": [{"path": path, "objectAlias": "field"}]}])
    mark = arena.aws.requests.mark()
    arena.refused(grpc.StatusCode.INVALID_ARGUMENT,
                  ["MAX_JMESPATH_BYTES", "MAX_JMESPATH_OPERATORS", "MAX_JMESPATH_NESTING", "function",
                   "multi-select", "MAX_OBJECTS_BYTES"], attributes)
    assert arena.aws.requests.count("s3", mark=mark) == 1, "only the good Mount after it reached S3"


def test_yaml_and_json_nesting_is_refused(arena: Arena) -> None:
    for name, text in [
        ("flow", "[" * 30_000 + "]" * 30_000),
        ("block", "- " * 5_000 + "x"),
        ("maps", "{a: " * 5_000 + "b" + "}" * 5_000),
    ]:
        arena.say(f"objects YAML nested: {name}")
        arena.refused(grpc.StatusCode.INVALID_ARGUMENT, ["objects"], objs(arena, text))
    deep_json = '{"objects":' + "[" * 10_000 + "]" * 10_000 + "}"  # serde_json stops at 128
    arena.say("attributes JSON nested 10,000 deep")
    arena.refused(grpc.StatusCode.INVALID_ARGUMENT, ["attributes"], deep_json)


# --- 2. small input, huge memory ----------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ["- objectName: s3://b/k", "  objectAlias: &l0 x", "  encryptionContext:"]
    lines += [f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_yaml_expansion_is_refused(arena: Arena) -> None:
    variants = {
        "billion-laughs": billion_laughs(),
        "alias-repeated-objects": "- &o {objectName: s3://" + arena.bucket + "/good, objectAlias: a}\n"
        + "".join("- *o\n" for _ in range(20_000)),
        "merge-key": "- &o {objectName: s3://" + arena.bucket + "/good}\n- <<: *o\n  objectAlias: b\n",
        "tagged": "- objectName: !!binary " + base64.b64encode(b"s3://x/y").decode() + "\n",
    }
    for name, text in variants.items():
        arena.say(f"objects YAML {name}: {len(text)} bytes")
        arena.refused(grpc.StatusCode.INVALID_ARGUMENT, ["anchor", "alias", "tag", "MAX_OBJECTS_BYTES"],
                      objs(arena, text))


def test_counts_and_sizes_are_bounded_before_parsing(arena: Arena) -> None:
    many = [{"objectName": f"s3://{arena.bucket}/good", "objectAlias": f"f{i}"} for i in range(300)]
    compact = "".join(f"- {{objectName: s3://{arena.bucket}/good, objectAlias: f{i}}}\n" for i in range(300))
    assert len(compact) < 64 * 1024
    many_jmes = [{"objectName": f"s3://{arena.bucket}/good", "objectAlias": "j",
                  "jmesPath": [{"path": "a", "objectAlias": f"j{i}"} for i in range(300)]}]
    cases = [
        ("300 objects", objs(arena, compact), ["MAX_OBJECTS"]),
        ("300 jmesPath entries", objs(arena, many_jmes), ["MAX_JMESPATH_ENTRIES"]),
        ("200 KiB of attributes", objs(arena, many[:1], padding="x" * 200_000), ["MAX_ATTRIBUTES_BYTES"]),
        ("a 1 MiB alias", objs(arena, [{"objectName": f"s3://{arena.bucket}/good",
                                        "objectAlias": "a/" * 30_000 + "x"}]),
         ["MAX_OBJECTS_BYTES", "4096"]),
        ("a path of 2,000 elements", objs(arena, [{"objectName": f"s3://{arena.bucket}/good",
                                                    "objectAlias": "a/" * 2_000 + "x"}]), ["MAX_PATH_DEPTH"]),
        ("a path of 40 elements", objs(arena, [{"objectName": f"s3://{arena.bucket}/good",
                                                 "objectAlias": "a/" * 40 + "x"}]), ["MAX_PATH_DEPTH"]),
    ]
    for name, attributes, mentions in cases:
        arena.say(f"{name}: attributes of {len(attributes)} bytes")
        arena.refused(grpc.StatusCode.INVALID_ARGUMENT, mentions, attributes)
    # Past MAX_REQUEST_BYTES the gRPC layer refuses the request before it is decoded whole.
    huge = objs(arena, many * 100)
    arena.say(f"tens of thousands of objects: a request of {len(huge)} bytes")
    arena.refused(grpc.StatusCode.OUT_OF_RANGE, ["message length too large", "524288"], huge)


def test_one_object_under_many_aliases_stops_at_the_response_limit(arena: Arena) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    arena.seed.put(arena.bucket, "big", big)
    for name, objects in [
        ("200 aliases", [{"objectName": f"s3://{arena.bucket}/big", "objectAlias": f"copy{i}"} for i in range(200)]),
        ("5 aliases", [{"objectName": f"s3://{arena.bucket}/big", "objectAlias": f"c{i}"} for i in range(5)]),
    ]:
        arena.say(f"1 MiB object under {name}")
        arena.refused(grpc.StatusCode.RESOURCE_EXHAUSTED, ["--max-response-bytes"], objs(arena, objects))


def test_jmespath_fields_of_a_large_document_count_as_produced(arena: Arena) -> None:
    doc = json.dumps({"k": "v" * (900 * 1024)}).encode()
    arena.seed.put(arena.bucket, "doc.json", doc)
    fields = [{"path": "k", "objectAlias": f"f{i}"} for i in range(8)]
    arena.say("a 900 KiB JSON field copied into 8 jmesPath files")
    arena.refused(grpc.StatusCode.RESOURCE_EXHAUSTED, ["--max-response-bytes"],
                  objs(arena, [{"objectName": f"s3://{arena.bucket}/doc.json", "jmesPath": fields}]))
    fields = [{"path": "k", "objectAlias": f"f{i}"} for i in range(256)]
    arena.say("the same field copied into 256 jmesPath files: 225 MiB if copied before they are charged")
    arena.refused(grpc.StatusCode.RESOURCE_EXHAUSTED, ["--max-inflight-bytes"],
                  objs(arena, [{"objectName": f"s3://{arena.bucket}/doc.json", "jmesPath": fields}]))
    values = b"[" + b"0," * (512 * 1024 - 2) + b"0]"  # just under 1 MiB, half a million JSON values
    arena.seed.put(arena.bucket, "values.json", values)
    arena.say("jmesPath over a 1 MiB document of half a million values")
    arena.refused(grpc.StatusCode.RESOURCE_EXHAUSTED, ["--max-inflight-bytes"],
                  objs(arena, [{"objectName": f"s3://{arena.bucket}/values.json",
                                "jmesPath": [{"path": "[0]", "objectAlias": "v"}]}]))


@pytest.mark.parametrize("budget", ["8MiB", "default"])
def test_concurrent_large_mounts_are_shed_not_killed(start_proxied, proxy: FaultProxy, seed: Seeder, bucket: str,
                                                    target: Path, say, budget: str) -> None:
    """64 Mounts in flight at once, each of 3 MiB: S3 is held for 2 s so that they all arrive
    together, far beyond the node's budget (8 MiB, or the default the chart uses). Shed Mounts
    get RESOURCE_EXHAUSTED, the others their files, and the kernel never has to step in."""
    provider = start_proxied(["--max-inflight-bytes", str(8 * MIB)] if budget == "8MiB" else [])
    seed.put(bucket, "good", b"good-value")
    parts = []
    for i in range(3):
        value = bytes([65 + i]) * MIB
        seed.put(bucket, f"part{i}", value)
        parts.append(value)
    spec = [{"objectName": f"s3://{bucket}/part{i}"} for i in range(3)]
    pid = provider.proc.pid
    proxy.inject(Fault(kind="delay", seconds=2.0, service="s3", operation="GetObject"))

    def one(n: int, scratch: str) -> str:
        pod = Pod(name=f"burst-{n}", namespace="tenant-a")
        attributes = build_attributes({"objects": objects_yaml(spec), "identity": "node"},
                                      volume_context(pod, "attack"))
        mount_target = Path(scratch) / f"v{n}"
        mount_target.mkdir()
        try:
            with Driver(provider.socket_path) as d:
                result = d.mount({}, mount_target, attributes=attributes)
        except MountFailed as e:
            assert e.code == grpc.StatusCode.RESOURCE_EXHAUSTED, str(e)
            assert "--max-inflight-bytes" in e.details, e.details
            return "shed"
        for i, value in enumerate(parts):
            assert result.files[f"part{i}"].contents == value
        return "ok"

    with tempfile.TemporaryDirectory(prefix="kw-burst-") as scratch, \
            concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        outcomes = list(pool.map(lambda n: one(n, scratch), range(64)))
    proxy.clear()
    say(f"64 concurrent 3 MiB Mounts: {outcomes.count('ok')} served, {outcomes.count('shed')} shed")
    assert outcomes.count("ok") >= 1 and outcomes.count("shed") >= 1, outcomes
    with Driver(provider.socket_path) as d:
        arena = Arena(provider, d, seed, None, bucket, target, Victim([]), say)
        arena.intact(pid)


# --- 3. another namespace's sealed data key ------------------------------------------------------


def test_sealed_data_key_of_another_namespace_is_refused_before_kms(arena: Arena) -> None:
    kms = arena.seed.kms
    key = arena.seed.kms_key("tenant-b sealing key")["KeyId"]
    secret = f"tenant-b-sealed-{uuid.uuid4().hex}".encode()
    blob = sealer.seal(kms, key, secret, {sealer.NAMESPACE_KEY: "tenant-b"})
    parsed = sealer.parse(blob)
    data_key = sealer.data_key(kms, parsed)  # what the attacker is after (independent oracle)
    arena.victim.secrets += [secret, data_key]
    edk = base64.b64decode(parsed.header["edk"])
    edk_b64 = sealer.b64(edk)
    arena.seed.put(arena.bucket, "stolen.edk", edk)
    ns_ctx = {"keywarden.io/namespace": "tenant-b"}
    variants = [
        ("inline kms object with the bound namespace named",
         [{"ciphertext": edk_b64, "objectType": "kms", "objectAlias": "dk", "encryptionContext": ns_ctx}],
         grpc.StatusCode.FAILED_PRECONDITION, ["bound to namespace"]),
        ("the data key stored in S3 as a kms object",
         [{"objectName": f"s3://{arena.bucket}/stolen.edk", "objectType": "kms", "encryptionContext": ns_ctx}],
         grpc.StatusCode.FAILED_PRECONDITION, ["bound to namespace"]),
        ("another reserved key",
         [{"ciphertext": edk_b64, "objectType": "kms", "objectAlias": "dk",
           "encryptionContext": {**ns_ctx, "keywarden.io/owner": "x"}}],
         grpc.StatusCode.INVALID_ARGUMENT, ["is reserved for Keywarden"]),
        ("the sealed object itself",
         [{"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "s"}],
         grpc.StatusCode.FAILED_PRECONDITION, ["bound to namespace"]),
    ]
    for name, objects, code, mentions in variants:
        arena.say(f"pod in tenant-a tries {name}")
        mark = arena.aws.requests.mark()
        arena.refused(code, mentions, objs(arena, objects))
        decrypts = arena.aws.requests.count("kms", "Decrypt", mark)
        assert decrypts == 0, f"refused before KMS, but the endpoint saw {decrypts} Decrypt"
    # Without naming the namespace, KMS itself refuses: the context is part of the ciphertext.
    arena.say("the data key as a kms object without the context")
    arena.refused(grpc.StatusCode.INVALID_ARGUMENT, ["KMS refused the ciphertext"],
                  objs(arena, [{"ciphertext": edk_b64, "objectType": "kms", "objectAlias": "dk"}]))
    # The namespace the object is bound to still opens it.
    opened = arena.driver.mount({}, arena.target, attributes=arena.attributes(
        {"objects": objects_yaml([{"ciphertext": sealer.b64(blob), "objectType": "sealed", "objectAlias": "s"}]),
         "identity": "node"}, Pod(namespace="tenant-b")))
    assert opened.files["s"].contents == secret


def test_a_context_value_cannot_pass_for_another_namespace_in_the_cache(arena: Arena) -> None:
    """Tenant B's pod decrypts under {app: x, keywarden.io/namespace: tenant-b}, so the plaintext
    is cached. A tenant-a pod of the same identity names the context {app: "x;keywarden.io/
    namespace=tenant-b"}, which a key built by joining pairs with separators would spell the same:
    it must reach KMS with its own context and be refused there, never take B's cached copy."""
    key = arena.seed.kms_key("tenant-b app key")["KeyId"]
    secret = f"tenant-b-app-{uuid.uuid4().hex}".encode()
    ctx = {"app": "x", "keywarden.io/namespace": "tenant-b"}
    blob = arena.seed.kms.encrypt(KeyId=key, Plaintext=secret, EncryptionContext=ctx)["CiphertextBlob"]
    ciphertext = base64.b64encode(blob).decode()
    arena.victim.secrets.append(secret)
    with tempfile.TemporaryDirectory(prefix="kw-owner-") as scratch:
        owner = arena.driver.mount({}, Path(scratch), attributes=arena.attributes(
            {"objects": objects_yaml([{"ciphertext": ciphertext, "objectType": "kms", "objectAlias": "s",
                                       "encryptionContext": ctx}]), "identity": "node"}, Pod(namespace="tenant-b")))
    assert owner.files["s"].contents == secret, "tenant-b's own Mount is served (and cached)"
    arena.say("pod in tenant-a names the context {app: 'x;keywarden.io/namespace=tenant-b'}")
    mark = arena.aws.requests.mark()
    arena.refused(grpc.StatusCode.INVALID_ARGUMENT, ["KMS refused the ciphertext"],
                  objs(arena, [{"ciphertext": ciphertext, "objectType": "kms", "objectAlias": "s",
                                "encryptionContext": {"app": "x;keywarden.io/namespace=tenant-b"}}]))
    decrypts = arena.aws.requests.count("kms", "Decrypt", mark)
    assert decrypts == 1, f"KMS decides, not the cache: the endpoint saw {decrypts} Decrypt"


# --- 4. revocation takes effect within the TTL ---------------------------------------------------


REVOCATION_TTL = 3.0


def remount_after_revocation(mount: Callable[[], object], code: grpc.StatusCode, what: str, say) -> None:
    """Re-Mounts every 0.25 s for the TTL and 5 s more, right after a revocation: delivery must
    stop within the TTL (measured from the start of the last served Mount, so a loaded machine
    only delays answers), with `code`, and never resume."""
    revoked_at = time.monotonic()
    last_served, refused = revoked_at, None
    while time.monotonic() - revoked_at < REVOCATION_TTL + 5:
        started = time.monotonic()
        try:
            mount()
            last_served = started
            assert refused is None, "delivery resumed after it had stopped"
        except MountFailed as e:
            assert e.code == code, str(e)
            refused = refused or e
        time.sleep(0.25)
    lag = last_served - revoked_at
    say(f"served for {lag:.2f}s after {what} (TTL {REVOCATION_TTL}s); then {refused}")
    assert refused is not None, "delivery never stopped"
    assert lag <= REVOCATION_TTL + 0.5, f"served {lag:.2f}s after {what}, TTL is {REVOCATION_TTL}s"


@pytest.mark.parametrize("object_type", ["kms", "sealed"])
def test_disabled_key_stops_delivery_within_the_ttl(start_provider, seed: Seeder, aws: MotoEndpoint,
                                                    bucket: str, target: Path, say, object_type: str) -> None:
    provider = start_provider(["--cache-ttl", f"{REVOCATION_TTL:.0f}s"])
    key = seed.kms_key(f"revocation {object_type}")["KeyId"]
    value = f"revocable-{uuid.uuid4().hex}".encode()
    if object_type == "kms":
        body = seed.kms.encrypt(KeyId=key, Plaintext=value)["CiphertextBlob"]
    else:
        body = sealer.seal(seed.kms, key, value, {"app": "web"})
    seed.put(bucket, "secret", body)
    params = parameters([{"objectName": f"s3://{bucket}/secret", "objectType": object_type}])
    with Driver(provider.socket_path) as d:
        assert d.mount(params, target).files["secret"].contents == value
        mark = aws.requests.mark()
        for _ in range(3):  # re-Mounts while the key is enabled: 304s, no KMS call
            assert d.mount(params, target).files["secret"].contents == value
        assert aws.requests.count("kms", mark=mark) == 0
        seed.kms.disable_key(KeyId=key)
        try:
            remount_after_revocation(lambda: d.mount(params, target), grpc.StatusCode.FAILED_PRECONDITION,
                                     f"DisableKey ({object_type})", say)
        finally:
            seed.kms.enable_key(KeyId=key)


def test_removed_kms_decrypt_stops_delivery_within_the_ttl(
    start_iam_provider, tenants: TenantWorld, kube_api, target: Path, say
) -> None:
    """Under IAM enforcement: the role loses `kms:Decrypt` while the volume keeps re-mounting."""
    value = f"revocable-{uuid.uuid4().hex}".encode()
    tenants.put("tenant-a", "revocable.kms", tenants.encrypt(value))
    provider = start_iam_provider(["--cache-ttl", f"{REVOCATION_TTL:.0f}s"])
    pod = tenant_pod("tenant-a")
    attr, _ = tokens_for(pod)
    params = parameters([{"objectName": f"s3://{tenants['tenant-a'].bucket}/revocable.kms", "objectType": "kms"}],
                        identity="irsa", roleArn=tenants["tenant-a"].role_arn)
    iam = tenants.endpoint.client("iam", tenants.admin_key, tenants.admin_secret)
    policy_name = "tenant-a-secrets"
    original = iam.get_role_policy(RoleName="tenant-a", PolicyName=policy_name)["PolicyDocument"]
    without_decrypt = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"arn:aws:s3:::{tenants['tenant-a'].bucket}/*"}]}
    with Driver(provider.socket_path) as d:
        assert d.mount(params, target, pod=pod, tokens=attr).files["revocable.kms"].contents == value
        try:
            iam.put_role_policy(RoleName="tenant-a", PolicyName=policy_name,
                                PolicyDocument=json.dumps(without_decrypt))
            remount_after_revocation(lambda: d.mount(params, target, pod=pod, tokens=attr),
                                     grpc.StatusCode.PERMISSION_DENIED, "kms:Decrypt was removed", say)
        finally:
            iam.put_role_policy(RoleName="tenant-a", PolicyName=policy_name,
                                PolicyDocument=json.dumps(original) if isinstance(original, dict) else original)
