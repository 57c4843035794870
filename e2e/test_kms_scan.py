"""`keywarden-kms scan` against a real etcd filled by apiserver stand-ins.

Two apiservers write Secrets under the first key, the alias moves, they write more under the
second; one Secret is stored in plain text (as written before encryption was turned on). The
scan's counts per key are compared with etcd read directly (the EncryptedObject's keyID parsed
here); after the rewrite of every Secret it shows zero under the old key, and the old key can be
dropped. The scan changes nothing: etcd's revision is the same before and after.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections import Counter

from harness.apiserver import ApiServer
from harness.kms_fixtures import (  # noqa: F401
    alias_and_next_key,
    etcd,
    kms_aws,
    kms_seed,
    start_plugin,
)
from harness.kms_plugin import KmsPluginProcess

PREFIX = b"k8s:enc:kms:v2:keywarden:"


def scan(etcd, prefix: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [str(KmsPluginProcess.installed_binary()), "scan", "--etcd-endpoint", etcd.url, "--prefix", prefix, *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def revision(etcd) -> int:
    key = base64.b64encode(b"/").decode()
    return int(etcd._post("/v3/kv/range", {"key": key, "count_only": True})["header"]["revision"])


def counted_directly(etcd, prefix: str, api: ApiServer) -> Counter:
    """Objects per key id, read from etcd without the product."""
    counts: Counter = Counter()
    for value in etcd.items(prefix).values():
        if value.startswith(PREFIX):
            obj = api.pb.storage.EncryptedObject()
            obj.ParseFromString(value[len(PREFIX):])
            counts[obj.keyID] += 1
        else:
            counts["identity"] += 1
    return counts


def scanned(result: subprocess.CompletedProcess[str]) -> Counter:
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return Counter({(c["key_id"] or c["provider"]): c["objects"] for c in report["counts"]})


def test_scan_counts_objects_per_key_and_shows_zero_once_everything_is_rewritten(
    start_plugin, etcd, kms_seed, kms_aws, say
):
    alias, first, second = alias_and_next_key(kms_seed)
    plugin = start_plugin(alias, ["--key-refresh-interval", "1s"])
    plugin.wait_healthy()
    ns = f"/registry/secrets/scan-{uuid.uuid4().hex[:8]}/"
    written: dict[str, bytes] = {}
    apis = [ApiServer(etcd, plugin.socket_path) for _ in range(2)]
    try:
        for i in range(30):
            api = apis[i % 2]
            api.probe()
            written[f"{ns}old-{i}"] = f"old {i}".encode()
            api.write(f"{ns}old-{i}", written[f"{ns}old-{i}"])
        kms_seed.kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
        for api in apis:
            while api.probe() != second["Arn"]:
                pass
        for i in range(20):
            written[f"{ns}new-{i}"] = f"new {i}".encode()
            apis[i % 2].write(f"{ns}new-{i}", written[f"{ns}new-{i}"])
        etcd.put(f"{ns}plain", b'{"kind":"Secret","data":{"a":"b"}}')

        direct = counted_directly(etcd, ns, apis[0])
        before = revision(etcd)
        result = scan(etcd, ns, "--output", "json", "--page-size", "7")
        after = revision(etcd)
        say(f"etcd read directly: {dict(direct)}; scan (pages of 7): {dict(scanned(result))}")
        assert scanned(result) == direct == Counter({first["Arn"]: 30, second["Arn"]: 20, "identity": 1})
        assert before == after, "the scan writes nothing"
        text = scan(etcd, ns)
        say("scan, text output:\n" + text.stdout)
        assert first["Arn"] in text.stdout and text.stdout.rstrip().endswith("51")

        # The rewrite (kubectl replace / storage migration): every object read and written again.
        for path in sorted(etcd.items(ns)):
            if path.endswith("plain"):
                continue
            assert apis[0].read(path) == written[path]
            apis[0].write(path, written[path])
        result = scan(etcd, ns, "--output", "json")
        say(f"after the rewrite: {dict(scanned(result))}: zero under the first key")
        assert first["Arn"] not in scanned(result) and scanned(result)[second["Arn"]] == 50
    finally:
        for api in apis:
            api.close()

    plugin.restart()  # it no longer knows the first key: nothing needs it
    with ApiServer(etcd, plugin.socket_path) as fresh:
        for path, value in written.items():
            assert fresh.read(path) == value
    say("plugin restarted knowing only the new key: every Secret reads")


def test_scan_fails_with_one_line_when_etcd_is_unreachable(say, tmp_path):
    argv = [str(KmsPluginProcess.installed_binary()), "scan", "--etcd-endpoint", "http://127.0.0.1:9", "--timeout", "3s"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    say(f"unreachable etcd: exit {result.returncode}, {result.stderr.strip()!r}")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    bad = subprocess.run([*argv[:2], "--etcd-cert", str(tmp_path / "c.pem")], capture_output=True, text=True, timeout=30)
    say(f"--etcd-cert without --etcd-key: exit {bad.returncode}, {bad.stderr.strip()!r}")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
