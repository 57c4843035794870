"""The revalidation window (`--revalidate-window`, docs/reference.md §2.7), counted at moto.

An S3 answer for an (identity, object) — the fetch, or a 304 to `If-None-Match` — stands for the
window: a re-Mount within it sends no request at all and serves the cached plaintext; the first
re-Mount after it sends one conditional GET; a window of 0 revalidates on every Mount. The window
never extends the KMS proof: a plaintext still lives at most `--cache-ttl` from its decryption.
Every count is read from the endpoint's own request log; contents are compared with what was
seeded. The waits below only let a window or TTL pass; nothing is timed.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

from harness.aws import MotoEndpoint, Seeder
from harness.driver import Driver
from harness.spc import parameters

CTX = {"app": "window"}


def _kms_object(seed: Seeder, bucket: str, kms_key: dict, value: bytes) -> tuple[str, dict]:
    key = f"window/{uuid.uuid4().hex[:8]}"
    blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=value, EncryptionContext=CTX)["CiphertextBlob"]
    seed.put(bucket, key, blob)
    spec = {"objectName": f"s3://{bucket}/{key}", "objectType": "kms", "objectAlias": "secret",
            "encryptionContext": CTX}  # fmt: skip
    return key, spec


def _mount(d: Driver, aws: MotoEndpoint, params: dict, target) -> tuple[bytes, list]:
    mark = aws.requests.mark()
    result = d.mount(params, target)
    reqs = [r for r in aws.requests.since(mark) if r.service != "moto-api"]
    return result.files["secret"].contents, reqs


def _calls(reqs: list) -> Counter:
    return Counter((r.service, r.operation, r.status, r.conditional) for r in reqs)


def test_within_the_window_a_remount_sends_nothing(start_provider, aws, seed, bucket, kms_key, target, say) -> None:
    value = f"in-window-{uuid.uuid4().hex}".encode()
    _, spec = _kms_object(seed, bucket, kms_key, value)
    provider = start_provider(["--revalidate-window", "1h"])
    params = parameters([spec])
    with Driver(provider.socket_path) as d:
        cold, cold_reqs = _mount(d, aws, params, target)
        warm = [_mount(d, aws, params, target) for _ in range(3)]
    say(f"cold: {_calls(cold_reqs)}; three re-Mounts: {[_calls(r) for _, r in warm]}")
    assert cold == value and all(v == value for v, _ in warm)
    assert _calls(cold_reqs) == Counter({("s3", "GetObject", 200, False): 1, ("kms", "Decrypt", 200, False): 1})
    assert all(reqs == [] for _, reqs in warm), "within the window a re-Mount reaches no AWS endpoint"


def test_after_the_window_one_conditional_get_and_a_change_is_seen(start_provider, aws, seed, bucket, kms_key,
                                                                    target, say) -> None:
    value = f"before-{uuid.uuid4().hex}".encode()
    key, spec = _kms_object(seed, bucket, kms_key, value)
    provider = start_provider(["--revalidate-window", "1s"])
    params = parameters([spec])
    with Driver(provider.socket_path) as d:
        _mount(d, aws, params, target)
        time.sleep(1.2)
        after, after_reqs = _mount(d, aws, params, target)
        again, again_reqs = _mount(d, aws, params, target)
        new = f"after-{uuid.uuid4().hex}".encode()
        blob = seed.kms.encrypt(KeyId=kms_key["KeyId"], Plaintext=new, EncryptionContext=CTX)["CiphertextBlob"]
        seed.put(bucket, key, blob)
        stale, stale_reqs = _mount(d, aws, params, target)
        time.sleep(1.2)
        fresh, fresh_reqs = _mount(d, aws, params, target)
    say(f"after the window: {_calls(after_reqs)}; at once again: {_calls(again_reqs)}; object changed, within "
        f"the window: {_calls(stale_reqs)}; after it: {_calls(fresh_reqs)}")
    assert after == again == value
    assert _calls(after_reqs) == Counter({("s3", "GetObject", 304, True): 1}), "one conditional GET, answered 304"
    assert again_reqs == [], "the 304 restarted the window"
    assert stale == value and stale_reqs == [], "a change within the window is seen once it has passed"
    assert fresh == new
    assert _calls(fresh_reqs) == Counter({("s3", "GetObject", 200, True): 1, ("kms", "Decrypt", 200, False): 1})


def test_window_zero_revalidates_every_mount(start_provider, aws, seed, bucket, kms_key, target, say) -> None:
    value = f"zero-{uuid.uuid4().hex}".encode()
    _, spec = _kms_object(seed, bucket, kms_key, value)
    provider = start_provider(["--revalidate-window", "0"])
    params = parameters([spec])
    with Driver(provider.socket_path) as d:
        _mount(d, aws, params, target)
        warm = [_mount(d, aws, params, target) for _ in range(3)]
    say(f"window 0, three re-Mounts: {[_calls(r) for _, r in warm]}")
    assert all(v == value for v, _ in warm)
    assert all(_calls(r) == Counter({("s3", "GetObject", 304, True): 1}) for _, r in warm)


def test_the_default_window_is_on(start_provider, aws, seed, bucket, kms_key, target, say) -> None:
    value = f"default-{uuid.uuid4().hex}".encode()
    _, spec = _kms_object(seed, bucket, kms_key, value)
    provider = start_provider(revalidate_window=None)
    params = parameters([spec])
    with Driver(provider.socket_path) as d:
        _mount(d, aws, params, target)
        warm, reqs = _mount(d, aws, params, target)
    say(f"default flags, a re-Mount at once: {_calls(reqs)}")
    assert warm == value and reqs == [], "the default window (30 s) covers an immediate re-Mount"


def test_the_window_never_extends_the_cache_ttl(start_provider, aws, seed, bucket, kms_key, target, say) -> None:
    value = f"ttl-{uuid.uuid4().hex}".encode()
    _, spec = _kms_object(seed, bucket, kms_key, value)
    provider = start_provider(["--revalidate-window", "1h", "--cache-ttl", "1s"])
    params = parameters([spec])
    with Driver(provider.socket_path) as d:
        _mount(d, aws, params, target)
        time.sleep(1.2)
        after, reqs = _mount(d, aws, params, target)
    say(f"window 1h, TTL 1s, a re-Mount after the TTL: {_calls(reqs)}")
    assert after == value
    assert _calls(reqs) == Counter({("s3", "GetObject", 200, False): 1, ("kms", "Decrypt", 200, False): 1}), (
        "past the TTL the plaintext is fetched and decrypted again: KMS is asked, whatever the window"
    )
