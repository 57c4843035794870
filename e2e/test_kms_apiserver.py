"""The apiserver's KMS v2 flow against keywarden-kms, with a real etcd underneath.

harness/apiserver.py plays kube-apiserver (seed → plugin Encrypt, HKDF DEK,
AES-GCM, `k8s:enc:kms:v2:<name>:` EncryptedObject in etcd). KMS calls are
counted at the AWS endpoint.
"""

from __future__ import annotations

import json
import time
import uuid

from harness.apiserver import ApiServer
from harness.kms_fixtures import (  # noqa: F401
    alias_and_next_key,
    etcd,
    key,
    kms_aws,
    kms_calls,
    kms_seed,
    open_v2,
    start_plugin,
)


def secret(name: str) -> bytes:
    return json.dumps(
        {"kind": "Secret", "metadata": {"name": name}, "data": {"password": f"pw-{name}-{uuid.uuid4().hex}"}}
    ).encode()


def test_secrets_in_etcd_are_ciphertext_and_survive_restarts(start_plugin, etcd, key, kms_aws, kms_seed, say):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1h"])
    plugin.wait_healthy()
    ns = f"/registry/secrets/ns-{uuid.uuid4().hex[:8]}/"
    written = {f"{ns}s{i}": secret(f"s{i}") for i in range(20)}
    with ApiServer(etcd, plugin.socket_path) as api:
        key_id = api.probe()
        for path, data in written.items():
            api.write(path, data)
        raw = etcd.items(ns)
        say(f"wrote {len(written)} secrets under key_id {key_id}; etcd holds {len(raw)} values")
        assert set(raw) == set(written)
        material = api.key_material()
        assert len(api.sent_seeds) == 1 and len(api.data_keys) == len(written)
        for path, value in raw.items():
            assert value.startswith(b"k8s:enc:kms:v2:keywarden:"), value[:40]
            secrets = [("the object", written[path]), ("a password", json.loads(written[path])["data"]["password"].encode())]
            for label, needle in secrets + material:
                assert needle not in value, f"{path}: etcd holds {label}"
        say(f"searched every etcd value for its plaintext, the {len(api.sent_seeds)} seed sent to the plugin and "
            f"the {len(api.data_keys)} data keys derived from it: none found")
        stored = api.stored(next(iter(written)))
        opened = open_v2(kms_seed.kms, stored.encryptedDEKSource, stored.keyID, dict(stored.annotations))
        say("boto3 opens the stored encryptedDEKSource (format byte + KMS blob, recorded context): the seed")
        assert opened == api.sent_seeds[0]
        assert all(api.read(p) == d for p, d in written.items())

        first_run, first_pid = plugin.access_key, plugin.proc.pid
        plugin.restart()
        plugin.wait_healthy()
        assert plugin.proc.pid != first_pid and plugin.access_key != first_run
        mark = kms_aws.requests.mark()
        assert all(api.read(p) == d for p, d in written.items())
        calls = kms_calls(kms_aws, mark)
        say(f"plugin restarted: the running apiserver reads all back from its seed cache, KMS calls {calls}")
        assert calls == {} and api.decrypt_calls == 0

    with ApiServer(etcd, plugin.socket_path) as api2:
        mark = kms_aws.requests.mark()
        assert all(api2.read(p) == d for p, d in written.items())
        mine, before = kms_calls(kms_aws, mark, plugin), kms_aws.requests.by(first_run, mark)
        say(f"apiserver restarted too (both caches cold): {api2.decrypt_calls} plugin Decrypt; at the endpoint "
            f"the restarted plugin (pid {plugin.proc.pid}, was {first_pid}) made {mine}, the first run {len(before)}")
        assert api2.decrypt_calls == 1 and mine == {"Decrypt": 1} and before == [], "one seed, one KMS Decrypt"
        assert kms_calls(kms_aws, mark) == mine, "no other client called KMS"

    with ApiServer(etcd, plugin.socket_path) as api3:
        mark = kms_aws.requests.mark()
        assert all(api3.read(p) == d for p, d in written.items())
        calls = kms_calls(kms_aws, mark)
        say(f"apiserver restarted again, plugin still up: {api3.decrypt_calls} plugin Decrypt, KMS calls {calls}")
        assert api3.decrypt_calls == 1 and calls == {}


def test_apiserver_restart_with_1000_seeds_costs_no_kms_calls(start_plugin, etcd, key, kms_aws, say):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1h"])
    ns = f"/registry/secrets/many-{uuid.uuid4().hex[:8]}/"
    started = time.monotonic()
    mark = kms_aws.requests.mark()
    for i in range(1000):
        with ApiServer(etcd, plugin.socket_path) as api:  # each start makes a new seed
            api.probe()
            api.write(f"{ns}s{i:04d}", secret(f"s{i}"))
    seeded = kms_calls(kms_aws, mark)
    say(f"1000 apiserver starts, one write each: {time.monotonic() - started:.1f}s, KMS {seeded}")
    assert seeded.get("Encrypt") == 1000

    mark = kms_aws.requests.mark()
    hits_before = plugin.metric("keywarden_kms_decrypt_cache_total", result="hit")
    with ApiServer(etcd, plugin.socket_path) as api:
        paths = sorted(etcd.items(ns))
        assert len(paths) == 1000
        for p in paths:
            api.read(p)
        hits = plugin.metric("keywarden_kms_decrypt_cache_total", result="hit") - hits_before
        calls = kms_calls(kms_aws, mark)
        say(f"a fresh apiserver read 1000 objects: {api.decrypt_calls} plugin Decrypts, {hits:.0f} cache hits, KMS {calls}")
        assert api.decrypt_calls == 1000 and hits == 1000
        assert sum(calls.values()) == 0


def test_alias_retarget_reseeds_and_old_objects_still_read(start_plugin, etcd, kms_seed, kms_aws, say):
    alias, first, second = alias_and_next_key(kms_seed)
    plugin = start_plugin(alias, ["--key-refresh-interval", "1s", "--decrypt-cache-size", "0"])
    plugin.wait_healthy()
    ns = f"/registry/secrets/rot-{uuid.uuid4().hex[:8]}/"
    with ApiServer(etcd, plugin.socket_path) as api:
        old_id = api.probe()
        api.write(f"{ns}old", b"written under the first key")
        kms_seed.kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
        deadline = time.monotonic() + 10
        while api.status().key_id == old_id and time.monotonic() < deadline:
            time.sleep(0.1)
        new_id = api.probe()  # the apiserver's next poll: key_id changed, new seed
        api.write(f"{ns}new", b"written under the second key")
        say(f"alias retargeted: key_id {old_id[-12:]} -> {new_id[-12:]}")
        assert old_id == first["Arn"] and new_id == second["Arn"]
        assert api.stored(f"{ns}old").keyID == old_id and api.stored(f"{ns}new").keyID == new_id
    with ApiServer(etcd, plugin.socket_path) as fresh:
        mark = kms_aws.requests.mark()
        assert fresh.read(f"{ns}old") == b"written under the first key"
        assert fresh.read(f"{ns}new") == b"written under the second key"
        keys = [r.fields.get("KeyId") for r in plugin.requests(kms_aws.requests, mark) if r.operation == "Decrypt"]
        say("a restarted apiserver reads objects of both keys (the old one via the plugin's allow-list): "
            f"KMS Decrypts naming {[k[-12:] for k in keys]}")
        assert keys == [old_id, new_id], "each seed opened by KMS under its own key (cache off)"
