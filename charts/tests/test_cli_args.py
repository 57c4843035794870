"""The rendered container arguments of both DaemonSets, through the binaries' real parsers.

`keywarden-provider serve ... --check-config` and `keywarden-kms ... --check-config` parse and
validate the whole configuration and exit without binding anything. Both binaries are required:
`make chart-check` builds them, and a missing binary, or one whose --help no longer offers
`--check-config`, fails these tests with the reason (a quiet skip would pass a chart nobody
checked).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import SCENARIOS, Scenario, container, render, rendered

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_BIN = Path(os.environ.get("KEYWARDEN_PROVIDER_BIN", ROOT / "target/debug/keywarden-provider"))
KMS_BIN = Path(os.environ.get("KEYWARDEN_KMS_BIN", ROOT / "target/debug/keywarden-kms"))


def clean_env(container_spec: dict) -> dict[str, str]:
    """The process environment the container would have: no Keywarden or AWS settings leaking
    in from the test runner, plus the container's own literal env values."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEYWARDEN_", "AWS_"))
    }
    for var in container_spec.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
    return env


def help_text(binary: Path, *prefix: str) -> str:
    proc = subprocess.run([str(binary), *prefix, "--help"], capture_output=True, text=True, timeout=30)
    return proc.stdout + proc.stderr


CHECK_CONFIG = "--check-config"


def run_parser(binary: Path, args: list[str], env: dict[str, str], check_flag: str):
    return subprocess.run([str(binary), *args, check_flag], capture_output=True, text=True, env=env, timeout=30)


def checking_parser(binary: Path, package: str, *prefix: str) -> str:
    """The flag that makes `binary` validate its arguments and exit; fails (never skips) when the
    binary is missing or has no such flag."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"{binary} is missing or not executable: `make chart-check` builds it "
                    f"(cargo build -p {package})")
    if CHECK_CONFIG not in help_text(binary, *prefix):
        pytest.fail(f"`{binary.name} {' '.join(prefix)} --help` offers no {CHECK_CONFIG}: the rendered "
                    f"arguments cannot be validated")
    print(f"{package} parser: {binary} {' '.join(prefix)} ... {CHECK_CONFIG}")
    return CHECK_CONFIG


@pytest.fixture(scope="module")
def provider() -> str:
    return checking_parser(PROVIDER_BIN, "keywarden-provider", "serve")


@pytest.fixture(scope="module")
def kms() -> str:
    return checking_parser(KMS_BIN, "keywarden-kms")


def provider_container(r):
    return container(r.one("DaemonSet", "provider"))


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_provider_accepts_rendered_args(provider, name):
    r = rendered(name)
    if name.startswith("full"):
        # full.yaml asks for writeMode provider, checked on its own below.
        r = render(Scenario(name + "-driver", r.scenario.values_files, ("writeMode=driver",), r.scenario.api_versions))
    c = provider_container(r)
    proc = run_parser(PROVIDER_BIN, c["args"], clean_env(c), provider)
    assert proc.returncode == 0, f"{c['args']}\n{proc.stderr}"
    print(f"{name}: {' '.join(c['args'])} -> ok")


def test_provider_accepts_write_mode_provider(provider):
    r = rendered("full")
    c = provider_container(r)
    assert "--write-mode=provider" in c["args"]
    proc = run_parser(PROVIDER_BIN, c["args"], clean_env(c), provider)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("host", "arg"), [
    ("::", "--http-addr=[::]:8989"),
    ("0.0.0.0", "--http-addr=0.0.0.0:8989"),
    ("fd00::2", "--http-addr=[fd00::2]:8989"),
    ("10.1.2.3", "--http-addr=10.1.2.3:8989"),
    ("::1", "--http-addr=[::1]:8989"),
], ids=["dual-stack-default", "ipv4-only", "ipv6-address", "ipv4-address", "ipv6-loopback"])
def test_provider_accepts_every_http_host(provider, host, arg):
    """`http.host` for IPv4-only, IPv6-only and dual-stack nodes, through the real parser."""
    values = () if host == "::" else (f"http.host={host}",)
    r = render(Scenario("http-host-" + host.replace(":", "c").replace(".", "d"), set_values=values))
    c = provider_container(r)
    assert arg in c["args"], c["args"]
    assert sum(a.startswith("--http-addr") for a in c["args"]) == 1
    proc = run_parser(PROVIDER_BIN, c["args"], clean_env(c), provider)
    assert proc.returncode == 0, f"{c['args']}\n{proc.stderr}"
    print(f"http.host={host}: {arg} -> ok")


def test_provider_parser_refuses_a_bracketed_host(provider):
    """The value is the host without brackets: the chart adds them, and the parser refuses
    doubled ones (the schema refuses them first, so this bypasses it with extraArgs)."""
    r = render(Scenario("http-bracketed", set_values=("http.enabled=false", "extraArgs[0]=--http-addr=[[::]]:8989")))
    c = provider_container(r)
    args = [a for a in c["args"] if a != "--http-addr=off"]
    proc = run_parser(PROVIDER_BIN, args, clean_env(c), provider)
    assert proc.returncode == 2, f"{args} was accepted"
    assert "[[::]]:8989" in proc.stderr, proc.stderr


@pytest.mark.parametrize("extra", ["--bogus-flag", "--cache-ttl=soon", "--write-mode=both"])
def test_provider_parser_is_not_a_rubber_stamp(provider, extra):
    r = render(Scenario("bad-" + extra, set_values=(f"extraArgs[0]={extra}",)))
    c = provider_container(r)
    proc = run_parser(PROVIDER_BIN, c["args"], clean_env(c), provider)
    assert proc.returncode == 2, f"{extra} was accepted"
    print(f"{extra}: {proc.stderr.strip()}")


def kms_scenarios():
    return [
        ("full", rendered("full")),
        ("minimal", render(Scenario("kms-min", set_values=("kmsPlugin.enabled=true", "kmsPlugin.key=alias/etcd")))),
    ]


def test_kms_accepts_rendered_args(kms):
    for name, r in kms_scenarios():
        c = container(r.one("DaemonSet", "kms-plugin"))
        proc = run_parser(KMS_BIN, c["args"], clean_env(c), kms)
        assert proc.returncode == 0, f"{name}: {c['args']}\n{proc.stderr}"
        print(f"kms {name}: {' '.join(c['args'])} -> ok")


def test_kms_parser_is_not_a_rubber_stamp(kms):
    r = render(Scenario("kms-bad", set_values=("kmsPlugin.enabled=true", "kmsPlugin.key=alias/etcd",
                                                "kmsPlugin.extraArgs[0]=--bogus-flag")))
    c = container(r.one("DaemonSet", "kms-plugin"))
    proc = run_parser(KMS_BIN, c["args"], clean_env(c), kms)
    assert proc.returncode == 2 and "--bogus-flag" in proc.stderr, f"not refused as a usage error: {proc}"


def _quantity(text: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def flag_default(help_serve: str, flag: str) -> int:
    """The `[default: N]` clap prints in the block of `flag`."""
    block = help_serve.split(f"--{flag} ", 1)[1].split("\n      --", 1)[0]
    return int(block.split("[default: ", 1)[1].split("]", 1)[0])


def test_memory_budget_fits_the_memory_limit(provider) -> None:
    """The chart's memory limit leaves room for what the provider may hold by design: the
    in-flight budget, the plaintext cache at the binary's default, and at least as much again for
    the copies the budget does not see and the process itself (docs/security-model.md)."""
    values = yaml.safe_load((ROOT / "charts/keywarden/values.yaml").read_text())
    limit = _quantity(values["resources"]["limits"]["memory"])
    budget = int(values["maxInflightBytes"])
    help_serve = help_text(PROVIDER_BIN, "serve")
    cache = flag_default(help_serve, "cache-max-bytes")
    print(f"limit {limit >> 20} MiB, in-flight budget {budget >> 20} MiB, cache {cache >> 20} MiB")
    assert limit >= 2 * budget + cache + (32 << 20), "the memory limit leaves no room beside the budget"
    assert budget == flag_default(help_serve, "max-inflight-bytes"), "the chart's maxInflightBytes is the binary's default"


def test_sync_controller_sidecar_example(provider):
    """examples/sync-controller-values.yaml: the Keywarden container the sync controller's chart
    renders verbatim into its pod (`toYaml .Values.providerContainer`), through the real parser,
    on the socket the controller dials, with the audience Keywarden exchanges."""
    from conftest import CHART, EXAMPLES

    values = yaml.safe_load((EXAMPLES / "sync-controller-values.yaml").read_text())
    chart = yaml.safe_load((CHART / "values.yaml").read_text())
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert set(values) <= {"tokenRequestAudience", "providerContainer"}, sorted(values)
    rendered_containers = yaml.safe_load(yaml.safe_dump(values["providerContainer"]))
    [c] = rendered_containers
    assert c["image"] == f"{chart['image']['repository']}:{app_version}"
    assert c["command"] == ["/usr/local/bin/keywarden-provider"] and c["args"][0] == "serve"
    assert "--sync-controller" in c["args"]
    [socket] = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--socket=")]
    # The controller dials <--provider-volume=/provider>/<spec.provider>.sock.
    assert socket == "/provider/keywarden.sock"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"providervol": "/provider"}
    assert values["tokenRequestAudience"] == [{"audience": chart["identity"]["tokenAudience"]}]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    grace = [a for a in c["args"] if a.startswith("--shutdown-grace=")]
    assert grace == ["--shutdown-grace=5s"], "below the controller pod's 10 s termination grace"

    proc = run_parser(PROVIDER_BIN, c["args"], clean_env(c), provider)
    assert proc.returncode == 0, f"{c['args']}\n{proc.stderr}"
    # The parser is not a rubber stamp here either: the controller only reads responses.
    proc = run_parser(PROVIDER_BIN, c["args"] + ["--write-mode=provider"], clean_env(c), provider)
    assert proc.returncode == 2 and "--sync-controller needs --write-mode driver" in proc.stderr, proc.stderr
    print(f"sidecar: {' '.join(c['args'])} -> ok")
