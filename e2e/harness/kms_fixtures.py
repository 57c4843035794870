"""Fixtures of the KMS plugin tests (imported by e2e/test_kms_*.py).

One KMS-enforcing local AWS endpoint per test module, a fresh key per test,
plugin processes that are always stopped at teardown (a plugin that does not
exit 0 on SIGTERM or leaves its socket behind fails the test), a real etcd,
and an independent gRPC client built from the suite's copies of the protos.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from .apiserver import channel
from .aws import Seeder
from .etcd import EtcdProcess
from .kms_endpoint import KmsEndpoint
from .kms_plugin import KmsPluginProcess
from .kms_protos import stubs


@pytest.fixture(scope="module")
def kms_aws() -> Iterator[KmsEndpoint]:
    endpoint = KmsEndpoint()
    endpoint.start()
    print(f"\n[kms] moto (key states enforced) on {endpoint.url}")
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="module")
def kms_seed(kms_aws: KmsEndpoint) -> Seeder:
    return Seeder(kms_aws)


@pytest.fixture
def key(kms_seed: Seeder) -> dict:
    """A fresh symmetric key (KeyMetadata) for this test."""
    return kms_seed.kms_key(f"keywarden kms e2e {uuid.uuid4().hex[:8]}")


@pytest.fixture
def start_plugin(kms_aws: KmsEndpoint) -> Iterator[Callable[..., KmsPluginProcess]]:
    """start_plugin(key, extra_args=[...], aws=endpoint) -> a live KmsPluginProcess."""
    started: list[KmsPluginProcess] = []
    dirs: list[str] = []

    def _start(key: str, extra_args: list[str] | None = None, aws: KmsEndpoint | None = None) -> KmsPluginProcess:
        workdir = tempfile.mkdtemp(prefix="kw-kms-")
        dirs.append(workdir)
        proc = KmsPluginProcess(
            workdir=Path(workdir), aws_env=(aws or kms_aws).env(), key=key, extra_args=list(extra_args or [])
        )
        started.append(proc)
        return proc.start()

    try:
        yield _start
    finally:
        errors = []
        for proc in started:
            try:
                proc.stop(check=True)
            except AssertionError as e:
                errors.append(str(e))
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


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


def kms_calls(endpoint: KmsEndpoint, mark: int) -> dict[str, int]:
    """KMS operations the endpoint answered since mark (creation/seeding calls excluded)."""
    counts = endpoint.requests.counts(mark)
    return {op: n for (svc, op), n in counts.items() if svc == "kms" and op in ("Encrypt", "Decrypt", "DescribeKey")}


__all__ = ["kms_aws", "kms_seed", "key", "start_plugin", "etcd", "client_for", "Client", "kms_calls"]
