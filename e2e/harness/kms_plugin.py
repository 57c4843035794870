"""The keywarden-kms process under test.

Runs `$KEYWARDEN_KMS_BIN` as a ServerProcess (harness/process.py: start,
readiness, logs, checked SIGTERM shutdown). What is the plugin's own: its
flags (the key to use, JSON logs) and readiness on GET /livez, since /healthz
and /readyz report KMS health, which a test may want to be bad.

Every start signs its AWS requests with an access key id of its own
(`access_key`; moto accepts any), so the endpoint's request log tells this
run's KMS calls from those of other plugins, of an earlier run of the same
plugin and of the suite's seeding clients (`calls()`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Self

from .aws import Request, RequestLog
from .process import ServerProcess


class PluginError(AssertionError):
    """The plugin did not start or did not stop as the contract says."""


@dataclass
class KmsPluginProcess(ServerProcess):
    """One running `keywarden-kms`."""

    name = "keywarden-kms"
    bin_env = "KEYWARDEN_KMS_BIN"
    error = PluginError
    socket_name = "kms.sock"
    log_name = "kms.log"
    ready_path = "/livez"

    key: str

    def __post_init__(self) -> None:
        super().__post_init__()
        self.access_key = ""  # this run's; a new one at every start
        self.access_keys: list[str] = []  # every run's, oldest first
        self.pids: list[int] = []

    def start(self) -> Self:
        self.access_key = f"KWKMS{uuid.uuid4().hex[:15].upper()}"
        self.access_keys.append(self.access_key)
        try:
            return super().start()
        finally:
            if self.proc is not None:
                self.pids.append(self.proc.pid)

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.access_key:
            env["AWS_ACCESS_KEY_ID"] = self.access_key
        return env

    def requests(self, log: RequestLog, mark: int = 0) -> list[Request]:
        """This run's requests to the endpoint whose log is `log`, since mark."""
        return log.by(self.access_key, mark)

    def calls(self, log: RequestLog, mark: int = 0) -> dict[str, int]:
        """This run's KMS calls by operation (every operation) since mark."""
        return dict(Counter(r.operation for r in self.requests(log, mark) if r.service == "kms"))

    def argv(self) -> list[str]:
        return [
            str(self.executable()),
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
