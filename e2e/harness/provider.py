"""The keywarden-provider process under test.

Starts `$KEYWARDEN_PROVIDER_BIN serve` on a unix socket in a temp dir with its
HTTP endpoint on a free loopback port, pointed at the local AWS endpoint with
dummy credentials. It is ready when the socket exists and GET /readyz answers
200; a provider that exits or never gets ready fails with its captured output.

Stopping sends SIGTERM (SIGKILL after a bounded wait) and then checks what the
contract promises for a clean shutdown: exit code 0 and the socket file gone.
stdout and stderr go to a log file beside the socket, so tests can assert on
what was (and was not) logged.
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

BIN_ENV = "KEYWARDEN_PROVIDER_BIN"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class ProviderError(AssertionError):
    """The provider did not start or did not stop as the contract says."""


def provider_binary() -> Path:
    value = os.environ.get(BIN_ENV)
    if not value:
        raise ProviderError(f"{BIN_ENV} is not set (run the suite with `make e2e`)")
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ProviderError(f"{BIN_ENV}={value} is not an executable file (build it with `make build`)")
    return path


@dataclass
class ProviderProcess:
    """One running `keywarden-provider serve`."""

    workdir: Path
    aws_env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    node_identity: bool = True
    binary: Path | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = self.workdir / "keywarden.sock"
        self.log_path = self.workdir / "provider.log"
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.returncode: int | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def argv(self) -> list[str]:
        args = [
            str(self.binary or provider_binary()),
            "serve",
            "--socket",
            str(self.socket_path),
            "--http-addr",
            f"127.0.0.1:{self.http_port}",
            "--region",
            "us-east-1",
            "--s3-force-path-style",
            "--log-format",
            "json",
        ]
        if self.node_identity:
            args.append("--allow-node-identity")
        return args + list(self.extra_args)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
        env.update(self.aws_env)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self) -> ProviderProcess:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        last = "socket not created"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProviderError(
                    f"provider exited with {self.proc.returncode} before it was ready\n"
                    f"argv: {' '.join(self.argv())}\n--- log ---\n{self.log_text()}"
                )
            if self.socket_path.exists():
                status, _ = self.http_get("/readyz", timeout=1.0)
                if status == 200:
                    self.ready = True
                    return self
                last = f"/readyz answered {status}"
            time.sleep(0.05)
        self.kill()
        raise ProviderError(
            f"provider not ready within {START_TIMEOUT}s ({last})\n"
            f"argv: {' '.join(self.argv())}\n--- log ---\n{self.log_text()}"
        )

    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
        """(status, body) of GET path on the provider's HTTP endpoint; status None if unreachable."""
        try:
            with urllib.request.urlopen(f"{self.http_url}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None, ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL without checks (used when start failed)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc else None

    def stop(self, check: bool = True) -> None:
        """SIGTERM, bounded wait, SIGKILL. With check, assert exit 0 and the socket removed."""
        if self.proc is None or not self.ready:
            # Never started, or start() already failed and reported why.
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
                    raise ProviderError(
                        f"provider did not exit within {STOP_TIMEOUT}s of SIGTERM (killed)\n"
                        f"--- log ---\n{self.log_text()}"
                    )
        self.returncode = self.proc.returncode
        if check:
            if self.returncode != 0:
                raise ProviderError(
                    f"provider exited with {self.returncode} after SIGTERM, expected 0\n"
                    f"--- log ---\n{self.log_text()}"
                )
            if os.path.lexists(self.socket_path):
                raise ProviderError(f"provider left its socket {self.socket_path} behind after SIGTERM")

    def __enter__(self) -> ProviderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # A failing body must not be hidden by a failing stop; a passing body is checked.
        self.stop(check=exc[0] is None)
