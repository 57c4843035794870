"""keywarden-kms health with the default --health-interval (5m): quick to recover, slow to alarm.

A failed KMS call is probed again within seconds (not after 5 minutes); one failure is not
unhealthy, three in a row are; once KMS is back, /healthz is ok again within seconds. A corrupt
object in etcd, read again and again as an apiserver relisting would, does not make the plugin
unhealthy. Faults are injected, and the re-probes seen, at the fault proxy in front of the AWS
endpoint; the corrupt object is written into a real etcd.
"""

from __future__ import annotations

import time
import uuid

import grpc

from harness.apiserver import ApiServer
from harness.checks import wait_until
from harness.fault_fixtures import proxy_to  # noqa: F401
from harness.fault_proxy import FORWARDED, Fault
from harness.kms_fixtures import (  # noqa: F401
    client_for,
    etcd,
    key,
    kms_aws,
    kms_seed,
    start_plugin,
)

SEED = bytes(range(32))
RECOVERY_BOUND = 15.0  # seconds; the backoff is 1, 2, 4, 8, then 10 s


def healthz_samples(plugin, seconds: float) -> set[int | None]:
    """The /healthz statuses seen every 0.1 s for `seconds`."""
    seen = set()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        seen.add(plugin.http_get("/healthz")[0])
        time.sleep(0.1)
    return seen


def test_one_failure_is_reprobed_within_seconds_and_an_outage_recovers_within_seconds(
    start_plugin, client_for, key, kms_aws, proxy_to, say
):
    proxy = proxy_to(kms_aws)
    plugin = start_plugin(key["Arn"], ["--decrypt-cache-size", "0"], aws=proxy)  # --health-interval 5m
    c = client_for(plugin)
    plugin.wait_healthy()
    good = c.encrypt(SEED)

    proxy.inject(Fault("error", status=500, service="kms"))
    code, message = c.code_of(lambda: c.encrypt(SEED))
    failed_at = time.monotonic()
    proxy.clear()
    mark = proxy.mark()
    assert code == grpc.StatusCode.UNAVAILABLE, message
    seen = healthz_samples(plugin, 3.0)
    reprobe = wait_until(lambda: proxy.count("kms", outcome=FORWARDED, mark=mark) or None, 10,
                         "the plugin probes KMS again after a failure, without traffic")
    say(f"one failed Encrypt ({message}): /healthz statuses over the next 3 s {seen}; "
        f"{reprobe} re-probe(s) reached KMS within {time.monotonic() - failed_at:.1f}s (interval 5m)")
    assert seen == {200}, "one failure is not unhealthy"

    proxy.inject(Fault("error", status=500, service="kms"))
    started = time.monotonic()
    code, _ = c.code_of(lambda: c.decrypt(good.ciphertext, good.key_id, dict(good.annotations)))
    assert code == grpc.StatusCode.UNAVAILABLE
    status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(plugin.http_get("/healthz")), 30,
                              "three failures in a row make /healthz fail")
    reported = time.monotonic() - started
    assert "unavailable" in body.lower(), body
    proxy.clear()
    recovered_from = time.monotonic()
    wait_until(lambda: plugin.http_get("/healthz")[0] == 200 or None, RECOVERY_BOUND * 2, "/healthz ok again")
    recovery = time.monotonic() - recovered_from
    say(f"KMS failing: /healthz 503 after {reported:.1f}s ({body.strip()!r}); KMS back: /healthz 200 after "
        f"{recovery:.1f}s, without traffic, --health-interval 5m")
    assert recovery < RECOVERY_BOUND
    assert c.status().healthz == "ok"


def test_a_corrupt_stored_object_read_again_and_again_does_not_make_the_plugin_unhealthy(
    start_plugin, etcd, key, kms_aws, say
):
    plugin = start_plugin(key["Arn"], ["--decrypt-cache-size", "0", "--health-interval", "1h"])
    plugin.wait_healthy()
    path = f"/registry/secrets/corrupt-{uuid.uuid4().hex[:8]}/s"
    with ApiServer(etcd, plugin.socket_path) as writer:
        writer.probe()
        writer.write(path, b"fine")
    raw = etcd.get(path)
    assert raw is not None
    obj = writer.stored(path)
    source = bytearray(obj.encryptedDEKSource)
    source[-3] ^= 0xFF
    obj.encryptedDEKSource = bytes(source)
    etcd.put(path, writer.prefix + obj.SerializeToString())
    codes = []
    mark = kms_aws.requests.mark()
    for _ in range(20):  # an apiserver relisting: every restart of the watch reads it again
        with ApiServer(etcd, plugin.socket_path) as api:
            try:
                api.read(path)
                codes.append("read")
            except grpc.RpcError as e:
                codes.append(e.code().name)
    seen = healthz_samples(plugin, 2.0)
    calls = kms_aws.requests.counts(mark)
    say(f"a corrupt seed ciphertext in etcd read 20 times: {set(codes)}; KMS {dict(calls)}; /healthz {seen}")
    assert set(codes) == {"INVALID_ARGUMENT"}
    assert seen == {200}, "one object's bad data is not a KMS health problem"
