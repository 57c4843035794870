"""The one-shot `keywarden-provider` commands: `seal` and `check` (docs/reference.md §2.1).

Each runs the real binary against the local AWS endpoint with the same
environment a user would set for one (AWS_* and
KEYWARDEN_S3_FORCE_PATH_STYLE=true, nothing else inherited from AWS_* or
KEYWARDEN_*), with a bounded run time, and returns the finished process with
its stdout and stderr as text.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .provider import ProviderProcess

TIMEOUT = 60.0


@dataclass(frozen=True)
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"`{' '.join(self.argv[1:])}` exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def command_env(aws_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYWARDEN_"))}
    env.update(aws_env)
    env["KEYWARDEN_S3_FORCE_PATH_STYLE"] = "true"
    return env


def run(args: list[str], aws_env: dict[str, str], stdin: bytes | None = None, cwd: Path | None = None) -> Run:
    """`keywarden-provider ARGS...`; never raises on a non-zero exit."""
    argv = [str(ProviderProcess.installed_binary()), *args]
    proc = subprocess.run(
        argv,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=command_env(aws_env),
        cwd=cwd,
        timeout=TIMEOUT,
    )
    return Run(
        argv=argv,
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=proc.stderr.decode("utf-8", "replace"),
    )


def seal(
    aws_env: dict[str, str],
    key: str,
    out: str | Path,
    plaintext: bytes | None = None,
    in_file: str | Path | None = None,
    context: dict[str, str] | None = None,
    namespace: str | None = None,
    sse_kms_key: str | None = None,
) -> Run:
    """`seal --key KEY [--context k=v]... [--namespace NS] --in FILE|- --out OUT`.

    With `plaintext` the secret goes through stdin (`--in -`).
    """
    args = ["seal", "--key", key]
    for k, v in (context or {}).items():
        args += ["--context", f"{k}={v}"]
    if namespace is not None:
        args += ["--namespace", namespace]
    args += ["--in", str(in_file) if in_file is not None else "-", "--out", str(out)]
    if sse_kms_key is not None:
        args += ["--sse-kms-key", sse_kms_key]
    return run(args, aws_env, stdin=plaintext)


def check(
    aws_env: dict[str, str], spc: str | Path, namespace: str | None = None, out: str | Path | None = None
) -> Run:
    """`check --spc FILE [--namespace NS] [--out DIR]`."""
    args = ["check", "--spc", str(spc)]
    if namespace is not None:
        args += ["--namespace", namespace]
    if out is not None:
        args += ["--out", str(out)]
    return run(args, aws_env)
