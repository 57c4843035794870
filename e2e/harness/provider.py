"""The keywarden-provider process under test.

Runs `$KEYWARDEN_PROVIDER_BIN serve` as a ServerProcess (harness/process.py:
start, readiness, logs, checked SIGTERM shutdown). What is the provider's own:
its flags (path-style S3, JSON logs, node identity allowed unless a test says
otherwise) and readiness on GET /readyz.

The suite runs the provider with `--revalidate-window 0` unless a test sets
`revalidate_window` (None: the provider's default) or passes the flag itself: every
re-Mount then sends its conditional request, which is what most rotation and
revocation tests count. e2e/test_revalidate_window.py tests the window.
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
    revalidate_window: str | None = "0"

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
        if self.revalidate_window is not None and "--revalidate-window" not in self.extra_args:
            args += ["--revalidate-window", self.revalidate_window]
        return args + list(self.extra_args)
