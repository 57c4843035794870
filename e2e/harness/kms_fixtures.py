"""Fixtures of the KMS plugin tests (imported by e2e/test_kms_*.py).

One local AWS endpoint with KMS key states enforced per test module, a fresh
key per test (and an alias to retarget), plugin processes that are always
stopped at teardown (a plugin that does not exit 0 on SIGTERM or leaves its
socket behind fails the test), a real etcd, and an independent gRPC client
built from the suite's copies of the protos.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from .apiserver import channel
from .aws import Seeder
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


def kms_calls(endpoint: KeyStateEndpoint, mark: int) -> dict[str, int]:
    """KMS operations the endpoint answered since mark (creation/seeding calls excluded)."""
    counts = endpoint.requests.counts(mark)
    return {op: n for (svc, op), n in counts.items() if svc == "kms" and op in ("Encrypt", "Decrypt", "DescribeKey")}


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
]
