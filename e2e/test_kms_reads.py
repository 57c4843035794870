"""What keywarden-kms lets stored data decide on Decrypt, and what a cold read costs at KMS.

Stored annotations (the recorded encryption context) cannot drop or change the configured
context; a changed --encryption-context refuses old data until the old context is allowed
explicitly. Concurrent cold reads of one seed are one KMS call, and the calls in flight to KMS
are bounded. Calls are counted, and held, at the AWS endpoint or the fault proxy; the true
context is checked with boto3.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from harness.fault_fixtures import proxy_to  # noqa: F401
from harness.fault_proxy import FORWARDED, Fault
from harness.kms_fixtures import (  # noqa: F401
    client_for,
    key,
    kms_aws,
    kms_calls,
    kms_seed,
    start_plugin,
)

SEED = bytes(range(32))
VERSION = "version.kms.keywarden.io"
CONTEXT = "encryption-context.kms.keywarden.io"


def test_stored_annotations_cannot_drop_or_replace_the_configured_context(
    start_plugin, client_for, key, kms_seed, kms_aws, say
):
    plugin = start_plugin(key["Arn"], ["--encryption-context", "cluster=prod", "--decrypt-cache-size", "0"])
    c = client_for(plugin)
    plugin.wait_healthy()
    good = c.encrypt(SEED)
    v1_cipher = c.v1.Encrypt(c.pb.v1.EncryptRequest(version="v1beta1", plain=SEED), timeout=5).cipher
    blob = good.ciphertext[1:]
    truth = kms_seed.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"cluster": "prod"})["Plaintext"]
    assert truth == SEED, "boto3: the seed is bound to the configured context"
    forged = {
        "context dropped": {VERSION: b"1"},
        "context emptied": {VERSION: b"1", CONTEXT: b"{}"},
        "context replaced": {VERSION: b"1", CONTEXT: json.dumps({"cluster": "dev"}).encode()},
        "configured key renamed": {VERSION: b"1", CONTEXT: json.dumps({"Cluster": "prod"}).encode()},
    }
    mark = kms_aws.requests.mark()
    for name, annotations in forged.items():
        code, message = c.code_of(lambda a=annotations: c.decrypt(good.ciphertext, good.key_id, a))
        say(f"{name}: {code.name} ({message})")
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert kms_calls(kms_aws, mark).get("Decrypt", 0) == 0, "refused before KMS"
    assert c.decrypt(good.ciphertext, good.key_id, dict(good.annotations)) == SEED

    changed = start_plugin(key["Arn"], ["--encryption-context", "cluster=prod,tier=etcd"])
    changed.wait_healthy()
    cc = client_for(changed)
    mark = kms_aws.requests.mark()
    for name, call in (
        ("v2", lambda: cc.decrypt(good.ciphertext, good.key_id, dict(good.annotations))),
        ("v1beta1", lambda: cc.v1.Decrypt(cc.pb.v1.DecryptRequest(version="v1beta1", cipher=v1_cipher), timeout=5)),
    ):
        code, message = cc.code_of(call)
        say(f"--encryption-context gained tier=etcd: old {name} data {code.name} ({message})")
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert kms_calls(kms_aws, mark).get("Decrypt", 0) == 0

    allowed = start_plugin(key["Arn"], ["--encryption-context", "cluster=prod,tier=etcd",
                                        "--decrypt-encryption-contexts", "cluster=prod"])
    allowed.wait_healthy()
    ca = client_for(allowed)
    mark = kms_aws.requests.mark()
    assert ca.decrypt(good.ciphertext, good.key_id, dict(good.annotations)) == SEED
    plain = ca.v1.Decrypt(ca.pb.v1.DecryptRequest(version="v1beta1", cipher=v1_cipher), timeout=5).plain
    assert plain == SEED
    sent = [(r.operation, r.fields.get("EncryptionContext")) for r in allowed.requests(kms_aws.requests, mark)]
    say(f"with --decrypt-encryption-contexts cluster=prod both read again; the fresh plugin asked KMS {sent}")
    assert sent == [("Decrypt", {"cluster": "prod"})] * 2, "a cold Decrypt under the recorded context"

    fewer = start_plugin(key["Arn"])
    fewer.wait_healthy()
    assert client_for(fewer).decrypt(good.ciphertext, good.key_id, dict(good.annotations)) == SEED
    say("a configured context with fewer pairs (none) reads data recorded with more")


def test_cold_reads_of_one_seed_are_one_kms_call_and_kms_calls_in_flight_are_bounded(
    start_plugin, client_for, key, kms_seed, kms_aws, proxy_to, say
):
    proxy = proxy_to(kms_aws)
    plugin = start_plugin(key["Arn"], ["--kms-max-in-flight", "4", "--health-interval", "1h"], aws=proxy)
    c = client_for(plugin)
    plugin.wait_healthy()
    # Seeds encrypted outside the plugin, so its cache has never seen them (an apiserver
    # restart after a plugin restart).
    seeds = [os.urandom(32) for _ in range(20)]
    ciphers = [b"\x01" + kms_seed.kms.encrypt(KeyId=key["Arn"], Plaintext=s)["CiphertextBlob"] for s in seeds]
    annotations = {VERSION: b"1"}
    proxy.inject(Fault("delay", seconds=0.3, service="kms", operation="Decrypt"))
    time.sleep(0.2)

    mark = proxy.mark()
    with ThreadPoolExecutor(50) as pool:
        got = list(pool.map(lambda _: c.decrypt(ciphers[0], key["Arn"], annotations), range(50)))
    calls = proxy.count("kms", "Decrypt", FORWARDED, mark=mark)
    say(f"50 concurrent cold reads of one seed: {calls} KMS Decrypt at the proxy, "
        f"{plugin.metric('keywarden_kms_decrypt_coalesced_total'):.0f} coalesced")
    assert got == [seeds[0]] * 50 and calls == 1

    proxy.reset_peak()
    mark = proxy.mark()
    jobs = [i for i in range(1, 20) for _ in range(10)]
    with ThreadPoolExecutor(100) as pool:
        got = list(pool.map(lambda i: (i, c.decrypt(ciphers[i], key["Arn"], annotations)), jobs))
    calls = proxy.count("kms", "Decrypt", FORWARDED, mark=mark)
    say(f"190 concurrent cold reads of 19 seeds with --kms-max-in-flight 4: {calls} KMS Decrypts, "
        f"at most {proxy.peak('kms')} in flight at the proxy")
    assert all(plain == seeds[i] for i, plain in got)
    assert calls == 19 and 1 < proxy.peak("kms") <= 4
