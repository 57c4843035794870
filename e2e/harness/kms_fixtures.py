"""Fixtures of the KMS plugin tests (imported by e2e/test_kms_*.py).

One local AWS endpoint with KMS key states enforced per test module, a fresh
key per test (and an alias to retarget), plugin processes that are always
stopped at teardown (a plugin that does not exit 0 on SIGTERM or leaves its
socket behind fails the test), a real etcd, and an independent gRPC client
built from the suite's copies of the protos.

The oracles here open the plugin's ciphertexts without the plugin, from the
framing its documentation gives (docs/kms-rotation.md): v2 is the format byte
0x01 and the KMS CiphertextBlob, with the encryption context in the
annotation `encryption-context.kms.keywarden.io` (JSON; absent: none);
v1beta1 is 0x02, the key ARN and the context JSON (each a 2-byte big-endian
length and the bytes), then the blob. `open_v2` and `open_v1beta1` call KMS
with boto3 (the seeding client, not the plugin's SDK) on the same endpoint.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from .apiserver import channel
from .aws import ACCESS_KEY, Seeder
from .etcd import EtcdProcess
from .fault_proxy import FaultProxy
from .fixtures import launcher, serving
from .key_states import KeyStateEndpoint
from .kms_plugin import KmsPluginProcess
from .kms_protos import stubs


@pytest.fixture(scope="module")
def kms_aws() -> Iterator[KeyStateEndpoint]:
    with serving(KeyStateEndpoint(), "kms") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def kms_seed(kms_aws: KeyStateEndpoint) -> Seeder:
    return Seeder(kms_aws)


@pytest.fixture
def key(kms_seed: Seeder) -> dict:
    """A fresh symmetric key (KeyMetadata) for this test."""
    return kms_seed.kms_key(f"keywarden kms e2e {uuid.uuid4().hex[:8]}")


def alias_and_next_key(seed: Seeder) -> tuple[str, dict, dict]:
    """(alias, first, second): an alias on a fresh key, and another fresh key to retarget it to."""
    first = seed.kms_key("alias target 1")
    second = seed.kms_key("alias target 2")
    alias = f"alias/kw-e2e-{first['KeyId'][:8]}"
    seed.kms.create_alias(AliasName=alias, TargetKeyId=first["KeyId"])
    return alias, first, second


@pytest.fixture
def start_plugin(kms_aws: KeyStateEndpoint) -> Iterator[Callable[..., KmsPluginProcess]]:
    """start_plugin(key, extra_args=[...], aws=endpoint or proxy) -> a live KmsPluginProcess,
    stopped (and checked) at teardown (harness/fixtures.py)."""

    def make(
        workdir: Path, key: str, extra_args: list[str] | None = None,
        aws: KeyStateEndpoint | FaultProxy | None = None,
    ) -> KmsPluginProcess:
        return KmsPluginProcess(workdir, (aws or kms_aws).env(), key, extra_args=list(extra_args or []))

    with launcher("kw-kms-", make) as start:
        yield start


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdProcess]:
    proc = EtcdProcess().start()
    print(f"\n[etcd] listening on {proc.url}")
    try:
        yield proc
    finally:
        proc.stop()


class Client:
    """An independent v2 + v1beta1 client on one plugin socket."""

    def __init__(self, socket_path: Path) -> None:
        self.pb = stubs()
        self.channel = channel(socket_path)
        self.v2 = self.pb.v2_grpc.KeyManagementServiceStub(self.channel)
        self.v1 = self.pb.v1_grpc.KeyManagementServiceStub(self.channel)

    def status(self):
        return self.v2.Status(self.pb.v2.StatusRequest(), timeout=3, wait_for_ready=True)

    def encrypt(self, plaintext: bytes):
        return self.v2.Encrypt(self.pb.v2.EncryptRequest(plaintext=plaintext, uid=str(uuid.uuid4())), timeout=5)

    def decrypt(self, ciphertext: bytes, key_id: str, annotations: dict | None = None) -> bytes:
        req = self.pb.v2.DecryptRequest(
            ciphertext=ciphertext, key_id=key_id, annotations=annotations or {}, uid=str(uuid.uuid4())
        )
        return self.v2.Decrypt(req, timeout=5).plaintext

    def code_of(self, call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
        """The status code and message of a call that must fail."""
        try:
            call()
        except grpc.RpcError as e:
            return e.code(), e.details()
        raise AssertionError("the call succeeded but had to fail")

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def client_for() -> Iterator[Callable[[KmsPluginProcess], Client]]:
    clients: list[Client] = []

    def _client(plugin: KmsPluginProcess) -> Client:
        c = Client(plugin.socket_path)
        clients.append(c)
        return c

    try:
        yield _client
    finally:
        for c in clients:
            c.close()


def kms_calls(endpoint: KeyStateEndpoint, mark: int, plugin: KmsPluginProcess | None = None) -> dict[str, int]:
    """KMS requests the endpoint answered since mark, by operation, every operation counted:
    those of `plugin`'s current run, or (None) of every client but the suite's seeding one."""
    if plugin is not None:
        return plugin.calls(endpoint.requests, mark)
    counts: dict[str, int] = {}
    for r in endpoint.requests.since(mark):
        if r.service == "kms" and r.access_key != ACCESS_KEY:
            counts[r.operation] = counts.get(r.operation, 0) + 1
    return counts


FORMAT_V2 = 0x01
FORMAT_V1BETA1 = 0x02
ANNOTATION_CONTEXT = "encryption-context.kms.keywarden.io"


def v2_context(annotations: dict) -> dict[str, str]:
    """The encryption context a v2 ciphertext's annotations record ({} when none)."""
    raw = annotations.get(ANNOTATION_CONTEXT)
    return json.loads(raw) if raw is not None else {}


def split_v2(ciphertext: bytes) -> bytes:
    """The KMS CiphertextBlob inside a v2 ciphertext."""
    assert ciphertext[:1] == bytes([FORMAT_V2]), f"v2 format byte {ciphertext[:1]!r}"
    return ciphertext[1:]


def split_v1beta1(cipher: bytes) -> tuple[str, dict[str, str], bytes]:
    """(key ARN, context, CiphertextBlob) of a v1beta1 ciphertext."""
    assert cipher[:1] == bytes([FORMAT_V1BETA1]), f"v1beta1 format byte {cipher[:1]!r}"
    rest = cipher[1:]
    parts = []
    for _ in range(2):
        (n,) = struct.unpack(">H", rest[:2])
        parts.append(rest[2 : 2 + n])
        rest = rest[2 + n :]
    return parts[0].decode(), json.loads(parts[1]), rest


def frame_v1beta1(key_arn: str, context: dict[str, str], blob: bytes) -> bytes:
    """A v1beta1 ciphertext as the documentation describes it."""
    out = bytes([FORMAT_V1BETA1])
    for part in (key_arn.encode(), json.dumps(context, sort_keys=True, separators=(",", ":")).encode()):
        out += struct.pack(">H", len(part)) + part
    return out + blob


def open_v2(kms, ciphertext: bytes, key_id: str, annotations: dict) -> bytes:
    """boto3 Decrypt of a v2 ciphertext under its recorded context and key."""
    return open_blob(kms, split_v2(ciphertext), key_id, v2_context(annotations))


def open_v1beta1(kms, cipher: bytes) -> bytes:
    """boto3 Decrypt of a v1beta1 ciphertext under the key and context it names."""
    key_arn, context, blob = split_v1beta1(cipher)
    return open_blob(kms, blob, key_arn, context)


def open_blob(kms, blob: bytes, key_id: str, context: dict[str, str]) -> bytes:
    """boto3 Decrypt naming the key; checks KMS says it used that key."""
    out = kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionContext=context)
    assert out["KeyId"] == key_id, f"KMS used {out['KeyId']}, not {key_id}"
    return out["Plaintext"]


def kms_error(call: Callable[[], object]) -> str:
    """The AWS error code of a boto3 call that must fail."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("KMS accepted the call but had to refuse it")


__all__ = [
    "kms_aws",
    "kms_seed",
    "key",
    "alias_and_next_key",
    "start_plugin",
    "etcd",
    "client_for",
    "Client",
    "kms_calls",
    "ANNOTATION_CONTEXT",
    "v2_context",
    "split_v2",
    "split_v1beta1",
    "frame_v1beta1",
    "open_v2",
    "open_v1beta1",
    "open_blob",
    "kms_error",
]
