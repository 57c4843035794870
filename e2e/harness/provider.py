"""The keywarden-provider process under test.

Runs `$KEYWARDEN_PROVIDER_BIN serve` as a ServerProcess (harness/process.py:
start, readiness, logs, checked SIGTERM shutdown). What is the provider's own:
its flags (path-style S3, JSON logs, node identity allowed unless a test says
otherwise) and readiness on GET /readyz.
"""

from __future__ import annotations

from dataclasses import dataclass

from .process import ServerProcess


class ProviderError(AssertionError):
    """The provider did not start or did not stop as the contract says."""


@dataclass
class ProviderProcess(ServerProcess):
    """One running `keywarden-provider serve`."""

    name = "provider"
    bin_env = "KEYWARDEN_PROVIDER_BIN"
    error = ProviderError
    socket_name = "keywarden.sock"
    log_name = "provider.log"
    ready_path = "/readyz"

    node_identity: bool = True

    def argv(self) -> list[str]:
        args = [
            str(self.executable()),
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
