"""Rotation at node scale and what it costs a cluster.

`node_rotation`: 100 pods on one node, 10 roles (10 pods each, one SecretProviderClass per role)
and the same 10 objects, re-mounting in rounds as the driver re-mounts every volume about once a
minute; S3, KMS and STS requests counted at moto per round, with the revalidation window on and
with it off (`--revalidate-window 0`) in the same run. Time is compressed: the bench runs the
rounds WINDOW_GAP_S apart with a window of WINDOW_S, standing for the default 30 s window and a
one-minute round (the window is shorter than the gap, so every round revalidates once).

`cost_model` turns the measured per-round counts into AWS requests per month and their list price
for a 1,000-node cluster with 100 pods per node, beside the AWS provider's call pattern. It is a
model: the measured per-node counts, multiplied out; its constants and their sources are stated in
the report's detail.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .provider_figures import provider
from .report import Row
from .tools import Binaries
from .world import World, pods, workload, write_workload

PODS, ROLES, OBJECTS, ROUNDS = 100, 10, 10, 5
WINDOW_S, WINDOW_GAP_S = 3.0, 4.0

NODES, MINUTES_PER_MONTH = 1000, 60 * 24 * 30
CACHE_TTL_MIN = 5  # the provider's default --cache-ttl: each (identity, object) is decrypted again after it
# us-east-1 list prices, per request.
PRICES = {
    "s3_get": (0.0004 / 1000, "S3 Standard GET: $0.0004 per 1,000 requests, https://aws.amazon.com/s3/pricing/"),
    "kms": (0.03 / 10_000, "KMS symmetric requests: $0.03 per 10,000, https://aws.amazon.com/kms/pricing/"),
    "secretsmanager": (
        0.05 / 10_000,
        "Secrets Manager: $0.05 per 10,000 API calls, https://aws.amazon.com/secrets-manager/pricing/",
    ),
}


def node_rotation(world: World, bins: Binaries, scratch: Path, say: Any) -> Row:
    objects = world.objects(OBJECTS, "rotation")
    roles = world.roles(ROLES, "bench-rot")
    requests = []
    for r, role in enumerate(roles):
        requests += workload(objects, pods(PODS // ROLES, f"rot{r:02d}"), identity="irsa", role_arn=role)["requests"]
    path = write_workload(scratch / "rotation.json", {"requests": requests, "objects": [o.bare for o in objects]})
    runs = {}
    for mode, window in (("on", f"{WINDOW_S:g}s"), ("off", "0")):
        with provider(world.aws.env(), bins, "--revalidate-window", window) as prov:
            rounds = []
            for n in range(ROUNDS + 1):  # round 0 is the cold fill
                started = time.monotonic()
                mark = world.aws.requests.mark()
                result = bins.run("burst", "--socket", str(prov.socket_path), "--workload", str(path), env=world.env())
                calls = world.calls(mark)
                rounds.append({"ok": result["ok"], "failures": result["failures"], "calls": calls,
                               "wall_ms": result["wall_ms"]})  # fmt: skip
                if n < ROUNDS:
                    time.sleep(max(0.0, WINDOW_GAP_S - (time.monotonic() - started)))
        runs[mode] = rounds
        say(f"window {mode}: per round (S3 GET / 304, KMS, STS): "
            f"{[(r['calls']['s3_get'], r['calls']['s3_get_304'], r['calls']['kms_total'], r['calls']['sts']) for r in rounds]}")  # fmt: skip
    on, off = runs["on"][1:], runs["off"][1:]
    bound = ROLES * OBJECTS
    all_ok = all(r["ok"] == PODS for rs in runs.values() for r in rs)
    on_s3 = [r["calls"]["s3_get"] for r in on]
    off_s3 = [r["calls"]["s3_get"] for r in off]
    quiet = all(r["calls"]["kms_total"] == 0 and r["calls"]["sts"] == 0 for r in on + off)
    passed = all_ok and quiet and max(on_s3) <= bound and all(n == PODS * OBJECTS for n in off_s3)
    model = cost_model(runs)
    return Row(
        figure=(
            f"node rotation: {PODS} pods × {OBJECTS} objects × {ROLES} roles re-mounting, {ROUNDS} rounds: "
            "S3 requests per round"
        ),
        measured=f"{max(on_s3)} S3 (most in a round; {on_s3}), 0 KMS, 0 STS",
        baseline=f"{max(off_s3)} S3 per round with --revalidate-window 0",
        target=f"≤ {bound} (roles × objects), 0 KMS, 0 STS",
        passed=passed,
        ratio=max(on_s3) / max(off_s3) if max(off_s3) else None,
        detail={"pods": PODS, "roles": ROLES, "objects": OBJECTS, "window_s": WINDOW_S, "gap_s": WINDOW_GAP_S,
                "rounds": runs, "cost_model": model},  # fmt: skip
    )


def cost_model(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """AWS requests per month and their list price for NODES nodes of the measured node.

    Per node and minute (one round a minute): the measured S3 GETs of a steady round; and every
    CACHE_TTL_MIN minutes each (role, object) is fetched and decrypted again (the cold round's
    KMS count, measured), which replaces one of that minute's conditional GETs by a full one. STS:
    one exchange per pod token per token lifetime (1 h, the kubelet's default for projected
    tokens it renews at 80 %), measured as the cold round's STS count. The AWS provider's pattern
    on driver 1.6: one GetSecretValue per secret per pod per rotation (pods × objects a minute)."""
    per_month = MINUTES_PER_MONTH * NODES
    cold = runs["on"][0]["calls"]
    rows = {}
    for mode in ("on", "off"):
        steady = [r["calls"]["s3_get"] for r in runs[mode][1:]]
        s3_per_min = sorted(steady)[len(steady) // 2]
        kms_per_min = cold["kms_total"] / CACHE_TTL_MIN
        sts_per_min = cold["sts"] / 48  # a token renewed every 48 minutes
        rows[f"keywarden, window {mode}"] = {
            "s3_get": s3_per_min * per_month,
            "kms": kms_per_min * per_month,
            "sts": sts_per_min * per_month,
        }
    rows["AWS provider (driver 1.6)"] = {"secretsmanager": PODS * OBJECTS * per_month}
    priced = {}
    for name, calls in rows.items():
        dollars = {k: n * PRICES[k][0] for k, n in calls.items() if k in PRICES}
        priced[name] = {"requests": calls, "usd": dollars, "usd_total": sum(dollars.values())}
    return {
        "label": "model from measured per-node counts",
        "nodes": NODES,
        "pods_per_node": PODS,
        "objects_per_pod": OBJECTS,
        "roles_per_node": ROLES,
        "minutes_per_month": MINUTES_PER_MONTH,
        "cache_ttl_min": CACHE_TTL_MIN,
        "prices": {k: {"usd_per_request": v[0], "source": v[1]} for k, v in PRICES.items()},
        "sts_note": "STS AssumeRoleWithWebIdentity has no charge",
        "clusters": priced,
    }


def markdown(model: dict[str, Any]) -> list[str]:
    """The model as a table for the report."""
    lines = [
        "",
        f"## Cluster cost model ({model['label']})",
        "",
        f"{model['nodes']:,} nodes × {model['pods_per_node']} pods, {model['objects_per_pod']} objects per pod, "
        f"{model['roles_per_node']} roles per node, one re-Mount round a minute, "
        f"`--cache-ttl` {model['cache_ttl_min']} min; list prices (us-east-1):",
        "",
        *[f"- {p['source']}" for p in model["prices"].values()],
        f"- {model['sts_note']}",
        "",
        "| pattern | S3 GET / month | KMS / month | STS / month | Secrets Manager / month | list price / month |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in model["clusters"].items():
        r = c["requests"]
        cell = lambda k: f"{r[k]:,.0f}" if k in r else "—"  # noqa: E731
        lines.append(f"| {name} | {cell('s3_get')} | {cell('kms')} | {cell('sts')} | {cell('secretsmanager')} | "
                     f"${c['usd_total']:,.0f} |")  # fmt: skip
    return lines
