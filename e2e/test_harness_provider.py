"""Self-test of the provider process fixture, against stand-in programs.

The fixture must refuse a process that never gets ready or dies at start (with
its output in the error), and at stop must catch a non-zero exit or a socket
left behind. Small Python programs play the provider here.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from harness.provider import ProviderError, ProviderProcess

FAKE = textwrap.dedent(
    """
    import http.server, os, signal, socket, sys, threading
    args = sys.argv[1:]
    sock_path = args[args.index("--socket") + 1]
    host, port = args[args.index("--http-addr") + 1].rsplit(":", 1)
    mode = os.environ["FAKE_MODE"]
    if mode == "crash":
        print("fatal: bad flag --nope", flush=True)
        sys.exit(2)
    s = socket.socket(socket.AF_UNIX); s.bind(sock_path); s.listen()
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503 if mode == "never-ready" else 200); self.end_headers()
        def log_message(self, *a): pass
    srv = http.server.HTTPServer((host, int(port)), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    def term(*_):
        if mode != "leave-socket":
            os.unlink(sock_path)
        os._exit(3 if mode == "bad-exit" else 0)
    signal.signal(signal.SIGTERM, term)
    print('{"level":"INFO","msg":"ready"}', flush=True)
    signal.pause()
    """
)


def _fake(tmp: Path, mode: str, monkeypatch) -> ProviderProcess:
    script = tmp / "fake.py"
    script.write_text(FAKE)
    wrapper = tmp / "fake-provider"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    wrapper.chmod(0o755)
    workdir = tmp / "w"
    return ProviderProcess(workdir=workdir, aws_env={"FAKE_MODE": mode}, binary=wrapper)


def test_good_process_starts_and_stops_cleanly(tmp_path, monkeypatch) -> None:
    p = _fake(tmp_path, "good", monkeypatch).start()
    assert p.socket_path.exists() and p.alive()
    assert "--allow-node-identity" in p.argv() and "--s3-force-path-style" in p.argv()
    p.stop(check=True)
    assert p.returncode == 0 and not p.socket_path.exists()
    assert '"msg":"ready"' in p.log_text()


def test_crash_at_start_reports_output(tmp_path, monkeypatch) -> None:
    with pytest.raises(ProviderError, match="bad flag --nope"):
        _fake(tmp_path, "crash", monkeypatch).start()


def test_never_ready_times_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ProviderProcess, "start_timeout", 1.0)
    p = _fake(tmp_path, "never-ready", monkeypatch)
    with pytest.raises(ProviderError, match="/readyz answered 503"):
        p.start()
    assert not p.alive()


@pytest.mark.parametrize("mode,why", [("leave-socket", "left its socket"), ("bad-exit", "exited with 3")])
def test_unclean_stop_is_caught(tmp_path, monkeypatch, mode: str, why: str) -> None:
    p = _fake(tmp_path, mode, monkeypatch).start()
    with pytest.raises(ProviderError, match=why):
        p.stop(check=True)
    assert not p.alive()
