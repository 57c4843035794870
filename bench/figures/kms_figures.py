"""The KMS plugin's figures: v2 Decrypt throughput against a no-op tonic server, the KMS
calls an apiserver restart with 1,000 distinct DEK seeds costs through the plugin that stayed up
(none) and through a freshly started one (one per seed), and a
cold start (plugin and apiserver both restarted): concurrent reads of one seed cost one KMS call,
and 10,000 concurrent reads of 1,000 seeds keep the calls in flight to KMS within the bound.

The plugin is the release build, started by the e2e harness (harness/kms_plugin.py). The
throughput runs alternate between the plugin and the no-op server (`keywarden-bench
noop-kms`), the same client and concurrency against each (`keywarden-bench decrypt-load`).
The restart figure is the apiserver's KMS v2 flow of harness/apiserver.py over a real etcd
(harness/etcd.py), the scenario of e2e/test_kms_apiserver.py, with calls counted at the
endpoint. The cold-start figure sends its Decrypts as gRPC futures on one channel (as the
apiserver's one connection carries them) through the fault proxy (harness/fault_proxy.py), which
adds a fixed latency to every KMS Decrypt and records the most KMS requests in flight at once.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from harness.apiserver import ApiServer
from harness.etcd import EtcdProcess
from harness.apiserver import channel
from harness.fault_proxy import FORWARDED, Fault, FaultProxy
from harness.kms_plugin import KmsPluginProcess
from harness.kms_protos import stubs

from .report import Row
from .tools import Binaries, server, workdir
from .world import World

ROUNDS, WARMUP_S, MEASURE_S, CONCURRENCY = 5, 1, 3, 16
MIN_RATIO = 0.8
SEEDS = 1000
PLUGIN_ARGS = ["--health-interval", "1h"]
ONE_SEED_READS, COLD_SEEDS, COLD_READS = 1000, 1000, 10_000
KMS_MAX_IN_FLIGHT = 32  # keywarden-kms's default --kms-max-in-flight
KMS_LATENCY_S = 0.02  # added to every KMS Decrypt at the proxy, like a nearby region


def _plugin(world: World, bins: Binaries, d: Path) -> KmsPluginProcess:
    return KmsPluginProcess(d, world.aws.env(), world.key["Arn"], extra_args=PLUGIN_ARGS, binary=bins.kms)


def throughput(world: World, bins: Binaries, say: Any) -> Row:
    results: dict[str, list[dict[str, Any]]] = {"plugin": [], "noop": []}
    with workdir("kw-bench-kms-") as d, _plugin(world, bins, d / "plugin") as plugin:
        plugin.wait_healthy()
        with server(bins, d / "noop.sock", "noop-kms"):
            sockets = {"plugin": plugin.socket_path, "noop": d / "noop.sock"}
            mark = world.aws.requests.mark()
            for round_ in range(ROUNDS):
                for name in ("plugin", "noop") if round_ % 2 == 0 else ("noop", "plugin"):
                    results[name].append(
                        bins.run(
                            "decrypt-load", "--socket", str(sockets[name]), "--concurrency", str(CONCURRENCY),
                            "--warmup", str(WARMUP_S), "--seconds", str(MEASURE_S),
                        )  # fmt: skip
                    )
            calls = world.calls(mark)
    plugin_ops = statistics.median(r["ops_per_sec"] for r in results["plugin"])
    noop_ops = statistics.median(r["ops_per_sec"] for r in results["noop"])
    ratio = plugin_ops / noop_ops
    cached = calls["kms"].get("Decrypt", 0) == 0
    say(
        f"Decrypt throughput: plugin {[round(r['ops_per_sec']) for r in results['plugin']]}, "
        f"no-op {[round(r['ops_per_sec']) for r in results['noop']]} ops/s; endpoint {calls}"
    )
    return Row(
        figure=f"KMS plugin v2 Decrypt over the socket, cached, {CONCURRENCY} in flight: throughput",
        measured=f"{plugin_ops:,.0f} ops/s",
        baseline=f"{noop_ops:,.0f} ops/s no-op tonic server",
        target=f"≥ {MIN_RATIO}×",
        passed=cached and ratio >= MIN_RATIO,
        ratio=ratio,
        detail={"rounds": results, "endpoint_calls": calls, "every_decrypt_cached": cached},
    )


def _secret(i: int) -> bytes:
    return json.dumps({"kind": "Secret", "metadata": {"name": f"s{i}"}, "data": {"k": uuid.uuid4().hex}}).encode()


def _read_all(etcd: EtcdProcess, plugin: KmsPluginProcess, prefix: str, written: dict[str, bytes]) -> dict[str, Any]:
    """A fresh apiserver reads every object under prefix: how many it read, how many differed
    from what was written, and its Decrypts to the plugin."""
    with ApiServer(etcd, plugin.socket_path) as api:
        paths = sorted(etcd.items(prefix))
        wrong = sum(1 for p in paths if api.read(p) != written.get(p))
        return {"read": len(paths), "wrong": wrong, "decrypts": api.decrypt_calls}


def apiserver_restart(world: World, bins: Binaries, say: Any) -> list[Row]:
    """1,000 apiserver starts with one write each make 1,000 DEK seeds; then a fresh apiserver
    reads them all twice: through the plugin that stayed up (warm: no KMS call) and through a
    freshly started plugin (one KMS Decrypt per seed), counted at moto."""
    prefix = f"/registry/secrets/bench-{uuid.uuid4().hex[:8]}/"
    written: dict[str, bytes] = {}
    with EtcdProcess() as etcd, workdir("kw-bench-api-") as d:
        with _plugin(world, bins, d / "warm") as plugin:
            plugin.wait_healthy()
            started = time.monotonic()
            mark = world.aws.requests.mark()
            for i in range(SEEDS):
                with ApiServer(etcd, plugin.socket_path) as api:  # each start makes a new seed
                    api.probe()
                    path = f"{prefix}s{i:04d}"
                    written[path] = _secret(i)
                    api.write(path, written[path])
            seeded = world.calls(mark)
            seeding = time.monotonic() - started
            mark = world.aws.requests.mark()
            warm = _read_all(etcd, plugin, prefix, written)
            warm_calls = world.calls(mark)
        with _plugin(world, bins, d / "fresh") as plugin:
            plugin.wait_healthy()
            mark = world.aws.requests.mark()
            fresh = _read_all(etcd, plugin, prefix, written)
            fresh_calls = world.calls(mark)
    say(
        f"{SEEDS} apiserver starts with one write each in {seeding:.0f} s (endpoint {seeded}); a fresh apiserver "
        f"read {warm} through the warm plugin, endpoint {warm_calls}; and {fresh} through a freshly started "
        f"plugin, endpoint {fresh_calls}"
    )
    detail = {"seeds": SEEDS, "seeding_calls": seeded, "warm": warm, "warm_calls": warm_calls,
              "fresh": fresh, "fresh_calls": fresh_calls}  # fmt: skip
    all_read = [r["read"] == SEEDS and r["wrong"] == 0 and r["decrypts"] == SEEDS for r in (warm, fresh)]
    return [
        Row(
            figure=f"apiserver restart with {SEEDS:,} distinct DEK seeds, plugin warm: KMS calls",
            measured=f"{warm_calls['kms_total']} KMS calls",
            baseline=f"{warm['decrypts']:,} plugin Decrypts (one per seed)",
            target="0",
            passed=all_read[0] and warm_calls["kms_total"] == 0,
            ratio=warm_calls["kms_total"] / warm["decrypts"] if warm["decrypts"] else None,
            detail=detail,
        ),
        Row(
            figure=f"apiserver restart with {SEEDS:,} distinct DEK seeds, plugin freshly started: KMS calls",
            measured=f"{fresh_calls['kms'].get('Decrypt', 0):,} KMS Decrypt, {fresh_calls['kms_total']:,} KMS in all",
            baseline=f"{fresh['decrypts']:,} plugin Decrypts (one per seed)",
            target=f"exactly {SEEDS:,} Decrypt (one per seed)",
            passed=all_read[1]
            and fresh_calls["kms"].get("Decrypt", 0) == SEEDS
            and fresh_calls["kms_total"] == SEEDS,
            ratio=fresh_calls["kms_total"] / fresh["decrypts"] if fresh["decrypts"] else None,
            detail=detail,
        ),
    ]


def _cold_reads(stub, pb, requests: list[tuple[Any, bytes]]) -> tuple[int, float]:
    """Sends every request at once as a future on one channel; returns (wrong answers, seconds)."""
    started = time.monotonic()
    futures = [(stub.Decrypt.future(req, timeout=120), want) for req, want in requests]
    wrong = sum(1 for f, want in futures if f.result().plaintext != want)
    return wrong, time.monotonic() - started


def cold_start(world: World, bins: Binaries, say: Any) -> list[Row]:
    pb = stubs()
    seeds = [uuid.uuid4().bytes * 2 for _ in range(COLD_SEEDS + 1)]  # seeds[0] for the one-seed row
    ciphers = [b"\x01" + world.seed.kms.encrypt(KeyId=world.key["Arn"], Plaintext=s)["CiphertextBlob"] for s in seeds]

    def request(i: int) -> tuple[Any, bytes]:
        req = pb.v2.DecryptRequest(ciphertext=ciphers[i], uid=str(uuid.uuid4()), key_id=world.key["Arn"],
                                   annotations={"version.kms.keywarden.io": b"1"})
        return req, seeds[i]

    proxy = FaultProxy(world.aws).start()
    try:
        with workdir("kw-bench-cold-") as d, KmsPluginProcess(
            d, {**world.env(), **proxy.env()}, world.key["Arn"], extra_args=PLUGIN_ARGS, binary=bins.kms
        ) as plugin, channel(plugin.socket_path) as ch:
            plugin.wait_healthy()
            stub = pb.v2_grpc.KeyManagementServiceStub(ch)
            proxy.inject(Fault("delay", seconds=KMS_LATENCY_S, service="kms", operation="Decrypt"))
            mark = proxy.mark()
            wrong_one, one_s = _cold_reads(stub, pb, [request(0)] * ONE_SEED_READS)
            one_calls = proxy.count("kms", "Decrypt", FORWARDED, mark=mark)
            proxy.reset_peak()
            mark = proxy.mark()
            jobs = [request(1 + i % COLD_SEEDS) for i in range(COLD_READS)]
            wrong_many, many_s = _cold_reads(stub, pb, jobs)
            many_calls = proxy.count("kms", "Decrypt", FORWARDED, mark=mark)
            peak = proxy.peak("kms")
            coalesced = plugin.metric("keywarden_kms_decrypt_coalesced_total")
    finally:
        proxy.stop()
    say(f"{ONE_SEED_READS} concurrent cold reads of one seed: {one_calls} KMS Decrypt in {one_s:.2f}s; "
        f"{COLD_READS} of {COLD_SEEDS} seeds: {many_calls} KMS Decrypts, at most {peak} in flight, "
        f"{many_s:.2f}s, {coalesced:.0f} coalesced in all; wrong answers {wrong_one + wrong_many}")
    return [
        Row(
            figure=f"{ONE_SEED_READS:,} concurrent cold reads of one seed (plugin and apiserver restarted): KMS calls",
            measured=f"{one_calls} KMS Decrypt",
            baseline=f"{ONE_SEED_READS:,} plugin Decrypts",
            target="1",
            passed=one_calls == 1 and wrong_one == 0,
            ratio=one_calls / ONE_SEED_READS,
            detail={"seconds": one_s, "kms_latency_s": KMS_LATENCY_S},
        ),
        Row(
            figure=f"{COLD_READS:,} concurrent cold reads of {COLD_SEEDS:,} seeds: KMS calls, most in flight",
            measured=f"{many_calls:,} KMS Decrypts, ≤ {peak} in flight",
            baseline=f"{COLD_READS:,} plugin Decrypts",
            target=f"one per seed, ≤ {KMS_MAX_IN_FLIGHT} in flight",
            passed=many_calls == COLD_SEEDS and peak <= KMS_MAX_IN_FLIGHT and wrong_many == 0,
            ratio=many_calls / COLD_READS,
            detail={"seconds": many_s, "peak_in_flight": peak, "kms_latency_s": KMS_LATENCY_S,
                    "coalesced": coalesced},
        ),
    ]
