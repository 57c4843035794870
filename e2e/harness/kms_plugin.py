"""The keywarden-kms process under test.

Starts `$KEYWARDEN_KMS_BIN` on a unix socket in a temp dir with its HTTP
endpoint on a free loopback port, pointed at a local AWS endpoint with dummy
credentials. It is ready when the socket exists and GET /livez answers 200
(/healthz and /readyz report KMS health, which a test may want to be bad).

Stopping sends SIGTERM (SIGKILL after a bounded wait) and then checks what a
clean shutdown promises: exit code 0 and the socket file gone. Output goes to
a log file beside the socket so tests can assert on what was logged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .net import free_port

BIN_ENV = "KEYWARDEN_KMS_BIN"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class PluginError(AssertionError):
    """The plugin did not start or did not stop as the contract says."""


def plugin_binary() -> Path:
    value = os.environ.get(BIN_ENV)
    if not value:
        raise PluginError(f"{BIN_ENV} is not set (run the suite with `make e2e`)")
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise PluginError(f"{BIN_ENV}={value} is not an executable file (build it with `make build`)")
    return path


@dataclass
class KmsPluginProcess:
    """One running `keywarden-kms`."""

    workdir: Path
    aws_env: dict[str, str]
    key: str
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = self.workdir / "kms.sock"
        self.log_path = self.workdir / "kms.log"
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.returncode: int | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def argv(self) -> list[str]:
        return [
            str(plugin_binary()),
            "--socket",
            str(self.socket_path),
            "--key",
            self.key,
            "--http-addr",
            f"127.0.0.1:{self.http_port}",
            "--region",
            "us-east-1",
            "--log-format",
            "json",
            *self.extra_args,
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
        env.update(self.aws_env)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self) -> KmsPluginProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        last = "socket not created"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PluginError(
                    f"keywarden-kms exited with {self.proc.returncode} before it was ready\n"
                    f"argv: {' '.join(self.argv())}\n--- log ---\n{self.log_text()}"
                )
            if self.socket_path.exists():
                status, _ = self.http_get("/livez", timeout=1.0)
                if status == 200:
                    self.ready = True
                    return self
                last = f"/livez answered {status}"
            time.sleep(0.05)
        self.kill()
        raise PluginError(f"keywarden-kms not ready within {START_TIMEOUT}s ({last})\n--- log ---\n{self.log_text()}")

    def wait_healthy(self, timeout: float = 15.0) -> str:
        """Wait for /healthz 200; returns the body. Fails with the last answer otherwise."""
        deadline = time.monotonic() + timeout
        status, body = None, ""
        while time.monotonic() < deadline:
            status, body = self.http_get("/healthz", timeout=1.0)
            if status == 200:
                return body
            time.sleep(0.05)
        raise PluginError(f"/healthz not 200 within {timeout}s: {status} {body!r}\n--- log ---\n{self.log_text()}")

    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
        """(status, body) of GET path on the plugin's HTTP endpoint; status None if unreachable."""
        try:
            with urllib.request.urlopen(f"{self.http_url}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None, ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
        _, body = self.http_get("/metrics")
        total = 0.0
        for line in body.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric, _, label_text = head.partition("{")
            if metric != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL without checks."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc else None

    def stop(self, check: bool = True) -> None:
        """SIGTERM, bounded wait, SIGKILL. With check, assert exit 0 and the socket removed."""
        if self.proc is None or not self.ready:
            self.kill()
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise PluginError(f"keywarden-kms ignored SIGTERM for {STOP_TIMEOUT}s\n{self.log_text()}")
        self.returncode = self.proc.returncode
        self.ready = False
        if check:
            if self.returncode != 0:
                raise PluginError(f"keywarden-kms exited with {self.returncode} after SIGTERM\n{self.log_text()}")
            if os.path.lexists(self.socket_path):
                raise PluginError(f"keywarden-kms left its socket {self.socket_path} behind")

    def restart(self) -> KmsPluginProcess:
        """Stop (checked) and start again on the same socket and flags."""
        self.stop(check=True)
        return self.start()
