"""keywarden-kms over its socket, as kube-apiserver's KMS v2 and v1beta1 clients see it.

Every test prints what it tried and what held. The AWS side is moto with key
states enforced (harness/key_states.py); KMS calls are counted where they
arrive, at the endpoint. AWS outages are made with the fault proxy
(harness/fault_proxy.py); restarts and socket takeover are in test_lifecycle.py.
"""

from __future__ import annotations

import os
import stat
import time

import grpc
import pytest

from harness.apiserver import MAX_ANNOTATIONS, check_encrypt_response, is_fqdn
from harness.checks import wait_until
from harness.fault_fixtures import proxy_to  # noqa: F401
from harness.fault_proxy import Fault
from harness.kms_fixtures import (  # noqa: F401
    alias_and_next_key,
    client_for,
    key,
    kms_aws,
    kms_calls,
    kms_seed,
    open_v1beta1,
    open_v2,
    start_plugin,
)

SEED = bytes(range(32))


def test_independent_client_sees_the_v2_contract(start_plugin, client_for, key, kms_seed, say):
    plugin = start_plugin(key["Arn"])
    plugin.wait_healthy()
    c = client_for(plugin)
    statuses = [c.status() for _ in range(3)]
    say(f"Status x3: {[(s.version, s.healthz, s.key_id) for s in statuses]}")
    assert {s.version for s in statuses} == {"v2"}
    assert {s.healthz for s in statuses} == {"ok"}
    assert {s.key_id for s in statuses} == {key["Arn"]}, "key_id is the key ARN, stable"

    resp = c.encrypt(SEED)
    check_encrypt_response(resp, statuses[0].key_id)
    say(f"Encrypt(32-byte seed): {len(resp.ciphertext)}-byte ciphertext, annotations {sorted(resp.annotations)}")
    assert len(resp.ciphertext) <= 1024
    assert resp.annotations and all(is_fqdn(k) and k.endswith("keywarden.io") for k in resp.annotations)
    assert sum(len(k) + len(v) for k, v in resp.annotations.items()) < MAX_ANNOTATIONS
    assert SEED not in resp.ciphertext
    plain = c.decrypt(resp.ciphertext, resp.key_id, dict(resp.annotations))
    assert plain == SEED
    assert open_v2(kms_seed.kms, resp.ciphertext, resp.key_id, dict(resp.annotations)) == SEED
    say("Decrypt returned the seed; boto3 opens the ciphertext to the seed too (not only the plugin's cache)")

    pb = c.pb
    version = c.v1.Version(pb.v1.VersionRequest(version="v1beta1"), timeout=3)
    say(f"v1beta1 Version: {version.version} {version.runtime_name} {version.runtime_version}")
    assert version.version == "v1beta1"
    cipher = c.v1.Encrypt(pb.v1.EncryptRequest(version="v1beta1", plain=b"v1 dek"), timeout=5).cipher
    assert c.v1.Decrypt(pb.v1.DecryptRequest(version="v1beta1", cipher=cipher), timeout=5).plain == b"v1 dek"
    assert open_v1beta1(kms_seed.kms, cipher) == b"v1 dek"
    say("v1beta1 Encrypt/Decrypt round trip on the same socket; boto3 opens that ciphertext too")

    mode = stat.S_IMODE(os.stat(plugin.socket_path).st_mode)
    say(f"socket mode {mode:04o}")
    assert mode == 0o600


def test_bad_input_is_rejected_with_precise_codes(start_plugin, client_for, key, kms_seed, say):
    other = kms_seed.kms_key("allowed old key")
    stranger = kms_seed.kms_key("not allowed")
    plugin = start_plugin(key["Arn"], ["--decrypt-keys", other["Arn"]])
    plugin.wait_healthy()
    c = client_for(plugin)
    good = c.encrypt(SEED)
    ann = dict(good.annotations)
    tampered = bytearray(good.ciphertext)
    tampered[-5] ^= 0x01
    foreign = kms_seed.kms.encrypt(KeyId=stranger["Arn"], Plaintext=SEED)["CiphertextBlob"]
    cases = [
        ("tampered ciphertext", lambda: c.decrypt(bytes(tampered), good.key_id, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        (
            "wrong key_id (allowed key, other data)",
            lambda: c.decrypt(good.ciphertext, other["Arn"], ann),
            {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED},
        ),
        (
            "key outside the allow-list",
            lambda: c.decrypt(b"\x01" + foreign, stranger["Arn"], {}),
            {grpc.StatusCode.PERMISSION_DENIED},
        ),
        ("empty ciphertext", lambda: c.decrypt(b"", good.key_id, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("unknown format byte", lambda: c.decrypt(b"\x31" + good.ciphertext[1:], good.key_id, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("ciphertext over 1024 bytes", lambda: c.decrypt(b"\x01" * 1025, good.key_id, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("key_id over 1024 bytes", lambda: c.decrypt(good.ciphertext, "k" * 1025, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("key_id of 256 KiB", lambda: c.decrypt(good.ciphertext, "k" * 262144, ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("empty key_id", lambda: c.decrypt(good.ciphertext, "", ann), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("annotation key not an FQDN", lambda: c.decrypt(good.ciphertext, good.key_id, {**ann, "foo": b"1"}), {grpc.StatusCode.INVALID_ARGUMENT}),
        (
            "annotations over 32 KiB",
            lambda: c.decrypt(good.ciphertext, good.key_id, {**ann, "big.example.io": b"x" * 32768}),
            {grpc.StatusCode.INVALID_ARGUMENT},
        ),
        ("empty plaintext to Encrypt", lambda: c.encrypt(b""), {grpc.StatusCode.INVALID_ARGUMENT}),
    ]
    for name, call, codes in cases:
        code, message = c.code_of(call)
        say(f"{name}: {code.name} ({message})")
        assert code in codes, f"{name}: {code} {message}"
    assert c.decrypt(good.ciphertext, good.key_id, ann) == SEED
    longest = max(len(line) for line in plugin.log_path.read_bytes().splitlines())
    say(f"longest log line: {longest} bytes")
    assert longest < 4096, "the log quotes a bounded prefix of the request's fields"
    st = c.status()
    say(f"afterwards: still serving, Status healthz {st.healthz!r}")
    assert st.healthz == "ok", "bad input is not a health problem"


def test_disabled_key_fails_precondition_and_healthz_names_it(start_plugin, client_for, key, kms_seed, say):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1s", "--decrypt-cache-size", "0"])
    c = client_for(plugin)
    plugin.wait_healthy()
    good = c.encrypt(SEED)
    kms_seed.kms.disable_key(KeyId=key["KeyId"])
    say("DisableKey on the plugin's key")
    try:
        for name, call in (
            ("Encrypt", lambda: c.encrypt(SEED)),
            ("Decrypt", lambda: c.decrypt(good.ciphertext, good.key_id, dict(good.annotations))),
        ):
            code, message = c.code_of(call)
            say(f"{name}: {code.name} ({message})")
            assert code == grpc.StatusCode.FAILED_PRECONDITION, message
        # Unhealthy takes 3 failures in a row; the checker re-probes within seconds.
        wait_until(lambda: c.status().healthz != "ok" or None, 15, "Status reports the disabled key")
        st = c.status()
        status, body = plugin.http_get("/healthz")
        say(f"Status healthz {st.healthz!r}; GET /healthz {status} {body.strip()!r}")
        assert st.healthz != "ok" and "Disabled" in st.healthz
        assert status == 503 and "Disabled" in body
        livez, _ = plugin.http_get("/livez")
        assert livez == 200, "a disabled key is not a reason to restart the plugin"
    finally:
        kms_seed.kms.enable_key(KeyId=key["KeyId"])
    deadline = time.monotonic() + 10
    while c.status().healthz != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    say(f"EnableKey: Status healthz back to {c.status().healthz!r} without traffic (background check)")
    assert c.status().healthz == "ok"


@pytest.mark.parametrize("outage", ["gone", "5xx"])
def test_kms_outage_shows_in_healthz_while_status_stays_fast(outage, start_plugin, client_for, key, kms_aws,
                                                             proxy_to, say):
    proxy = proxy_to(kms_aws)
    plugin = start_plugin(key["Arn"], ["--health-interval", "1s", "--decrypt-cache-size", "0"], aws=proxy)
    c = client_for(plugin)
    plugin.wait_healthy()
    good = c.encrypt(SEED)
    if outage == "gone":
        proxy.down()
        say("the plugin's AWS endpoint went away (connections refused)")
    else:
        proxy.inject(Fault("error", status=500, service="kms"))
        say("every KMS request answered with HTTP 500")
    mark = proxy.mark()
    started = time.monotonic()

    def healthz_failing() -> tuple[int | None, str] | None:
        status, body = plugin.http_get("/healthz")
        return (status, body) if status not in (200, None) else None

    status, body = wait_until(healthz_failing, 15, "/healthz reports the outage without any traffic")
    say(f"no traffic: GET /healthz {status} {body.strip()!r} after {time.monotonic() - started:.1f}s "
        f"(background check, --health-interval 1s)")
    assert status == 503 and "unavailable" in body.lower()
    for name, call in (
        ("Encrypt", lambda: c.encrypt(SEED)),
        ("Decrypt", lambda: c.decrypt(good.ciphertext, good.key_id, dict(good.annotations))),
    ):
        started = time.monotonic()
        code, message = c.code_of(call)
        say(f"{name}: {code.name} after {time.monotonic() - started:.2f}s ({message})")
        assert code == grpc.StatusCode.UNAVAILABLE, message
    if outage == "5xx":
        say(f"at the proxy: {proxy.summary(mark)}")
        assert proxy.count("kms", "Encrypt", "error", mark) >= 3, "KMS 5xx are retried"
    worst = 0.0
    for _ in range(50):
        started = time.monotonic()
        st = c.status()
        worst = max(worst, time.monotonic() - started)
    say(f"50 Status calls during the outage: slowest {worst * 1000:.1f} ms, healthz {st.healthz!r}")
    assert worst < 0.5, "Status never waits for AWS"
    assert st.healthz != "ok" and "unavailable" in st.healthz.lower()
    livez, _ = plugin.http_get("/livez")
    assert livez == 200, "an AWS outage is not a reason to restart the plugin"

    proxy.up() if outage == "gone" else proxy.clear()
    started = time.monotonic()
    plugin.wait_healthy()
    say(f"endpoint back: /healthz 200 after {time.monotonic() - started:.1f}s without traffic")
    assert c.status().healthz == "ok"
    assert c.decrypt(good.ciphertext, good.key_id, dict(good.annotations)) == SEED
    again = c.encrypt(SEED)
    assert c.decrypt(again.ciphertext, again.key_id, dict(again.annotations)) == SEED
    say("held: Encrypt and Decrypt work again")


def test_alias_retarget_changes_key_id_and_old_data_stays_readable(start_plugin, client_for, kms_seed, kms_aws, say):
    alias, first, second = alias_and_next_key(kms_seed)
    plugin = start_plugin(alias, ["--key-refresh-interval", "1s", "--decrypt-cache-size", "0"])
    c = client_for(plugin)
    plugin.wait_healthy()
    before = c.status().key_id
    old = c.encrypt(SEED)
    say(f"--key {alias}: Status key_id {before}")
    assert before == first["Arn"] and old.key_id == before
    kms_seed.kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
    deadline = time.monotonic() + 10
    while c.status().key_id == before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = c.status().key_id
    say(f"UpdateAlias -> Status key_id {after} within {10 - (deadline - time.monotonic()):.1f}s")
    assert after == second["Arn"]
    new = c.encrypt(SEED)
    assert new.key_id == second["Arn"]
    mark = kms_aws.requests.mark()
    assert c.decrypt(old.ciphertext, old.key_id, dict(old.annotations)) == SEED
    calls = kms_calls(kms_aws, mark)
    say(f"old ciphertext (key {old.key_id[-12:]}) still decrypts; KMS calls {calls}")
    assert calls.get("Decrypt", 0) >= 1, "cache disabled: the old key was really used"
    assert plugin.metric("keywarden_kms_key_changes_total") == 1


def test_idle_health_costs_at_most_one_call_per_interval(start_plugin, client_for, key, kms_aws, say):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1s"])
    plugin.wait_healthy()
    time.sleep(1.5)
    mark = kms_aws.requests.mark()
    window = 6.0
    time.sleep(window)
    calls = kms_calls(kms_aws, mark)
    total = sum(calls.values())
    say(f"idle for {window}s with --health-interval 1s: KMS calls {calls}")
    assert total <= window + 1, "at most one call per interval"
    assert total >= window - 2, "the background check does run when idle"
    assert calls.get("Encrypt", 0) >= 1 and calls.get("Decrypt", 0) >= 1, "both permissions are checked"


def test_traffic_replaces_health_checks(start_plugin, client_for, key, kms_aws, say):
    plugin = start_plugin(key["Arn"], ["--health-interval", "1s", "--decrypt-cache-size", "0"])
    c = client_for(plugin)
    plugin.wait_healthy()
    good = c.encrypt(SEED)
    time.sleep(0.5)
    mark = kms_aws.requests.mark()
    sent = 0
    until = time.monotonic() + 5
    while time.monotonic() < until:
        c.decrypt(good.ciphertext, good.key_id, dict(good.annotations))
        sent += 1
        time.sleep(0.1)
    calls = kms_calls(kms_aws, mark)
    say(f"{sent} Decrypts over 5s with --health-interval 1s: KMS calls {calls}")
    assert calls == {"Decrypt": sent}, "no health calls (or any other KMS operation) beyond the traffic"


@pytest.mark.parametrize("bad", [["--key", ""], ["--key", "k", "--decrypt-keys", "alias/x"]])
def test_bad_configuration_exits_2_before_binding(bad, say, tmp_path):
    import subprocess

    from harness.kms_plugin import KmsPluginProcess

    sock = tmp_path / "never.sock"
    argv = [str(KmsPluginProcess.installed_binary()), "--socket", str(sock), *bad]
    proc = subprocess.run(argv, capture_output=True, timeout=10)
    err = proc.stderr.decode().strip()
    say(f"{bad}: exit {proc.returncode}, {err!r}")
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and not sock.exists()
