"""The keywarden-kms process under test.

Runs `$KEYWARDEN_KMS_BIN` as a ServerProcess (harness/process.py: start,
readiness, logs, checked SIGTERM shutdown). What is the plugin's own: its
flags (the key to use, JSON logs) and readiness on GET /livez, since /healthz
and /readyz report KMS health, which a test may want to be bad.
"""

from __future__ import annotations

from dataclasses import dataclass

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
