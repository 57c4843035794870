"""kube-apiserver's side of KMS v2, in Python, storing into a real etcd.

Follows the apiserver's flow (docs/reference.md §9): a probe calls
Status; when the reported key_id differs from the current one (or at start) a
new 32-byte seed is generated and sent to the plugin's Encrypt, and the
response is accepted only if its key_id equals Status's and it passes the
apiserver's checks (ciphertext and key_id ≤ 1024 bytes, FQDN annotation keys,
annotations ≤ 32 KiB). Each write derives a DEK with HKDF-SHA256 from the seed
and 32 random info bytes, encrypts with AES-256-GCM (AAD = the etcd key), and
stores `k8s:enc:kms:v2:<name>:` + EncryptedObject (encryptedDEKSourceType
HKDF_SHA256_XNONCE_AES_GCM_SEED) in etcd. Reads look the encrypted seed up in
a cache keyed like the apiserver's and call the plugin's Decrypt on a miss.
Like the apiserver (WaitForReady), calls wait for the socket up to the
timeout, so a plugin restarting on the same socket delays calls, not fails
them.
A new ApiServer instance is an apiserver restart: empty caches, a new seed.

What a test searches etcd for is kept as it was made: `sent_seeds` (every seed
this instance sent to the plugin's Encrypt) and `data_keys` (etcd path -> the
DEK derived for the last write to it), so a check that etcd holds no key
material knows exactly which bytes it must not find.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
import uuid
from dataclasses import dataclass

import grpc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .etcd import EtcdProcess
from .kms_protos import stubs

MAX_KEY_ID = 1024
MAX_CIPHERTEXT = 1024
MAX_ANNOTATIONS = 32 * 1024
SEED_TYPE = 1  # HKDF_SHA256_XNONCE_AES_GCM_SEED
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_fqdn(name: str) -> bool:
    """apimachinery IsFullyQualifiedDomainName."""
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    return 0 < len(name) <= 253 and len(labels) >= 2 and all(len(x) <= 63 and _LABEL.match(x) for x in labels)


def check_encrypt_response(resp, status_key_id: str) -> None:
    """The apiserver's ValidateEncryptedObject rules on an Encrypt response."""
    if not resp.ciphertext or len(resp.ciphertext) > MAX_CIPHERTEXT:
        raise AssertionError(f"ciphertext of {len(resp.ciphertext)} bytes (must be 1..{MAX_CIPHERTEXT})")
    if not resp.key_id or len(resp.key_id.encode()) > MAX_KEY_ID:
        raise AssertionError(f"key_id of {len(resp.key_id)} bytes (must be 1..{MAX_KEY_ID})")
    if resp.key_id != status_key_id:
        raise AssertionError(f"Encrypt key_id {resp.key_id} != Status key_id {status_key_id}")
    total = 0
    for k, v in resp.annotations.items():
        if not is_fqdn(k):
            raise AssertionError(f"annotation key {k!r} is not an FQDN")
        total += len(k) + len(v)
    if total > MAX_ANNOTATIONS:
        raise AssertionError(f"annotations total {total} bytes")


def derive_dek(seed: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


def cache_key(obj) -> bytes:
    """Like the apiserver's simpleCache key: type, DEK source, key id, sorted annotations."""
    h = hashlib.sha256()
    h.update(struct.pack(">I", obj.encryptedDEKSourceType))
    for part in (obj.encryptedDEKSource, obj.keyID.encode()):
        h.update(struct.pack(">H", len(part)) + part)
    h.update(struct.pack(">I", len(obj.annotations)))
    for k in sorted(obj.annotations):
        for part in (k.encode(), obj.annotations[k]):
            h.update(struct.pack(">H", len(part)) + part)
    return h.digest()


def channel(socket_path: os.PathLike | str) -> grpc.Channel:
    """h2c over the unix socket with :authority localhost, as the apiserver dials."""
    return grpc.insecure_channel(f"unix://{socket_path}", options=[("grpc.default_authority", "localhost")])


@dataclass
class WriteState:
    seed: bytes
    key_id: str
    encrypted: bytes
    annotations: dict[str, bytes]


class ApiServer:
    """One apiserver process's KMS v2 provider `name`, backed by `etcd`."""

    def __init__(self, etcd: EtcdProcess, socket_path: os.PathLike | str, name: str = "keywarden", timeout: float = 3.0):
        self.etcd = etcd
        self.prefix = f"k8s:enc:kms:v2:{name}:".encode()
        self.timeout = timeout
        self.pb = stubs()
        self._channel = channel(socket_path)
        self.kms = self.pb.v2_grpc.KeyManagementServiceStub(self._channel)
        self.state: WriteState | None = None
        self.seeds: dict[bytes, bytes] = {}
        self.decrypt_calls = 0
        self.sent_seeds: list[bytes] = []
        self.data_keys: dict[str, bytes] = {}

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self):
        return self.kms.Status(self.pb.v2.StatusRequest(), timeout=self.timeout, wait_for_ready=True)

    def probe(self, wait: float = 10.0) -> str:
        """The apiserver's probe: Status, then a new seed when the key id changed. Returns key_id.

        Like the apiserver (which polls every 10 s after a failure), an unhealthy Status is
        retried, here every 0.1 s for up to `wait` seconds."""
        deadline = time.monotonic() + wait
        st = self.status()
        while st.healthz != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
            st = self.status()
        if st.version not in ("v2", "v2beta1"):
            raise AssertionError(f"Status version {st.version!r}")
        if st.healthz != "ok":
            raise AssertionError(f"Status healthz {st.healthz!r}")
        if not st.key_id or len(st.key_id.encode()) > MAX_KEY_ID:
            raise AssertionError(f"Status key_id {st.key_id!r}")
        if self.state is None or self.state.key_id != st.key_id:
            seed = os.urandom(32)
            self.sent_seeds.append(seed)
            resp = self.kms.Encrypt(
                self.pb.v2.EncryptRequest(plaintext=seed, uid=str(uuid.uuid4())),
                timeout=self.timeout,
                wait_for_ready=True,
            )
            check_encrypt_response(resp, st.key_id)
            self.state = WriteState(seed, resp.key_id, resp.ciphertext, dict(resp.annotations))
            obj = self.pb.storage.EncryptedObject(
                keyID=resp.key_id,
                encryptedDEKSource=resp.ciphertext,
                annotations=dict(resp.annotations),
                encryptedDEKSourceType=SEED_TYPE,
            )
            self.seeds[cache_key(obj)] = seed
        return st.key_id

    def write(self, path: str, data: bytes) -> None:
        if self.state is None:
            self.probe()
        assert self.state is not None
        info = os.urandom(32)
        nonce = os.urandom(12)
        dek = derive_dek(self.state.seed, info)
        self.data_keys[path] = dek
        sealed = AESGCM(dek).encrypt(nonce, data, path.encode())
        obj = self.pb.storage.EncryptedObject(
            encryptedData=info + nonce + sealed,
            keyID=self.state.key_id,
            encryptedDEKSource=self.state.encrypted,
            annotations=self.state.annotations,
            encryptedDEKSourceType=SEED_TYPE,
        )
        self.etcd.put(path, self.prefix + obj.SerializeToString())

    def read(self, path: str) -> bytes:
        raw = self.etcd.get(path)
        if raw is None:
            raise KeyError(path)
        if not raw.startswith(self.prefix):
            raise AssertionError(f"{path}: stored value does not start with {self.prefix!r}")
        obj = self.pb.storage.EncryptedObject()
        obj.ParseFromString(raw[len(self.prefix) :])
        key = cache_key(obj)
        seed = self.seeds.get(key)
        if seed is None:
            self.decrypt_calls += 1
            resp = self.kms.Decrypt(
                self.pb.v2.DecryptRequest(
                    ciphertext=obj.encryptedDEKSource,
                    uid=str(uuid.uuid4()),
                    key_id=obj.keyID,
                    annotations=dict(obj.annotations),
                ),
                timeout=self.timeout,
                wait_for_ready=True,
            )
            seed = resp.plaintext
            self.seeds[key] = seed
        data = obj.encryptedData
        info, nonce, sealed = data[:32], data[32:44], data[44:]
        return AESGCM(derive_dek(seed, info)).decrypt(nonce, sealed, path.encode())

    def forget_seeds(self) -> None:
        """Empty the seed cache (as a restart would) but keep the write state: the next read of
        each stored seed is a plugin Decrypt."""
        self.seeds.clear()

    def key_material(self) -> list[tuple[str, bytes]]:
        """(label, bytes) of every seed sent to the plugin and every data key derived."""
        return [(f"seed #{i}", s) for i, s in enumerate(self.sent_seeds)] + [
            (f"data key of {p}", k) for p, k in self.data_keys.items()
        ]

    def stored(self, path: str):
        """The EncryptedObject stored at path."""
        raw = self.etcd.get(path) or b""
        obj = self.pb.storage.EncryptedObject()
        obj.ParseFromString(raw[len(self.prefix) :])
        return obj
