"""How long keywarden-kms serves a seed it decrypted once the key is disabled.

A decrypted seed is served from the plugin's memory for at most `--decrypt-cache-ttl` after the
KMS call that produced it, and not at all once the plugin has seen KMS refuse the key. The key
is disabled at the AWS endpoint with boto3 (it then refuses the key as AWS KMS does); what the
plugin serves is read over its socket, and whether it asked KMS again is read in the endpoint's
own request log.
"""

from __future__ import annotations

import time

import grpc

from harness.kms_fixtures import (  # noqa: F401
    client_for,
    key,
    kms_aws,
    kms_seed,
    start_plugin,
)

SEED = bytes(range(32))
OTHER = bytes(range(32, 64))
TTL = 2.0  # seconds, the test's --decrypt-cache-ttl


def decrypts(plugin, kms_aws, mark: int) -> list[int]:
    """The HTTP status of each Decrypt the plugin sent the endpoint since mark."""
    return [r.status for r in plugin.requests(kms_aws.requests, mark) if r.operation == "Decrypt"]


def test_a_cached_seed_stops_being_served_within_the_ttl_once_the_key_is_disabled(
    start_plugin, client_for, key, kms_seed, kms_aws, say
):
    plugin = start_plugin(key["Arn"], ["--decrypt-cache-ttl", f"{TTL:g}s", "--health-interval", "1h"])
    c = client_for(plugin)
    plugin.wait_healthy()
    written = c.encrypt(SEED)
    mark = kms_aws.requests.mark()
    assert c.decrypt(written.ciphertext, written.key_id, dict(written.annotations)) == SEED
    assert decrypts(plugin, kms_aws, mark) == [], "served from the cache"

    kms_seed.kms.disable_key(KeyId=key["KeyId"])
    try:
        time.sleep(TTL + 0.5)  # past the bound; nothing is asserted about time
        mark = kms_aws.requests.mark()
        code, message = c.code_of(lambda: c.decrypt(written.ciphertext, written.key_id, dict(written.annotations)))
        asked = decrypts(plugin, kms_aws, mark)
        say(f"key disabled, {TTL:g} s TTL passed: {code.name} ({message}); Decrypts at the endpoint {asked}")
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "DisabledException" in message
        assert asked == [400], "the plugin asked KMS again and KMS refused"
    finally:
        kms_seed.kms.enable_key(KeyId=key["KeyId"])
    assert c.decrypt(written.ciphertext, written.key_id, dict(written.annotations)) == SEED
    say("key enabled again: the seed reads again")


def test_a_refusal_of_the_key_drops_every_seed_cached_under_it(
    start_plugin, client_for, key, kms_seed, kms_aws, say
):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1h"])  # the default TTL, 1h
    c = client_for(plugin)
    plugin.wait_healthy()
    written = c.encrypt(SEED)
    read = lambda: c.decrypt(written.ciphertext, written.key_id, dict(written.annotations))  # noqa: E731
    mark = kms_aws.requests.mark()
    assert read() == SEED and decrypts(plugin, kms_aws, mark) == [], "served from the cache"
    # A seed the plugin never saw (written before a plugin restart).
    other = b"\x01" + kms_seed.kms.encrypt(KeyId=key["Arn"], Plaintext=OTHER)["CiphertextBlob"]

    kms_seed.kms.disable_key(KeyId=key["KeyId"])
    try:
        mark = kms_aws.requests.mark()
        code, message = c.code_of(lambda: c.decrypt(other, key["Arn"], {"version.kms.keywarden.io": b"1"}))
        say(f"key disabled; a seed not cached: {code.name} ({message})")
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        code, message = c.code_of(read)
        asked = decrypts(plugin, kms_aws, mark)
        say(f"then the cached seed: {code.name} ({message}); Decrypts at the endpoint {asked}")
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "DisabledException" in message
        assert asked == [400, 400], "the cached seed was dropped and asked for again"
    finally:
        kms_seed.kms.enable_key(KeyId=key["KeyId"])
    assert read() == SEED
    say("key enabled again: the seed reads again")
