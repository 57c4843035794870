"""keywarden-kms checked by oracles that are not the plugin: boto3 and the AWS endpoint.

The plugin's ciphertexts are opened with boto3 on the same endpoint, from the framing its
documentation gives (harness/kms_fixtures.py), under the context its annotations (v2) or its
header (v1beta1) record; ciphertexts the test builds itself with boto3 are opened by the plugin.
Decrypts run with a cold cache (a fresh plugin process, or the cache disabled), so they are KMS
calls and not lookups of what Encrypt just cached; each plugin run signs with its own access key
id, and every KMS operation it makes is counted where it arrives, with the key and context it
named. Whether a wrong context is refused is asked of KMS itself.
"""

from __future__ import annotations

import json
import os

import grpc
import pytest

from harness.kms_fixtures import (  # noqa: F401
    ANNOTATION_CONTEXT,
    client_for,
    frame_v1beta1,
    key,
    kms_aws,
    kms_calls,
    kms_error,
    kms_seed,
    open_blob,
    open_v1beta1,
    open_v2,
    split_v1beta1,
    split_v2,
    start_plugin,
    v2_context,
)

PROD = {"cluster": "prod", "purpose": "etcd"}
QUIET = ["--health-interval", "1h"]  # no background KMS calls inside a counted window


def context_args(context: dict[str, str]) -> list[str]:
    return ["--encryption-context", ",".join(f"{k}={v}" for k, v in context.items())] if context else []


def kms_requests(endpoint, plugin, mark: int, operation: str) -> list[dict]:
    """The KMS fields (key, context) of `plugin`'s `operation` requests since mark, at the endpoint."""
    return [r.fields for r in plugin.requests(endpoint.requests, mark) if r.operation == operation]


@pytest.mark.parametrize("context", [{}, PROD], ids=["no-context", "context"])
def test_boto3_opens_the_plugins_v2_and_v1beta1_ciphertexts_under_the_recorded_context(
    context, start_plugin, client_for, key, kms_seed, kms_aws, say
):
    plugin = start_plugin(key["Arn"], [*QUIET, *context_args(context)])
    plugin.wait_healthy()
    c = client_for(plugin)
    seed, v1_plain = os.urandom(32), os.urandom(32)
    mark = kms_aws.requests.mark()
    resp = c.encrypt(seed)
    cipher = c.v1.Encrypt(c.pb.v1.EncryptRequest(version="v1beta1", plain=v1_plain), timeout=5).cipher
    calls = kms_calls(kms_aws, mark, plugin)
    sent = kms_requests(kms_aws, plugin, mark, "Encrypt")
    say(f"v2 and v1beta1 Encrypt: the plugin's calls at the endpoint {calls}, naming {sent}")
    assert calls == {"Encrypt": 2}, "each Encrypt is one KMS Encrypt, nothing else"
    assert all(f["KeyId"] == key["Arn"] and f.get("EncryptionContext", {}) == context for f in sent)

    blob = split_v2(resp.ciphertext)
    recorded = v2_context(resp.annotations)
    say(f"v2: 0x01 + {len(blob)}-byte blob, annotations record context {recorded}")
    assert recorded == context and (ANNOTATION_CONTEXT in resp.annotations) == bool(context)
    assert seed not in resp.ciphertext
    assert open_v2(kms_seed.kms, resp.ciphertext, resp.key_id, dict(resp.annotations)) == seed
    say("boto3 Decrypt(blob, KeyId, recorded context) returns the seed")

    named_key, named_context, v1_blob = split_v1beta1(cipher)
    say(f"v1beta1: 0x02, key {named_key[-12:]}, context {named_context}, {len(v1_blob)}-byte blob")
    assert (named_key, named_context) == (key["Arn"], context) and v1_plain not in cipher
    assert open_v1beta1(kms_seed.kms, cipher) == v1_plain
    say("boto3 opens the v1beta1 ciphertext under the key and context it names")

    wrong = [{"cluster": "dev"}, {**context, "extra": "pair"}] + ([{}] if context else [])
    for bad in wrong:
        for name, b in (("v2", blob), ("v1beta1", v1_blob)):
            code = kms_error(lambda b=b, bad=bad: kms_seed.kms.decrypt(CiphertextBlob=b, KeyId=key["Arn"], EncryptionContext=bad))
            say(f"boto3 Decrypt of the {name} blob under context {bad}: KMS answers {code}")
            assert code == "InvalidCiphertextException"


def test_cold_cache_decrypt_is_a_kms_call_for_v2_and_v1beta1(start_plugin, client_for, key, kms_seed, kms_aws, say):
    writer = start_plugin(key["Arn"], [*QUIET, *context_args(PROD)])
    writer.wait_healthy()
    w = client_for(writer)
    seed, v1_plain = os.urandom(32), os.urandom(32)
    v2 = w.encrypt(seed)
    v1 = w.v1.Encrypt(w.pb.v1.EncryptRequest(version="v1beta1", plain=v1_plain), timeout=5).cipher

    fresh = start_plugin(key["Arn"], [*QUIET, *context_args(PROD)])
    fresh.wait_healthy()
    f = client_for(fresh)
    mark = kms_aws.requests.mark()
    assert f.decrypt(v2.ciphertext, v2.key_id, dict(v2.annotations)) == seed
    assert f.v1.Decrypt(f.pb.v1.DecryptRequest(version="v1beta1", cipher=v1), timeout=5).plain == v1_plain
    calls, sent = kms_calls(kms_aws, mark, fresh), kms_requests(kms_aws, fresh, mark, "Decrypt")
    say(f"a fresh plugin process decrypts the first one's v2 and v1beta1 ciphertexts: its calls {calls}, "
        f"naming {sent}; the writer's {kms_calls(kms_aws, mark, writer)}")
    assert calls == {"Decrypt": 2} and kms_calls(kms_aws, mark, writer) == {}
    assert sent == [{"KeyId": key["Arn"], "EncryptionContext": PROD}] * 2

    uncached = start_plugin(key["Arn"], [*QUIET, *context_args(PROD), "--decrypt-cache-size", "0"])
    uncached.wait_healthy()
    u = client_for(uncached)
    mark = kms_aws.requests.mark()
    for _ in range(3):
        assert u.decrypt(v2.ciphertext, v2.key_id, dict(v2.annotations)) == seed
        assert u.v1.Decrypt(u.pb.v1.DecryptRequest(version="v1beta1", cipher=v1), timeout=5).plain == v1_plain
    again = u.encrypt(seed)
    assert u.decrypt(again.ciphertext, again.key_id, dict(again.annotations)) == seed
    calls = kms_calls(kms_aws, mark, uncached)
    say(f"--decrypt-cache-size 0: 3 reads each of v2 and v1beta1 and an Encrypt/Decrypt round trip: {calls}")
    assert calls == {"Decrypt": 7, "Encrypt": 1}

    # Ciphertexts made by boto3 alone, framed as documented: the plugin can only open them with KMS.
    outside, outside_v1 = os.urandom(32), os.urandom(32)
    blob = kms_seed.kms.encrypt(KeyId=key["Arn"], Plaintext=outside, EncryptionContext=PROD)["CiphertextBlob"]
    blob_v1 = kms_seed.kms.encrypt(KeyId=key["Arn"], Plaintext=outside_v1, EncryptionContext=PROD)["CiphertextBlob"]
    annotations = {"version.kms.keywarden.io": b"1", ANNOTATION_CONTEXT: json.dumps(PROD).encode()}
    mark = kms_aws.requests.mark()
    assert f.decrypt(b"\x01" + blob, key["Arn"], annotations) == outside
    v1_req = f.pb.v1.DecryptRequest(version="v1beta1", cipher=frame_v1beta1(key["Arn"], PROD, blob_v1))
    assert f.v1.Decrypt(v1_req, timeout=5).plain == outside_v1
    say(f"ciphertexts boto3 made, framed by the test: the plugin opens both with {kms_calls(kms_aws, mark, fresh)}")
    assert kms_calls(kms_aws, mark, fresh) == {"Decrypt": 2}


def test_a_wrong_context_is_refused_by_kms_itself(start_plugin, client_for, key, kms_seed, kms_aws, say):
    writer = start_plugin(key["Arn"], [*QUIET, *context_args(PROD)])
    writer.wait_healthy()
    w = client_for(writer)
    seed = os.urandom(32)
    good = w.encrypt(seed)
    v1 = w.v1.Encrypt(w.pb.v1.EncryptRequest(version="v1beta1", plain=seed), timeout=5).cipher
    code = kms_error(lambda: kms_seed.kms.decrypt(CiphertextBlob=split_v2(good.ciphertext), KeyId=key["Arn"],
                                                  EncryptionContext={"cluster": "dev"}))
    say(f"boto3: the plugin's blob (context {PROD}) under context cluster=dev -> {code}")
    assert code == "InvalidCiphertextException"

    # A plugin configured with no context accepts any recorded one, so what it sends is what the
    # stored data says; only KMS can tell that the blob was bound to another context.
    lax = start_plugin(key["Arn"], [*QUIET, "--decrypt-cache-size", "0"])
    lax.wait_healthy()
    c = client_for(lax)
    other = {"cluster": "dev", "purpose": "etcd"}
    forged = {**good.annotations, ANNOTATION_CONTEXT: json.dumps(other).encode()}
    _, _, v1_blob = split_v1beta1(v1)
    forged_v1 = frame_v1beta1(key["Arn"], other, v1_blob)
    mark = kms_aws.requests.mark()
    for name, call in (
        ("v2", lambda: c.decrypt(good.ciphertext, good.key_id, forged)),
        ("v1beta1", lambda: c.v1.Decrypt(c.pb.v1.DecryptRequest(version="v1beta1", cipher=forged_v1), timeout=5)),
    ):
        status, message = c.code_of(call)
        say(f"{name} ciphertext with its recorded context changed to {other}: {status.name} ({message})")
        assert status == grpc.StatusCode.INVALID_ARGUMENT
    answered = [(r.operation, r.status, r.fields.get("EncryptionContext")) for r in lax.requests(kms_aws.requests, mark)]
    say(f"at the endpoint: {answered}")
    assert answered == [("Decrypt", 400, other)] * 2, "the context reached KMS, and KMS refused it"
    assert c.decrypt(good.ciphertext, good.key_id, dict(good.annotations)) == seed
    assert c.v1.Decrypt(c.pb.v1.DecryptRequest(version="v1beta1", cipher=v1), timeout=5).plain == seed
    say("the true records still open through the same plugin")

    ok = open_blob(kms_seed.kms, split_v2(good.ciphertext), key["Arn"], PROD)
    assert ok == seed
