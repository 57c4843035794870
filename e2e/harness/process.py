"""A project binary running as a server under test, and what its clean shutdown promises.

keywarden-provider and keywarden-kms are run the same way: the binary named
by an environment variable, on a unix socket in a work dir, with its HTTP
endpoint on a free loopback port, pointed at the local AWS endpoint with dummy
credentials. stdout and stderr go to a log file beside the socket, so tests
can assert on what was (and was not) logged. A process is ready when the
socket exists and GET `ready_path` answers 200; one that exits or never gets
ready fails with its argv and its log.

Stopping sends SIGTERM (SIGKILL after a bounded wait) and then checks what a
clean shutdown promises: exit code 0 and the socket file gone.

`ServerProcess` holds all of that; a subclass gives only what differs: its
argv, its readiness path, its error class and the names in messages and files.
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
from typing import ClassVar, Self

from .net import free_port


def binary_from_env(var: str, error: type[AssertionError] = AssertionError) -> Path:
    """The executable named by $var (set by `make e2e`), or `error` saying what is wrong."""
    value = os.environ.get(var)
    if not value:
        raise error(f"{var} is not set (run the suite with `make e2e`)")
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise error(f"{var}={value} is not an executable file (`make e2e` builds or unpacks it)")
    return path


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM a helper process (etcd, a second moto, ...), and SIGKILL it after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class ServerProcess:
    """One running server binary; see the subclasses for what each one is."""

    name: ClassVar[str]  # in messages: "<name> exited with 1 ..."
    bin_env: ClassVar[str]  # the environment variable naming the binary
    error: ClassVar[type[AssertionError]]  # raised when start or stop breaks the contract
    socket_name: ClassVar[str]
    log_name: ClassVar[str]
    ready_path: ClassVar[str]  # GET answers 200 once the process is ready
    start_timeout: ClassVar[float] = 20.0
    stop_timeout: ClassVar[float] = 10.0

    workdir: Path
    aws_env: dict[str, str]
    extra_args: list[str] = field(default_factory=list, kw_only=True)
    binary: Path | None = field(default=None, kw_only=True)  # instead of $bin_env
    socket: Path | None = field(default=None, kw_only=True)  # instead of workdir/socket_name

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = self.socket or self.workdir / self.socket_name
        self.log_path = self.workdir / self.log_name
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False
        self.returncode: int | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @classmethod
    def installed_binary(cls) -> Path:
        """The binary named by $bin_env."""
        return binary_from_env(cls.bin_env, cls.error)

    def executable(self) -> Path:
        return self.binary or self.installed_binary()

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The suite's environment without AWS or Keywarden settings, plus aws_env."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
        env.update(self.aws_env)
        env.setdefault("RUST_BACKTRACE", "1")
        return env

    def start(self) -> Self:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.workdir,
            )
        deadline = time.monotonic() + self.start_timeout
        last = "socket not created"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.error(
                    f"{self.name} exited with {self.proc.returncode} before it was ready\n"
                    f"argv: {' '.join(self.argv())}\n--- log ---\n{self.log_text()}"
                )
            if self.socket_path.exists():
                status, _ = self.http_get(self.ready_path, timeout=1.0)
                if status == 200:
                    self.ready = True
                    return self
                last = f"{self.ready_path} answered {status}"
            time.sleep(0.05)
        self.kill()
        raise self.error(
            f"{self.name} not ready within {self.start_timeout}s ({last})\n"
            f"argv: {' '.join(self.argv())}\n--- log ---\n{self.log_text()}"
        )

    def wait_healthy(self, timeout: float = 15.0) -> str:
        """Wait for /healthz 200; returns the body. Fails with the last answer otherwise."""
        deadline = time.monotonic() + timeout
        status, body = None, ""
        while time.monotonic() < deadline:
            status, body = self.http_get("/healthz", timeout=1.0)
            if status == 200:
                return body
            time.sleep(0.05)
        raise self.error(f"/healthz not 200 within {timeout}s: {status} {body!r}\n--- log ---\n{self.log_text()}")

    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int | None, str]:
        """(status, body) of GET path on the process's HTTP endpoint; status None if unreachable."""
        try:
            with urllib.request.urlopen(f"{self.http_url}{path}", timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return None, ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the /metrics samples of `name` whose labels include `labels` (0 when absent)."""
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
        """SIGKILL without checks, as a crash would end it: the socket file stays behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc else None
        self.ready = False

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` and return at once; a later stop() still checks how the process ended."""
        assert self.proc is not None, f"{self.name} was never started"
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, once the process has exited (within `timeout`, else the error)."""
        assert self.proc is not None, f"{self.name} was never started"
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.error(f"{self.name} still running {timeout}s later\n--- log ---\n{self.log_text()}") from None

    def stop(self, check: bool = True) -> None:
        """SIGTERM, bounded wait, SIGKILL. With check, assert exit 0 and the socket removed."""
        if self.proc is None or not self.ready:
            # Never started, already stopped, or start() failed and reported why.
            self.kill()
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    raise self.error(
                        f"{self.name} did not exit within {self.stop_timeout}s of SIGTERM (killed)\n"
                        f"--- log ---\n{self.log_text()}"
                    )
        self.returncode = self.proc.returncode
        self.ready = False
        if check:
            if self.returncode != 0:
                raise self.error(
                    f"{self.name} exited with {self.returncode} after SIGTERM, expected 0\n"
                    f"--- log ---\n{self.log_text()}"
                )
            if os.path.lexists(self.socket_path):
                raise self.error(f"{self.name} left its socket {self.socket_path} behind after SIGTERM")

    def restart(self) -> Self:
        """Stop (checked) and start again on the same socket and flags."""
        self.stop(check=True)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # A failing body must not be hidden by a failing stop; a passing body is checked.
        self.stop(check=exc[0] is None)
