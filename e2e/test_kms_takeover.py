"""A DaemonSet surge update of keywarden-kms (the chart's kmsPlugin mode): the new process takes
the socket over while the old one still runs, so the path never answers nothing.

Both processes share the socket path and the admin port, as two pods on one host network do.
A client dials the path afresh for every call and does not wait for it (a missing or dead
socket fails at once), while an apiserver stand-in writes and reads through it; neither may see
a failure while the successor starts, the predecessor gets SIGTERM and exits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import grpc

from harness.apiserver import ApiServer, channel
from harness.checks import wait_until
from harness.kms_fixtures import etcd, key, kms_aws, kms_seed, start_plugin  # noqa: F401
from harness.kms_plugin import KmsPluginProcess
from harness.kms_protos import stubs


def test_a_successor_takes_the_socket_over_without_a_gap(start_plugin, etcd, key, kms_aws, tmp_path, say):
    old = start_plugin(key["Arn"])
    old.wait_healthy()
    path = old.socket_path
    inode = os.stat(path).st_ino
    pb = stubs()
    stop = threading.Event()
    failures: list[str] = []
    calls = {"status": 0, "secrets": 0}

    def dial_every_time() -> None:
        while not stop.is_set():
            with channel(path) as ch:
                try:
                    st = pb.v2_grpc.KeyManagementServiceStub(ch).Status(pb.v2.StatusRequest(), timeout=2)
                    assert st.healthz == "ok", st.healthz
                    calls["status"] += 1
                except (grpc.RpcError, AssertionError) as e:
                    failures.append(f"Status: {e!r}"[:200])
            time.sleep(0.005)

    def apiserver() -> None:
        ns = f"/registry/secrets/takeover-{uuid.uuid4().hex[:8]}/"
        n = 0
        while not stop.is_set():
            try:
                with ApiServer(etcd, path) as api:  # a fresh connection and seed each time
                    api.probe()
                    api.write(f"{ns}{n}", b"v%d" % n)
                    assert api.read(f"{ns}{n}") == b"v%d" % n
                calls["secrets"] += 1
            except (grpc.RpcError, AssertionError) as e:
                failures.append(f"apiserver: {e!r}"[:200])
            n += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (dial_every_time, apiserver)]
    for t in threads:
        t.start()
    new = KmsPluginProcess(tmp_path / "new", kms_aws.env(), key["Arn"], extra_args=["--take-over-socket"], socket=path)
    new.http_port = old.http_port  # one host network: the same admin port
    try:
        time.sleep(1)
        new.start()
        wait_until(lambda: os.stat(path).st_ino != inode or None, 20, "the successor's socket is in place")
        say(f"successor serving on {path.name} while the predecessor still runs (pid {old.proc.pid})")
        time.sleep(1)
        old.signal(signal.SIGTERM)
        code = old.wait_exit(20)
        say(f"predecessor: SIGTERM, exit {code}; socket still there: {path.exists()}")
        assert code == 0 and path.exists()
        wait_until(lambda: "admin port free" in new.log_text() or None, 10, "the successor binds the admin port")
        status, _ = new.http_get("/healthz")
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if failures or not new.alive():
            new.stop(check=False)
    say(f"{calls['status']} Status calls on fresh connections and {calls['secrets']} apiserver write+read rounds "
        f"across the takeover: {len(failures)} failures; successor /healthz {status}")
    assert not failures, "\n".join(failures[:5])
    assert calls["status"] > 50 and calls["secrets"] > 5 and status == 200
    new.stop()
