"""The one-shot `keywarden-provider` commands: `seal` and `check` (docs/reference.md §2.1).

Each runs the real binary against the local AWS endpoint with the same
environment a user would set for one (AWS_* and
KEYWARDEN_S3_FORCE_PATH_STYLE=true, nothing else inherited from AWS_* or
KEYWARDEN_*), with a bounded run time, and returns the finished process with
its stdout and stderr as text.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
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


# Runs argv[2:], then writes its peak RSS (KiB) and exit code to the file argv[1]. A fresh
# interpreter forks it: a child forked straight from the test process would count the test
# process's own memory (the kernel records the RSS of the image an exec replaces). Its address
# space is capped at 4 GiB, so a command that reads without bound fails its allocation instead
# of pushing the shared machine into the OOM killer.
_MEASURE = """
import os, resource, sys
pid = os.fork()
if pid == 0:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(args: list[str], aws_env: dict[str, str], stdin: bytes = b"") -> tuple[Run, int]:
    """`run`, and the command's peak resident memory in bytes, from the kernel's rusage of that
    one process (`wait4`), not from anything the command says about itself. The figure includes
    the small launcher it is forked from (a fresh Python, about 10 MiB)."""
    argv = [str(ProviderProcess.installed_binary()), *args]
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "rusage"
        proc = subprocess.Popen([sys.executable, "-c", _MEASURE, str(result), *argv], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=command_env(aws_env),
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(stdin, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            # The same bound as `run`: the command and its launcher are killed together.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        maxrss_kib, returncode = (int(x) for x in result.read_text().split())
    run_ = Run(argv=argv, returncode=returncode, stdout=stdout.decode("utf-8", "replace"),
               stderr=stderr.decode("utf-8", "replace"))
    return run_, maxrss_kib * 1024


def seal(
    aws_env: dict[str, str],
    key: str,
    out: str | Path,
    plaintext: bytes | None = None,
    in_file: str | Path | None = None,
    context: dict[str, str] | None = None,
    namespace: str | None = None,
    sse_kms_key: str | None = None,
    extra: list[str] | None = None,
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
    return run(args + (extra or []), aws_env, stdin=plaintext)


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
