"""The provider's figures: cold Mount latency against the bare SDK program and warm re-Mount
throughput against a no-op provider (both on the fast endpoint, fast.py), AWS calls of a
re-Mount and of 50 pods mounting at once with coalescing on and off (counted at moto), and
memory under 200 concurrent Mounts.

The provider is the release build, started by the e2e harness (harness/provider.py) with its
production defaults except where a figure says otherwise (the harness turns the revalidation
window off unless a figure sets it). Latency runs with `--cache-ttl 0` and node identity, so
every Mount makes exactly the calls the bare program makes: one GetObject and one kms:Decrypt
per object, no conditional request, no STS; the endpoint's count of every block proves it.
The call-count and memory figures use IRSA, every pod with its own token, as pods of a
Deployment have. Every Mount's files are compared with the seeded plaintexts by the bench
binary (bench/src/mount.rs), so a wrong answer fails the figure, not only a missing one.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.provider import ProviderProcess

from .fast import FastWorld
from .report import Row, mib, ms
from .tools import Binaries, memory, server, workdir
from .world import World, pods, workload, write_workload

# (objects per Mount, timed rounds): p99 needs at least 100 samples of each series.
LATENCY_RUNS = ((1, 300), (10, 200), (50, 100))
WARMUP, BLOCKS = 5, 5
# Untimed blocks first: the first block after the processes start ran 1.3–1.5× slower than the
# later ones, for the provider and the bare program alike (connection pools, caches and the VM's
# CPU settling), and decided the pooled p99 of both series.
SETTLE_BLOCKS = 1
MAX_RATIO = 1.2
THROUGHPUT_ROUNDS, THROUGHPUT_CLIENTS, THROUGHPUT_OBJECTS, THROUGHPUT_PODS = 4, 16, 10, 16
THROUGHPUT_WARMUP_S, THROUGHPUT_MEASURE_S, MIN_THROUGHPUT_RATIO = 1, 3, 0.5
THROUGHPUT_WINDOW = "30s"  # the provider's default --revalidate-window
REMOUNTS = 5
DEPLOYMENT_PODS = 50
RSS_VOLUMES, RSS_PODS_PER_VOLUME, RSS_OBJECTS_PER_VOLUME = 20, 10, 10
IDLE_LIMIT_KIB, PEAK_LIMIT_KIB = 20 * 1024, 64 * 1024
MOUNT_DURATION = "keywarden_provider_mount_duration_seconds"


@contextlib.contextmanager
def provider(aws_env: dict[str, str], bins: Binaries, *extra: str) -> Iterator[ProviderProcess]:
    """A release provider on a fresh socket (empty caches), stopped and checked after."""
    with workdir("kw-bench-prov-") as d:
        proc = ProviderProcess(d, aws_env, extra_args=list(extra), binary=bins.provider)
        with proc:
            yield proc


def mount_latency(bins: Binaries, scratch: Path, say: Any) -> list[Row]:
    """Cold Mounts of 1, 10 and 50 objects against the fast endpoint, each round interleaved with
    the bare program; the runs of the three sizes are interleaved too, BLOCKS times, and each
    figure is a percentile of the samples of all blocks pooled."""
    with contextlib.ExitStack() as stack:
        fast = stack.enter_context(FastWorld(bins))
        prov = stack.enter_context(provider(fast.aws_env(), bins, "--cache-ttl", "0"))
        hop_dir = stack.enter_context(workdir("kw-bench-hop-"))
        paths, objects = {}, {}
        for count, _ in LATENCY_RUNS:
            objects[count] = fast.objects(count, f"cold{count}")
            paths[count] = write_workload(scratch / f"cold-{count}.json", workload(objects[count], pods(1, "cold")))
        # The floor of the gRPC hop: a no-op provider answering the 1-object files from memory
        # over the same kind of socket, timed the same way in every block.
        small = LATENCY_RUNS[0]
        stack.enter_context(server(bins, hop_dir / "noop.sock", "noop-provider", "--workload", str(paths[small[0]])))
        hops: list[float] = []
        runs: dict[int, list[dict[str, Any]]] = {count: [] for count, _ in LATENCY_RUNS}
        calls: dict[int, list[dict[str, Any]]] = {count: [] for count, _ in LATENCY_RUNS}
        splits: dict[int, list[dict[str, float]]] = {count: [] for count, _ in LATENCY_RUNS}
        started = time.monotonic()
        for block in range(SETTLE_BLOCKS + BLOCKS):
            timed = block >= SETTLE_BLOCKS
            order = LATENCY_RUNS if block % 2 == 0 else LATENCY_RUNS[::-1]
            for count, iterations in order:
                mark = fast.mark()
                served = _served(prov)
                result = bins.run(
                    "mount", "--socket", str(prov.socket_path), "--workload", str(paths[count]),
                    "--iterations", str(iterations), "--warmup", str(WARMUP), env=fast.env(),
                )  # fmt: skip
                calls[count].append(fast.calls(mark))
                if timed:
                    seconds, mounts = (after - before for after, before in zip(_served(prov), served))
                    splits[count].append(_overhead_split(result, seconds / mounts * 1e3))
                    runs[count].append(result)
            noop = bins.run(
                "mount", "--socket", str(hop_dir / "noop.sock"), "--workload", str(paths[small[0]]),
                "--iterations", str(small[1]), "--warmup", str(WARMUP), env=fast.env(),
            )  # fmt: skip
            if timed:
                hops += noop["provider_ms"]
        say(f"{SETTLE_BLOCKS} untimed and {BLOCKS} timed blocks of cold Mounts of {[c for c, _ in LATENCY_RUNS]} objects in {time.monotonic() - started:.0f} s")
    rows = []
    for count, iterations in LATENCY_RUNS:
        expected = 2 * (iterations + WARMUP) * count
        cold = all(
            c["s3_get"] == expected and c["s3_get_conditional"] == 0 and c["kms"] == {"Decrypt": expected}
            and c["sts"] == 0 and c["total"] == 2 * expected
            for c in calls[count]
        )  # fmt: skip
        # Percentiles of the samples of all blocks pooled: a p99 of 500 samples is the 5th
        # slowest, not the slowest sample of one block.
        med = {
            (series, q): _percentile([x for r in runs[count] for x in r[f"{series}_ms"]], p)
            for series in ("provider", "bare")
            for q, p in (("p50", 50), ("p99", 99))
        }
        split = {k: statistics.median(s[k] for s in splits[count]) for k in splits[count][0]}
        say(
            f"Mount of {count}: provider p50 {med[('provider', 'p50')]:.3f} p99 {med[('provider', 'p99')]:.3f}, "
            f"bare p50 {med[('bare', 'p50')]:.3f} p99 {med[('bare', 'p99')]:.3f} ms ({BLOCKS} interleaved blocks of "
            f"{iterations} rounds, pooled); socket hop {split['socket_hop_ms']:.3f} ms, Mount work beyond the bare calls "
            f"{split['mount_work_ms']:.3f} ms; endpoint per block {calls[count][0]}"
        )
        for q in ("p50", "p99"):
            measured, base = med[("provider", q)], med[("bare", q)]
            ratio = measured / base
            hop = _percentile(hops, 50 if q == "p50" else 99)
            floor = f" (a no-op provider's round trip on the socket: {ms(hop)})" if count == small[0] else ""
            rows.append(
                Row(
                    figure=f"provider Mount, {count} object{'s' if count > 1 else ''}, cold, fast endpoint, {q}",
                    measured=f"{ms(measured)} ({measured - base:+.2f})",
                    baseline=f"{ms(base)} bare SDK{floor}",
                    target=f"≤ {MAX_RATIO}×",
                    passed=cold and ratio <= MAX_RATIO,
                    ratio=ratio,
                    detail={
                        "objects": count,
                        "rounds": iterations,
                        "blocks": BLOCKS,
                        "provider": [r["provider"] for r in runs[count]],
                        "bare": [r["bare"] for r in runs[count]],
                        "endpoint_calls": calls[count],
                        "every_call_cold": cold,
                        "overhead_split": splits[count],
                        "noop_round_trip_ms": hop if count == small[0] else None,
                    },
                )
            )
    return rows


def _percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile, as bench/src/stats.rs computes it."""
    ordered = sorted(samples)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def _overhead_split(result: dict[str, Any], inside_ms: float) -> dict[str, float]:
    """Where the provider's extra time goes, as means over every round of a run (the provider's
    duration metric cannot tell warm-up rounds apart): the gRPC round trip on the socket (what the
    client saw minus what the provider measured itself) and the Mount's work beyond the AWS calls
    (what the provider measured minus the bare program)."""
    client = statistics.fmean(result["warmup_provider_ms"] + result["provider_ms"])
    bare = statistics.fmean(result["warmup_bare_ms"] + result["bare_ms"])
    return {
        "client_mean_ms": client,
        "provider_mean_ms": inside_ms,
        "bare_mean_ms": bare,
        "socket_hop_ms": client - inside_ms,
        "mount_work_ms": inside_ms - bare,
    }


def _served(prov: ProviderProcess) -> tuple[float, float]:
    """(seconds, Mounts) the provider's own duration histogram has recorded so far."""
    return prov.metric(f"{MOUNT_DURATION}_sum"), prov.metric(f"{MOUNT_DURATION}_count")


def _per_object(calls: dict[str, Any], objects: int) -> dict[str, float]:
    return {
        "s3_get": calls["s3_get"] / objects,
        "s3_get_conditional": calls["s3_get_conditional"] / objects,
        "s3_get_304": calls["s3_get_304"] / objects,
        "kms": calls["kms_total"] / objects,
        "sts": calls["sts"] / objects,
    }


def remount(world: World, bins: Binaries, scratch: Path, say: Any) -> Row:
    objects = world.objects(10, "remount")
    path = write_workload(
        scratch / "remount.json", workload(objects, pods(1, "remount"), identity="irsa", role_arn=world.role_arn)
    )
    with provider(world.aws.env(), bins, "--revalidate-window", "0") as prov:
        args = ("burst", "--socket", str(prov.socket_path), "--workload", str(path))
        mark = world.aws.requests.mark()
        bins.run(*args, env=world.env())
        cold = world.calls(mark)
        mark = world.aws.requests.mark()
        results = [bins.run(*args, env=world.env()) for _ in range(REMOUNTS)]
        warm = world.calls(mark)
    n = len(objects) * REMOUNTS
    per = _per_object(warm, n)
    per_cold = _per_object(cold, len(objects))
    say(f"re-Mount ×{REMOUNTS} of {len(objects)} objects: cold {cold}; warm {warm}")
    passed = (
        all(r["ok"] == 1 for r in results)
        and warm["s3_get"] == n
        and warm["s3_get_304"] == n
        and warm["s3_get_conditional"] == n
        and warm["kms_total"] == 0
        and warm["sts"] == 0
        and warm["total"] == n
    )
    return Row(
        figure="re-Mount of an unchanged volume (IRSA, 10 objects, --revalidate-window 0): AWS calls per object",
        measured=f"{per['s3_get_304']:g} conditional S3 GET (304), {per['kms']:g} KMS, {per['sts']:g} STS",
        baseline=f"cold Mount: {per_cold['s3_get']:g} S3 GET, {per_cold['kms']:g} KMS, {per_cold['sts']:g} STS",
        target="1 conditional S3, 0 KMS, 0 STS",
        passed=passed,
        ratio=warm["total"] / REMOUNTS / cold["total"],
        detail={"objects": len(objects), "remounts": REMOUNTS, "cold": cold, "warm": warm, "warm_per_object": per},
    )


def remount_throughput(bins: Binaries, scratch: Path, say: Any) -> Row:
    """Warm re-Mounts from 16 clients against the fast endpoint vs the no-op provider answering the
    same files from memory over the same socket stack, in alternating rounds; medians. The
    provider runs with its default revalidation window, so a warm re-Mount is its own work
    (request parsing, identity, cache, response), which is what the no-op provider skips."""
    with (
        FastWorld(bins) as fast,
        provider(fast.aws_env(), bins, "--revalidate-window", THROUGHPUT_WINDOW) as prov,
        workdir("kw-bench-noop-") as d,
    ):
        objects = fast.objects(THROUGHPUT_OBJECTS, "warm")
        path = write_workload(scratch / "warm.json", workload(objects, pods(THROUGHPUT_PODS, "warm")))
        fill = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=fast.env())
        with server(bins, d / "noop.sock", "noop-provider", "--workload", str(path)):
            sockets = {"provider": prov.socket_path, "noop": d / "noop.sock"}
            results: dict[str, list[dict[str, Any]]] = {"provider": [], "noop": []}
            provider_calls = []
            for round_ in range(THROUGHPUT_ROUNDS):
                for name in ("provider", "noop") if round_ % 2 == 0 else ("noop", "provider"):
                    mark = fast.mark()
                    results[name].append(
                        bins.run(
                            "remount-load", "--socket", str(sockets[name]), "--workload", str(path),
                            "--concurrency", str(THROUGHPUT_CLIENTS), "--warmup", str(THROUGHPUT_WARMUP_S),
                            "--seconds", str(THROUGHPUT_MEASURE_S), env=fast.env(),
                        )  # fmt: skip
                    )
                    if name == "provider":
                        provider_calls.append(fast.calls(mark))
    ops = {name: statistics.median(r["mounts_per_sec"] for r in rs) for name, rs in results.items()}
    ratio = ops["provider"] / ops["noop"]
    # Within the window a warm re-Mount reaches no endpoint; when the window runs out during the
    # run, one conditional GET per object renews it (answered 304).
    warm = fill["ok"] == THROUGHPUT_PODS and all(
        c["kms_total"] == 0 and c["sts"] == 0 and c["s3_get"] == c["s3_get_304"] == c["s3_get_conditional"]
        and c["s3_get"] <= THROUGHPUT_OBJECTS
        for c in provider_calls
    )  # fmt: skip
    say(
        f"warm re-Mount throughput, {THROUGHPUT_CLIENTS} clients: provider "
        f"{[round(r['mounts_per_sec']) for r in results['provider']]}, no-op "
        f"{[round(r['mounts_per_sec']) for r in results['noop']]} Mounts/s; endpoint per provider round {provider_calls}"
    )
    return Row(
        figure=(
            f"warm re-Mount, {THROUGHPUT_OBJECTS} objects, {THROUGHPUT_CLIENTS} clients, default flags "
            f"(--revalidate-window {THROUGHPUT_WINDOW}), fast endpoint: throughput"
        ),
        measured=f"{ops['provider']:,.0f} Mounts/s",
        baseline=f"{ops['noop']:,.0f} Mounts/s no-op provider (files from memory)",
        target=f"≥ {MIN_THROUGHPUT_RATIO}×",
        passed=warm and ratio >= MIN_THROUGHPUT_RATIO,
        ratio=ratio,
        detail={"rounds": results, "endpoint_calls": provider_calls, "every_mount_warm": warm},
    )


def deployment(world: World, bins: Binaries, scratch: Path, say: Any) -> Row:
    """50 pods of one Deployment at once, with coalescing and with it switched off
    (`--no-coalesce`, the measured baseline), calls counted at moto."""
    measured = {}
    for mode, extra in (("coalesced", ()), ("uncoalesced", ("--no-coalesce",))):
        objects = world.objects(10, f"deploy-{mode}")
        pod_list = pods(DEPLOYMENT_PODS, f"web-{mode}")
        path = write_workload(
            scratch / f"deployment-{mode}.json",
            workload(objects, pod_list, identity="irsa", role_arn=world.role_arn),
        )
        with provider(world.aws.env(), bins, *extra) as prov:
            mark = world.aws.requests.mark()
            result = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=world.env())
            calls = world.calls(mark)
        measured[mode] = (result, calls)
        say(f"{DEPLOYMENT_PODS} pods at once, {mode}: {result['ok']} ok in {result['wall_ms']:.0f} ms; endpoint {calls}")
    n = 10
    (result, calls), (base_result, base) = measured["coalesced"], measured["uncoalesced"]
    per, base_per = _per_object(calls, n), _per_object(base, n)
    unconditional = (calls["s3_get"] - calls["s3_get_conditional"]) / n
    passed = (
        result["ok"] == DEPLOYMENT_PODS
        and base_result["ok"] == DEPLOYMENT_PODS
        and per["s3_get"] == 1
        and per["kms"] == 1
        and base_per["s3_get"] == DEPLOYMENT_PODS
        and base_per["kms"] == DEPLOYMENT_PODS
    )
    return Row(
        figure=f"{DEPLOYMENT_PODS} pods of one Deployment mounting at once (IRSA, 10 objects): calls per object",
        measured=(
            f"{per['s3_get']:g} S3 GET ({unconditional:g} full, {per['s3_get_304']:g} 304), "
            f"{per['kms']:g} KMS; {calls['sts']} STS in all (one per pod token)"
        ),
        baseline=(
            f"measured with --no-coalesce: {base_per['s3_get']:g} S3 GET, {base_per['kms']:g} KMS, "
            f"{base['sts']} STS in all"
        ),
        target=f"1 S3 GET, 1 KMS (baseline {DEPLOYMENT_PODS} each)",
        passed=passed,
        ratio=(calls["s3_get"] + calls["kms_total"]) / (base["s3_get"] + base["kms_total"]),
        detail={"pods": DEPLOYMENT_PODS, "objects": n, "coalesced": measured["coalesced"],
                "uncoalesced": measured["uncoalesced"], "per_object": per, "baseline_per_object": base_per},
    )


def memory_under_load(world: World, bins: Binaries, scratch: Path, say: Any) -> list[Row]:
    pool = world.objects(RSS_VOLUMES * RSS_OBJECTS_PER_VOLUME // 2, "rss")
    volumes = [
        workload(
            [pool[(v * 5 + j) % len(pool)] for j in range(RSS_OBJECTS_PER_VOLUME)],
            pods(RSS_PODS_PER_VOLUME, f"app{v:02d}"),
            identity="irsa",
            role_arn=world.role_arn,
        )
        for v in range(RSS_VOLUMES)
    ]
    # Each request carries its own volume's objects, so that every Mount's files are checked.
    requests = [dict(r, objects=v["objects"]) for v in volumes for r in v["requests"]]
    path = write_workload(scratch / "rss.json", {"requests": requests, "objects": volumes[0]["objects"]})
    with provider(world.aws.env(), bins) as prov:
        pid = prov.proc.pid
        time.sleep(1.0)
        idle = memory(pid)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(memory(pid)["VmRSS"])
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=world.env())
        finally:
            done.set()
            sampler.join()
        peak = memory(pid)
        time.sleep(1.0)
        after = memory(pid)
    mounts = len(requests)
    say(
        f"RSS idle {idle['VmRSS']} KiB; {mounts} concurrent Mounts: {result['ok']} ok in {result['wall_ms']:.0f} ms, "
        f"VmHWM {peak['VmHWM']} KiB (max sampled VmRSS {max(samples, default=0)} KiB), after {after['VmRSS']} KiB"
    )
    detail = {"idle_kib": idle, "peak_kib": peak, "after_kib": after, "sampled_max_kib": max(samples, default=0),
              "burst": result}  # fmt: skip
    return [
        Row(
            figure="provider RSS, idle (release build, after start)",
            measured=mib(idle["VmRSS"]),
            baseline="—",
            target="< 20 MiB",
            passed=idle["VmRSS"] < IDLE_LIMIT_KIB,
            detail=detail,
        ),
        Row(
            figure=f"provider RSS, peak during {mounts} concurrent Mounts (IRSA, 10 objects each, VmHWM)",
            measured=mib(peak["VmHWM"]),
            baseline="—",
            target="< 64 MiB",
            passed=result["ok"] == mounts and peak["VmHWM"] < PEAK_LIMIT_KIB,
            detail=detail,
        ),
    ]
