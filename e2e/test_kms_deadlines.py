"""keywarden-kms when AWS KMS is slower than the apiserver's deadline.

kube-apiserver gives every plugin call a deadline (its KMS `timeout`, 3 s by default). A KMS
call the plugin makes for a request runs on its own, so what KMS answers after the caller gave
up is not lost: a retried cold read is answered from the first call's plaintext (one Decrypt at
the endpoint, not one per attempt), and a KMS slower than `--kms-timeout` makes `Status` and
`/readyz` report not-ok after three calls, instead of "ok" while every request fails. KMS is
slowed by the fault proxy in front of the AWS endpoint; Decrypts are counted in the endpoint's
own request log, by the encryption context they named.
"""

from __future__ import annotations

import json
import uuid

import grpc

from harness.checks import wait_until
from harness.fault_fixtures import proxy_to  # noqa: F401
from harness.fault_proxy import Fault
from harness.kms_fixtures import (  # noqa: F401
    client_for,
    key,
    kms_aws,
    kms_seed,
    start_plugin,
)

SEED = bytes(range(32))
VERSION = "version.kms.keywarden.io"
CONTEXT = "encryption-context.kms.keywarden.io"


def test_a_retry_after_the_caller_timed_out_is_answered_from_the_first_kms_call(
    start_plugin, client_for, key, kms_seed, kms_aws, proxy_to, say
):
    proxy = proxy_to(kms_aws)
    plugin = start_plugin(key["Arn"], ["--encryption-context", "cluster=e2e", "--health-interval", "1h"], aws=proxy)
    c = client_for(plugin)
    plugin.wait_healthy()
    # A seed the plugin has never seen (an apiserver restart after a plugin restart), under a
    # context of its own, so its Decrypts are told apart from the health checker's at the endpoint.
    context = {"cluster": "e2e", "seed": uuid.uuid4().hex}
    blob = kms_seed.kms.encrypt(KeyId=key["Arn"], Plaintext=SEED, EncryptionContext=context)["CiphertextBlob"]
    cipher, annotations = b"\x01" + blob, {VERSION: b"1", CONTEXT: json.dumps(context).encode()}

    def decrypts() -> int:
        return sum(1 for r in plugin.requests(kms_aws.requests)
                   if r.operation == "Decrypt" and r.fields.get("EncryptionContext") == context)

    proxy.inject(Fault("delay", seconds=1.5, service="kms", operation="Decrypt"))
    request = c.pb.v2.DecryptRequest(ciphertext=cipher, key_id=key["Arn"], annotations=annotations, uid="1")
    code, _ = c.code_of(lambda: c.v2.Decrypt(request, timeout=0.5))
    say(f"a Decrypt with a 0.5 s deadline while KMS takes 1.5 s: {code.name}")
    # The client's clock and tonic's (which honours grpc-timeout and answers CANCELLED) run
    # out together; whichever is first, the caller has given up before KMS answered.
    assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED), code
    wait_until(lambda: decrypts() == 1, 15, "the endpoint answered the abandoned call's Decrypt")
    proxy.clear()

    assert c.decrypt(cipher, key["Arn"], annotations) == SEED
    assert c.decrypt(cipher, key["Arn"], annotations) == SEED
    say(f"two retries read the seed; the endpoint saw {decrypts()} Decrypt of it in all")
    assert decrypts() == 1, "the retries were answered from the first call's plaintext"


def test_kms_slower_than_the_callers_deadline_is_reported_not_ok_within_three_calls(
    start_plugin, client_for, key, kms_aws, proxy_to, say
):
    proxy = proxy_to(kms_aws)
    plugin = start_plugin(key["Arn"], ["--kms-timeout", "1s", "--health-interval", "1h"], aws=proxy)
    c = client_for(plugin)
    plugin.wait_healthy()
    assert c.status().healthz == "ok"

    proxy.inject(Fault("delay", seconds=3, service="kms"))
    answers = []
    for _ in range(3):
        code, message = c.code_of(lambda: c.encrypt(SEED))
        answers.append((code, message))
        assert code == grpc.StatusCode.UNAVAILABLE and "no answer within 1s" in message, message
    say(f"three Encrypts while KMS takes 3 s, --kms-timeout 1s: {answers[-1][0].name} ({answers[-1][1]})")

    healthz = c.status().healthz
    ready, reason = plugin.http_get("/readyz")
    say(f"then Status.healthz = {healthz!r}; /readyz {ready} {reason.strip()!r}")
    assert healthz != "ok" and "no answer within 1s" in healthz
    assert ready == 503 and "no answer within 1s" in reason

    proxy.clear()
    wait_until(lambda: c.status().healthz == "ok", 30, "healthy again once KMS answers in time")
    assert c.encrypt(SEED).key_id == key["Arn"]
    say("KMS answering in time again: Status ok, Encrypt works")
