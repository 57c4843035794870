"""The KMS plugin's figures: v2 Decrypt throughput against a no-op tonic server, and the KMS
calls an apiserver restart with 1,000 distinct DEK seeds costs while the plugin stays up.

The plugin is the release build, started by the e2e harness (harness/kms_plugin.py). The
throughput runs alternate between the plugin and the no-op server (`keywarden-bench
noop-kms`), the same client and concurrency against each (`keywarden-bench decrypt-load`).
The restart figure is the apiserver's KMS v2 flow of harness/apiserver.py over a real etcd
(harness/etcd.py), the scenario of e2e/test_kms_apiserver.py, with calls counted at the
endpoint.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from harness.apiserver import ApiServer
from harness.etcd import EtcdProcess
from harness.kms_plugin import KmsPluginProcess
from harness.process import terminate

from .report import Row
from .tools import Binaries, workdir
from .world import World

ROUNDS, WARMUP_S, MEASURE_S, CONCURRENCY = 5, 1, 3, 16
MIN_RATIO = 0.8
SEEDS = 1000
PLUGIN_ARGS = ["--health-interval", "1h"]


def _plugin(world: World, bins: Binaries, d: Path) -> KmsPluginProcess:
    return KmsPluginProcess(d, world.aws.env(), world.key["Arn"], extra_args=PLUGIN_ARGS, binary=bins.kms)


def _noop(bins: Binaries, socket: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(bins.bench), "noop-kms", "--socket", str(socket)], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the no-op KMS server did not create {socket}")
        time.sleep(0.02)
    return proc


def throughput(world: World, bins: Binaries, say: Any) -> Row:
    results: dict[str, list[dict[str, Any]]] = {"plugin": [], "noop": []}
    with workdir("kw-bench-kms-") as d, _plugin(world, bins, d / "plugin") as plugin:
        plugin.wait_healthy()
        noop = _noop(bins, d / "noop.sock")
        try:
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
        finally:
            terminate(noop)
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


def apiserver_restart(world: World, bins: Binaries, say: Any) -> Row:
    prefix = f"/registry/secrets/bench-{uuid.uuid4().hex[:8]}/"
    with EtcdProcess() as etcd, workdir("kw-bench-api-") as d, _plugin(world, bins, d) as plugin:
        plugin.wait_healthy()
        started = time.monotonic()
        mark = world.aws.requests.mark()
        for i in range(SEEDS):
            with ApiServer(etcd, plugin.socket_path) as api:  # each start makes a new seed
                api.probe()
                api.write(f"{prefix}s{i:04d}", _secret(i))
        seeded = world.calls(mark)
        seeding = time.monotonic() - started
        mark = world.aws.requests.mark()
        with ApiServer(etcd, plugin.socket_path) as api:
            paths = sorted(etcd.items(prefix))
            for p in paths:
                api.read(p)
            decrypts = api.decrypt_calls
        calls = world.calls(mark)
    say(
        f"{SEEDS} apiserver starts with one write each in {seeding:.0f} s (endpoint {seeded}); a fresh apiserver "
        f"read {len(paths)} objects with {decrypts} plugin Decrypts; endpoint {calls}"
    )
    return Row(
        figure=f"apiserver restart with {SEEDS:,} distinct DEK seeds, plugin warm: KMS calls",
        measured=f"{calls['kms_total']} KMS calls",
        baseline=f"{decrypts:,} plugin Decrypts (one per seed)",
        target="0",
        passed=len(paths) == SEEDS and decrypts == SEEDS and calls["kms_total"] == 0,
        ratio=calls["kms_total"] / decrypts if decrypts else None,
        detail={"seeds": SEEDS, "seeding_calls": seeded, "restart_calls": calls, "plugin_decrypts": decrypts},
    )
