"""The metrics docs/reference.md §2.9 lists are the ones a running provider exports.

The oracle is the provider's own `/metrics` page after a Mount and a refused Mount, read as
Prometheus text (`# TYPE name type` lines): every family it exports must be in the table, with
the same type, and every family of the table must be exported. A metric added without its row,
or a row left behind by a removed metric, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc

from harness import mounts
from harness.aws import Seeder
from harness.checks import assert_mount_fails
from harness.driver import Driver
from harness.spc import parameters

REFERENCE = Path(__file__).resolve().parents[1] / "docs/reference.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| (counter|gauge|histogram) \|")
TYPE = re.compile(r"^# TYPE ([a-z_]+) (counter|gauge|histogram)$")


def _documented() -> dict[str, str]:
    rows = {m.group(1): m.group(2) for line in REFERENCE.read_text().splitlines() if (m := ROW.match(line))}
    assert len(rows) >= 8, f"the metrics table of {REFERENCE} is gone ({rows})"
    # Prometheus names a counter's family without the `_total` of its samples.
    return {(name.removesuffix("_total") if kind == "counter" else name): kind for name, kind in rows.items()}


def test_the_metrics_table_is_what_the_provider_exports(provider, seed: Seeder, bucket: str, target, say) -> None:
    seed.put(bucket, "metrics/k", b"v")
    with Driver(provider.socket_path) as driver:
        assert driver.mount(parameters([{"objectName": f"s3://{bucket}/metrics/k"}]), target).files["k"].contents == b"v"
        mounts.clear(target)
        assert_mount_fails(driver, parameters([{"objectName": f"s3://{bucket}/metrics/missing"}]), target,
                           grpc.StatusCode.NOT_FOUND, ["not found"], say=say)
    status, text = provider.http_get("/metrics")
    assert status == 200
    exported = {m.group(1): m.group(2) for line in text.splitlines() if (m := TYPE.match(line))}
    documented = _documented()
    say(f"exported families: {sorted(exported)}")
    assert {n: k for n, k in exported.items() if n.startswith("keywarden_provider_")} == {
        n: k for n, k in documented.items() if n.startswith("keywarden_provider_")}
    assert {n: k for n, k in exported.items() if not n.startswith("keywarden_provider_")} == {
        n: k for n, k in documented.items() if not n.startswith("keywarden_provider_")}
