"""Every command the docs show, run where it can run here, else linted against the real tool.

Commands come from the shell blocks and the prose (`kubectl describe pod POD`) of README.md,
charts/keywarden/README.md and docs/*.md, and from the `# Setup` comments of the chart's
examples. By program:

- `kubectl`: the pinned kubectl (mk/chart.mk, $KEYWARDEN_KUBECTL). The subcommand must exist
  (`kubectl SUB --help` exits 0) and every flag must be one its help or `kubectl options`
  lists; `kubectl create namespace` runs with `--dry-run=client`. Nothing needs a cluster.
- `helm`: the pinned helm ($KEYWARDEN_HELM). An install or upgrade of this repository's chart is
  rendered with `helm template` and the same flags; one from a repository must follow a
  `helm repo add` of that repository in the same file; every flag must be in `helm SUB --help`.
- `keywarden-provider`, `keywarden-kms`: subcommand and flags against the binaries' `--help`.
  (The seal and the AWS commands of docs/install.md and of the examples are run for real by
  test_docs_examples.py.)
- `aws`: the operation and each option must exist in botocore's model of the service.
- `make`: the target must exist (`make -n`).
- Programs that cannot run here (docker, curl, jq, eksctl) are named in NOT_RUN, so a new one
  fails until someone decides.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.session import get_session

from harness.docs import REPO, blocks, inline_commands, pipe_stages, setup_commands, shell_commands

DOCS = [REPO / "README.md", REPO / "charts/keywarden/README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLES = sorted((REPO / "charts/keywarden/examples").glob("*.yaml"))
NOT_RUN = {"docker", "curl", "jq", "eksctl", "printf"}
HELM_PLUGINS = {"diff"}  # `helm diff` is named as a plugin in docs/upgrade.md


def _tool(env: str) -> str:
    path = os.environ.get(env)
    assert path and Path(path).is_file(), f"${env} must name the pinned binary (make docs-tools)"
    return path


def _binary(name: str) -> str:
    env = {"keywarden-provider": "KEYWARDEN_PROVIDER_BIN", "keywarden-kms": "KEYWARDEN_KMS_BIN"}[name]
    return _tool(env)


def all_commands() -> list[tuple[str, str]]:
    """(where, command) of every command in the docs, pipelines split into their stages."""
    found: list[tuple[str, str]] = []
    for path in DOCS:
        rel = str(path.relative_to(REPO))
        for b in blocks(path):
            if b.lang in ("sh", "bash"):
                found += [(b.where(), c) for c in shell_commands(b.text)]
        found += [(rel, c) for c in inline_commands(path)]
    for path in EXAMPLES:
        found += [(str(path.relative_to(REPO)), c) for c in setup_commands(path)]
    stages = []
    for where, command in found:
        command = re.sub(r"^\w+=\$\((.*)\)$", r"\1", command)
        for stage in pipe_stages(command):
            stages.append((where, stage))
    return stages


COMMANDS = all_commands()


def _ids(prog: str) -> list[tuple[str, str]]:
    return [(w, c) for w, c in COMMANDS if c.split()[0] == prog]


@cache
def _help(tool: str, *sub: str) -> str:
    proc = subprocess.run([tool, *sub, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"`{' '.join([Path(tool).name, *sub])}` is not a command:\n{proc.stderr}"
    return proc.stdout


@cache
def _kubectl_globals(kubectl: str) -> str:
    return subprocess.run([kubectl, "options"], capture_output=True, text=True, timeout=30).stdout


def _flags(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("-") and a not in ("-", "--")]


def _words(argv: list[str], takes_value: set[str]) -> tuple[list[str], list[str]]:
    """(positional words, flags) of an argv; a flag in takes_value consumes the next word."""
    words, flags, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            break
        if a.startswith("-"):
            flags.append(a.split("=", 1)[0])
            if "=" not in a and a in takes_value:
                i += 1
        else:
            words.append(a)
        i += 1
    return words, flags


def _flag_known(flag: str, help_text: str) -> bool:
    if flag.startswith("--"):
        return re.search(rf"(^|[\s,]){re.escape(flag)}([\s=\[,]|$)", help_text, re.M) is not None
    return re.search(rf"(^|\s){re.escape(flag)}(,|\s)", help_text, re.M) is not None


KUBECTL_VALUE_FLAGS = {"-n", "--namespace", "-o", "--output", "-l", "--selector", "-f", "--filename",
                       "--field-selector", "-c", "--container"}


@pytest.mark.parametrize("where,command", _ids("kubectl"), ids=lambda v: v if "/" not in v and ":" not in v else None)
def test_kubectl_command_exists_with_its_flags(where: str, command: str) -> None:
    kubectl = _tool("KEYWARDEN_KUBECTL")
    argv = shlex.split(command)[1:]
    words, flags = _words(argv, KUBECTL_VALUE_FLAGS)
    sub: list[str] = []
    for w in words:  # the longest prefix of words that is a kubectl command
        probe = subprocess.run([kubectl, *sub, w, "--help"], capture_output=True, text=True, timeout=30)
        if probe.returncode != 0 or (sub and w not in probe.stdout.split("Usage:", 1)[-1].split("\n", 2)[1]):
            break
        sub.append(w)
    assert sub, f"{where}: `{command}`: no kubectl subcommand"
    known = _help(kubectl, *sub) + _kubectl_globals(kubectl)
    unknown = [f for f in flags if not _flag_known(f, known)]
    assert not unknown, f"{where}: `{command}`: kubectl {' '.join(sub)} has no flag {unknown}"
    if sub == ["create", "namespace"]:
        run = subprocess.run([kubectl, *argv, "--dry-run=client", "-o", "name"], capture_output=True, text=True,
                             timeout=30)
        assert run.returncode == 0 and run.stdout.strip() == f"namespace/{words[2]}", run.stderr


HELM_VALUE_FLAGS = {"-n", "--namespace", "-f", "--values", "--set", "--version"}


@pytest.mark.parametrize("where,command", _ids("helm"))
def test_helm_command_runs_or_has_its_flags(where: str, command: str, tmp_path: Path) -> None:
    helm = _tool("KEYWARDEN_HELM")
    argv = shlex.split(command)[1:]
    words, flags = _words(argv, HELM_VALUE_FLAGS)
    sub = words[:2] if words[:1] == ["repo"] else words[:1]
    if sub == ["diff"] and "diff" in HELM_PLUGINS:
        return
    known = _help(helm, *sub) + _help(helm)
    unknown = [f for f in flags if not _flag_known(f, known)]
    assert not unknown, f"{where}: `{command}`: helm {' '.join(sub)} has no flag {unknown}"
    if sub[0] in ("install", "upgrade") and len(words) >= 3:
        release, chart = words[1], words[2]
        if chart.startswith("charts/"):
            rest = [a for a in argv if a not in ("upgrade", "install", "--install", "--reuse-values")]
            rest = [a for a in rest if a not in (release, chart)]
            run = subprocess.run([helm, "template", release, chart, *rest], cwd=REPO, capture_output=True, text=True,
                                 timeout=60, env={**os.environ, "HELM_CACHE_HOME": str(tmp_path),
                                                  "HELM_CONFIG_HOME": str(tmp_path), "HELM_DATA_HOME": str(tmp_path)})
            assert run.returncode == 0, f"{where}: `{command}` does not render:\n{run.stderr}"
            assert "kind: DaemonSet" in run.stdout
        else:
            repo = chart.split("/", 1)[0]
            file = where.split(":", 1)[0]
            added = [c for w, c in COMMANDS if w.split(":", 1)[0] == file and c.startswith(f"helm repo add {repo} ")]
            assert added, f"{where}: `{command}` installs from repository {repo!r}, never added with helm repo add"
    if sub == ["lint"]:
        run = subprocess.run([helm, "lint", *argv[1:], "charts/keywarden"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("where,command", _ids("keywarden-provider") + _ids("keywarden-kms"))
def test_keywarden_command_has_its_flags(where: str, command: str) -> None:
    argv = shlex.split(command.replace("…", "x"))
    binary = _binary(argv[0])
    sub = argv[1]
    text = _help(binary, sub)
    unknown = [f for f in _flags(argv[2:]) if not _flag_known(f, text)]
    assert not unknown, f"{where}: `{command}`: {argv[0]} {sub} has no flag {unknown}"


@pytest.mark.parametrize("where,command", _ids("aws"))
def test_aws_command_exists_with_its_options(where: str, command: str) -> None:
    argv = shlex.split(command)
    service = {"s3api": "s3"}.get(argv[1], argv[1])
    if argv[1] == "s3":
        assert argv[2] in ("cp", "ls", "mv", "rm", "sync"), f"{where}: aws s3 {argv[2]}"
        return
    if len(argv) < 3:
        return  # `aws kms encrypt` named in prose
    model = get_session().get_service_model(service)
    ops = {xform_name(o, "-"): o for o in model.operation_names}
    assert argv[2] in ops, f"{where}: `{command}`: aws {argv[1]} has no operation {argv[2]}"
    shape = model.operation_model(ops[argv[2]]).input_shape
    options = {xform_name(m, "-") for m in (shape.members if shape else {})}
    options |= {"region", "query", "output", "cli-input-json", "no-cli-pager"}
    unknown = [f[2:] for f in _flags(argv[3:]) if f[2:] not in options]
    assert not unknown, f"{where}: `{command}`: aws {argv[1]} {argv[2]} has no option {unknown}"


@pytest.mark.parametrize("where,command", _ids("make"))
def test_make_target_exists(where: str, command: str) -> None:
    argv = shlex.split(re.sub(r"\s+#.*$", "", command))
    run = subprocess.run(["make", "-n", *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"{where}: `{command}`:\n{run.stderr}"


def test_every_program_is_run_or_linted() -> None:
    programs = {c.split()[0] for _, c in COMMANDS}
    handled = {"kubectl", "helm", "keywarden-provider", "keywarden-kms", "aws", "make"}
    assert programs - handled <= NOT_RUN, f"commands of programs nobody checks: {programs - handled - NOT_RUN}"


@pytest.mark.parametrize("check,command", [
    (test_kubectl_command_exists_with_its_flags,
     "kubectl -n kube-system logs -l app.kubernetes.io/component=provider --field-selector spec.nodeName=NODE"),
    (test_kubectl_command_exists_with_its_flags, "kubectl get pods --no-such-flag"),
    (test_kubectl_command_exists_with_its_flags, "kubectl frobnicate pods"),
    (test_helm_command_runs_or_has_its_flags,
     "helm install csi-secrets-store secrets-store-csi-driver/secrets-store-csi-driver -n kube-system"),
    (test_helm_command_runs_or_has_its_flags, "helm install keywarden charts/keywarden --set identity=oops"),
    (test_keywarden_command_has_its_flags, "keywarden-provider seal --no-such-flag x"),
    (test_aws_command_exists_with_its_options, "aws kms encrypt --key-id k --no-such-option x"),
])
def test_the_checks_refuse_a_broken_command(check, command: str, tmp_path: Path) -> None:
    """Controls: the commands the issue found broken (and a few made-up ones) fail these checks."""
    kw = {"tmp_path": tmp_path} if check is test_helm_command_runs_or_has_its_flags else {}
    with pytest.raises(AssertionError):
        check("nowhere.md:1", command, **kw)
