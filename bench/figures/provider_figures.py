"""The provider's figures: cold Mount latency against the bare SDK program, AWS calls of a
re-Mount and of 50 pods mounting at once (counted at the endpoint), and memory under 200
concurrent Mounts.

The provider is the release build, started by the e2e harness (harness/provider.py) with its
production defaults except where a figure says otherwise. Latency runs with `--cache-ttl 0`
and node identity, so every Mount makes exactly the calls the bare program makes: one
GetObject and one kms:Decrypt per object, no conditional request, no STS; the endpoint's count
of the run proves it. The call-count and memory figures use IRSA, every pod with its own token,
as pods of a Deployment have.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.provider import ProviderProcess

from .report import Row, mib, ms
from .tools import Binaries, memory, workdir
from .world import World, pods, workload, write_workload

# (objects per Mount, timed rounds): p99 needs at least 100 samples of each series.
LATENCY_RUNS = ((1, 300), (10, 200), (50, 100))
WARMUP = 5
MAX_RATIO = 1.2
REMOUNTS = 5
DEPLOYMENT_PODS = 50
RSS_VOLUMES, RSS_PODS_PER_VOLUME, RSS_OBJECTS_PER_VOLUME = 20, 10, 10
IDLE_LIMIT_KIB, PEAK_LIMIT_KIB = 20 * 1024, 64 * 1024
MOUNT_DURATION = "keywarden_provider_mount_duration_seconds"


@contextlib.contextmanager
def provider(world: World, bins: Binaries, *extra: str) -> Iterator[ProviderProcess]:
    """A release provider on a fresh socket (empty caches), stopped and checked after."""
    with workdir("kw-bench-prov-") as d:
        proc = ProviderProcess(d, world.aws.env(), extra_args=list(extra), binary=bins.provider)
        with proc:
            yield proc


def mount_latency(world: World, bins: Binaries, scratch: Path, say: Any) -> list[Row]:
    rows = []
    with provider(world, bins, "--cache-ttl", "0") as prov:
        for count, iterations in LATENCY_RUNS:
            objects = world.objects(count, f"cold{count}")
            path = write_workload(scratch / f"cold-{count}.json", workload(objects, pods(1, "cold")))
            mark = world.aws.requests.mark()
            served = _served(prov)
            started = time.monotonic()
            result = bins.run(
                "mount", "--socket", str(prov.socket_path), "--workload", str(path),
                "--iterations", str(iterations), "--warmup", str(WARMUP), env=world.env(),
            )  # fmt: skip
            calls = world.calls(mark)
            seconds, mounts = (after - before for after, before in zip(_served(prov), served))
            split = _overhead_split(result, seconds / mounts * 1e3)
            expected = 2 * (iterations + WARMUP) * count
            cold = (
                calls["s3_get"] == expected
                and calls["s3_get_conditional"] == 0
                and calls["kms"] == {"Decrypt": expected}
                and calls["sts"] == 0
            )
            say(
                f"Mount of {count}: provider p50 {result['provider']['p50_ms']:.2f} p99 {result['provider']['p99_ms']:.2f}, "
                f"bare p50 {result['bare']['p50_ms']:.2f} p99 {result['bare']['p99_ms']:.2f} ms "
                f"({iterations} rounds, {time.monotonic() - started:.0f} s); endpoint {calls}"
            )
            say(
                f"  mean overhead {split['client_mean_ms'] - split['bare_mean_ms']:+.2f} ms: the socket hop "
                f"(client mean - the provider's own Mount duration) {split['socket_hop_ms']:.2f} ms, the Mount's "
                f"work beyond the bare calls {split['mount_work_ms']:.2f} ms"
            )
            for q in ("p50", "p99"):
                measured, base = result["provider"][f"{q}_ms"], result["bare"][f"{q}_ms"]
                ratio = measured / base
                rows.append(
                    Row(
                        figure=f"provider Mount, {count} object{'s' if count > 1 else ''}, cold, {q}",
                        measured=f"{ms(measured)} ({measured - base:+.2f})",
                        baseline=f"{ms(base)} bare SDK",
                        target=f"≤ {MAX_RATIO}×",
                        passed=cold and ratio <= MAX_RATIO,
                        ratio=ratio,
                        detail={
                            "objects": count,
                            "rounds": iterations,
                            "provider": result["provider"],
                            "bare": result["bare"],
                            "endpoint_calls": calls,
                            "every_call_cold": cold,
                            "overhead_split": split,
                        },
                    )
                )
    return rows


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
    with provider(world, bins) as prov:
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
        figure="re-Mount of an unchanged volume (IRSA, 10 objects): AWS calls per object",
        measured=f"{per['s3_get_304']:g} conditional S3 GET (304), {per['kms']:g} KMS, {per['sts']:g} STS",
        baseline=f"cold Mount: {per_cold['s3_get']:g} S3 GET, {per_cold['kms']:g} KMS, {per_cold['sts']:g} STS",
        target="1 conditional S3, 0 KMS, 0 STS",
        passed=passed,
        ratio=warm["total"] / REMOUNTS / cold["total"],
        detail={"objects": len(objects), "remounts": REMOUNTS, "cold": cold, "warm": warm, "warm_per_object": per},
    )


def deployment(world: World, bins: Binaries, scratch: Path, say: Any) -> Row:
    objects = world.objects(10, "deploy")
    pod_list = pods(DEPLOYMENT_PODS, "web")
    path = write_workload(
        scratch / "deployment.json", workload(objects, pod_list, identity="irsa", role_arn=world.role_arn)
    )
    with provider(world, bins) as prov:
        mark = world.aws.requests.mark()
        result = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=world.env())
        calls = world.calls(mark)
    per = _per_object(calls, len(objects))
    unconditional = (calls["s3_get"] - calls["s3_get_conditional"]) / len(objects)
    say(f"{DEPLOYMENT_PODS} pods at once: {result['ok']} ok in {result['wall_ms']:.0f} ms; endpoint {calls}")
    passed = result["ok"] == DEPLOYMENT_PODS and per["s3_get"] == 1 and per["kms"] == 1
    uncoalesced = DEPLOYMENT_PODS * 2 * len(objects)
    return Row(
        figure=f"{DEPLOYMENT_PODS} pods of one Deployment mounting at once (IRSA, 10 objects): calls per object",
        measured=(
            f"{per['s3_get']:g} S3 GET ({unconditional:g} full, {per['s3_get_304']:g} 304), "
            f"{per['kms']:g} KMS; {calls['sts']} STS in all (one per pod token)"
        ),
        baseline=f"uncoalesced: {DEPLOYMENT_PODS} S3 GET, {DEPLOYMENT_PODS} KMS",
        target="1 S3 GET, 1 KMS",
        passed=passed,
        ratio=(calls["s3_get"] + calls["kms_total"]) / uncoalesced,
        detail={"pods": DEPLOYMENT_PODS, "objects": len(objects), "burst": result, "calls": calls, "per_object": per},
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
    requests = [r for v in volumes for r in v["requests"]]
    path = write_workload(scratch / "rss.json", {"requests": requests, "objects": volumes[0]["objects"]})
    with provider(world, bins) as prov:
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
