"""Several apiservers, each with its own keywarden-kms, over one real etcd: what a production
control plane does during an alias rotation.

Three plugins re-resolve the alias on different clocks (1 s, 4 s, 1 h) and three apiserver
stand-ins (harness/apiserver.py) poll Status on different clocks, write and read Secrets
continuously, each reading what the others wrote. The alias is retargeted and the plugins are
restarted one by one, as docs/kms-rotation.md orders it. Every value read is compared with what
was written (the test's own record); which key protects each object is read from etcd.
"""

from __future__ import annotations

import random
import struct
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc

from harness.apiserver import ApiServer
from harness.kms_fixtures import (  # noqa: F401
    alias_and_next_key,
    client_for,
    etcd,
    kms_aws,
    kms_calls,
    kms_seed,
    start_plugin,
)

SEED = bytes(range(32))
CLOCKS = ("1s", "4s", "1h")  # --key-refresh-interval of each plugin
POLLS = (0.5, 1.0, 1.5)  # each apiserver's Status poll period, seconds


class Traffic:
    """Continuous writes and cross reads by one apiserver stand-in, in a thread."""

    def __init__(self, index: int, api: ApiServer, ns: str, shared: dict, lock: threading.Lock,
                 failures: list[str], reads: Counter, stop: threading.Event) -> None:
        self.i, self.api, self.ns = index, api, ns
        self.shared, self.lock, self.failures, self.reads, self.stop = shared, lock, failures, reads, stop
        self.thread = threading.Thread(target=self.run, name=f"apiserver-{index}", daemon=True)

    def fail(self, what: str, err: object) -> None:
        with self.lock:
            self.failures.append(f"apiserver {self.i} {what}: {err!r}"[:300])

    def run(self) -> None:
        rng = random.Random(self.i)
        next_probe, n = 0.0, 0
        while not self.stop.is_set():
            if time.monotonic() >= next_probe:
                try:
                    self.api.probe(wait=5)
                except (AssertionError, grpc.RpcError) as e:
                    self.fail("probe", e)
                next_probe = time.monotonic() + POLLS[self.i]
            path = f"{self.ns}a{self.i}-{n:05d}"
            n += 1
            value = f"secret {path} {uuid.uuid4().hex}".encode()
            try:
                self.api.write(path, value)
            except (AssertionError, grpc.RpcError) as e:
                self.fail(f"write {path}", e)
                continue
            assert self.api.state is not None
            with self.lock:
                self.shared[path] = (value, self.api.state.key_id, self.i)
                latest = {}
                for p, (_, _, writer) in self.shared.items():
                    latest[writer] = p
                targets = [p for w, p in latest.items() if w != self.i]
                targets.append(rng.choice(list(self.shared)))
            for p in targets:
                want, key_id, writer = self.shared[p]
                try:
                    got = self.api.read(p)
                except Exception as e:  # noqa: BLE001 - every failed read is reported
                    self.fail(f"read {p} (key ...{key_id[-8:]}, written by {writer})", e)
                    continue
                if got != want:
                    self.fail(f"read {p}", "value differs from what was written")
                with self.lock:
                    self.reads[(self.i, key_id, writer)] += 1
            time.sleep(0.03)


def test_alias_rotation_and_rolling_restarts_across_three_apiservers_lose_no_read(
    start_plugin, etcd, kms_seed, kms_aws, say
):
    alias, first, second = alias_and_next_key(kms_seed)
    # The guide's first step: the key in use now is named in --decrypt-keys before the retarget,
    # so a plugin restarted later still reads what was written under it.
    plugins = [
        start_plugin(alias, ["--key-refresh-interval", clock, "--decrypt-keys", first["Arn"]])
        for clock in CLOCKS
    ]
    for p in plugins:
        p.wait_healthy()
    ns = f"/registry/secrets/ha-{uuid.uuid4().hex[:8]}/"
    shared: dict[str, tuple[bytes, str, int]] = {}
    lock, stop = threading.Lock(), threading.Event()
    failures: list[str] = []
    reads: Counter = Counter()
    apis = [ApiServer(etcd, p.socket_path) for p in plugins]
    traffic = [Traffic(i, api, ns, shared, lock, failures, reads, stop) for i, api in enumerate(apis)]
    mark = kms_aws.requests.mark()
    try:
        for t in traffic:
            t.thread.start()
        time.sleep(2)
        kms_seed.kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
        say(f"alias {alias} retargeted to the second key while 3 apiservers write and read")
        time.sleep(4)
        for i, p in enumerate(plugins):
            p.restart()
            say(f"plugin {i} (refresh {CLOCKS[i]}) restarted on its socket")
            time.sleep(2)
        time.sleep(1)
    finally:
        stop.set()
        for t in traffic:
            t.thread.join(timeout=30)
        for api in apis:
            api.close()
    calls = kms_calls(kms_aws, mark)
    total = sum(reads.values())
    say(f"{len(shared)} Secrets written, {total} reads checked, {len(failures)} failures; KMS {calls}")
    assert not failures, "\n".join(failures[:10])

    by_writer_key: Counter = Counter()
    with ApiServer(etcd, plugins[0].socket_path) as probe_api:
        for path, (_, key_id, writer) in shared.items():
            on_disk = probe_api.stored(path).keyID
            assert on_disk == key_id, f"{path}: etcd says {on_disk}, the writer used {key_id}"
            by_writer_key[(writer, key_id)] += 1
    say("objects per (apiserver, key): "
        + ", ".join(f"{w}/{'first' if k == first['Arn'] else 'second'}={n}" for (w, k), n in sorted(by_writer_key.items())))
    for i in range(3):
        assert by_writer_key[(i, first["Arn"])] > 0 and by_writer_key[(i, second["Arn"])] > 0, (
            f"apiserver {i} wrote under both keys"
        )
    slow_cross = sum(n for (r, k, w), n in reads.items() if r == 2 and k == second["Arn"] and w != 2)
    say(f"the 1h-refresh plugin's apiserver read {slow_cross} objects others wrote under the new key")
    assert slow_cross > 0

    for i, p in enumerate(plugins):
        with ApiServer(etcd, p.socket_path) as fresh:  # an apiserver restart: empty seed cache
            for path, (want, _, _) in shared.items():
                assert fresh.read(path) == want
            assert fresh.status().key_id == second["Arn"]
    say(f"3 restarted apiservers read back all {len(shared)} Secrets through their plugins")


def v1beta1_cipher(key_arn: str, context_json: bytes, blob: bytes) -> bytes:
    """A v1beta1 ciphertext in the plugin's documented format 0x02 (docs/kms-rotation.md)."""
    k = key_arn.encode()
    return b"\x02" + struct.pack(">H", len(k)) + k + struct.pack(">H", len(context_json)) + context_json + blob


def test_a_key_the_alias_never_named_is_refused_before_kms_and_a_new_one_accepted_at_once(
    start_plugin, client_for, kms_seed, kms_aws, say
):
    alias, first, second = alias_and_next_key(kms_seed)
    stranger = kms_seed.kms_key("never named by the alias")
    plugin = start_plugin(alias, ["--key-refresh-interval", "1h", "--health-interval", "1h"])
    c = client_for(plugin)
    plugin.wait_healthy()
    foreign = kms_seed.kms.encrypt(KeyId=stranger["Arn"], Plaintext=SEED)["CiphertextBlob"]
    time.sleep(1.1)
    mark = kms_aws.requests.mark()
    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(lambda _: c.code_of(lambda: c.decrypt(b"\x01" + foreign, stranger["Arn"]))[0], range(50)))
    v1 = c.pb.v1.DecryptRequest(version="v1beta1", cipher=v1beta1_cipher(stranger["Arn"], b"{}", foreign))
    v1_code, v1_message = c.code_of(lambda: c.v1.Decrypt(v1, timeout=5))
    elapsed = time.monotonic() - started
    calls = kms_calls(kms_aws, mark)
    say(f"50 concurrent v2 Decrypts and one v1beta1 Decrypt naming a key the alias never named: "
        f"{Counter(x.name for x in codes)}, v1beta1 {v1_code.name} ({v1_message}); KMS {calls} in {elapsed:.1f}s")
    assert set(codes) == {grpc.StatusCode.PERMISSION_DENIED} and v1_code == grpc.StatusCode.PERMISSION_DENIED
    assert calls.get("Decrypt", 0) == 0, "refused before KMS"
    assert calls.get("DescribeKey", 0) <= elapsed + 1, "on-demand resolution is coalesced and rate-limited"

    kms_seed.kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
    blob = kms_seed.kms.encrypt(KeyId=second["Arn"], Plaintext=SEED)["CiphertextBlob"]
    mark = kms_aws.requests.mark()
    assert c.decrypt(b"\x01" + blob, second["Arn"]) == SEED
    assert c.v1.Decrypt(c.pb.v1.DecryptRequest(version="v1beta1", cipher=v1beta1_cipher(second["Arn"], b"{}", blob)),
                        timeout=5).plain == SEED
    calls = kms_calls(kms_aws, mark)
    say(f"alias retargeted (refresh 1h): a Decrypt naming the new key is accepted at once; KMS {calls}; "
        f"Status key_id now ...{c.status().key_id[-8:]}")
    assert calls.get("DescribeKey") == 1 and c.status().key_id == second["Arn"]
    assert c.decrypt(b"\x01" + kms_seed.kms.encrypt(KeyId=first["Arn"], Plaintext=SEED)["CiphertextBlob"],
                     first["Arn"]) == SEED, "the key the alias named before stays allowed"
